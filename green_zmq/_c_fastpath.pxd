# The compiled twin of green_zmq/_fastpath.py: Cython compiles that very
# file as the module green_zmq._c_fastpath, with the types below (gevent's
# way: a .pxd beside a .py). What only the compiled module does is here
# too: the NOBLOCK attempts of the common cases (bytes, copied) straight
# into libzmq, through the entry points of the libzmq that pyzmq loaded
# (design.md, "The compiled fast path"). Everything else, and every error,
# stays pyzmq's: a call that libzmq does not complete goes to pyzmq's own
# method, which makes it again and raises what pyzmq raises.

cimport cython
from libc.errno cimport EAGAIN
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_CheckSignals
from cpython.object cimport PyObject_GenericGetAttr

cdef extern from *:
    """
    #include <dlfcn.h>
    #include <link.h>
    #include <string.h>

    /* A libzmq message as zmq.h lays it out: 64 opaque bytes, aligned to a pointer. */
    typedef struct { unsigned char _[64]; } __attribute__((aligned(sizeof(void *)))) gz_msg_t;

    static int (*gz_send)(void *, const void *, size_t, int);
    static int (*gz_msg_init)(gz_msg_t *);
    static int (*gz_msg_recv)(gz_msg_t *, void *, int);
    static int (*gz_msg_send)(gz_msg_t *, void *, int);
    static int (*gz_msg_close)(gz_msg_t *);
    static void *(*gz_msg_data)(gz_msg_t *);
    static size_t (*gz_msg_size)(const gz_msg_t *);
    static int (*gz_msg_more)(const gz_msg_t *);
    static int (*gz_errno)(void);
    static int (*gz_getsockopt)(void *, int, void *, size_t *);
    static void (*gz_version)(int *, int *, int *);

    /* Where the resolved entry points live, and how many loaded objects look like libzmq. */
    static char gz_library[4096];
    static int gz_copies;

    static int gz_count_copies(struct dl_phdr_info *info, size_t size, void *data) {
        const char *name = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
        name = name ? name + 1 : info->dlpi_name;
        if (name && strncmp(name, "libzmq", 6) == 0) gz_copies++;
        return 0;
    }

    /* Resolve libzmq's entry points as pyzmq's extension module (at
       extension_path, loaded already) resolves them: through its own
       handle, so from the libzmq it is linked with, whatever that file is
       called. NULL on success, else why not. */
    static const char *gz_load(const char *extension_path) {
        void *handle = dlopen(extension_path, RTLD_NOW | RTLD_NOLOAD);
        Dl_info info;
        if (!handle) return "pyzmq's extension module is not loaded";
        #define GZ_RESOLVE(var, name) \\
            *(void **)(&var) = dlsym(handle, name); \\
            if (!var) { dlclose(handle); return "libzmq's " name " not found through pyzmq"; }
        GZ_RESOLVE(gz_send, "zmq_send")
        GZ_RESOLVE(gz_msg_init, "zmq_msg_init")
        GZ_RESOLVE(gz_msg_recv, "zmq_msg_recv")
        GZ_RESOLVE(gz_msg_send, "zmq_msg_send")
        GZ_RESOLVE(gz_msg_close, "zmq_msg_close")
        GZ_RESOLVE(gz_msg_data, "zmq_msg_data")
        GZ_RESOLVE(gz_msg_size, "zmq_msg_size")
        GZ_RESOLVE(gz_msg_more, "zmq_msg_more")
        GZ_RESOLVE(gz_errno, "zmq_errno")
        GZ_RESOLVE(gz_getsockopt, "zmq_getsockopt")
        GZ_RESOLVE(gz_version, "zmq_version")
        #undef GZ_RESOLVE
        /* The handle only found the library; pyzmq keeps it loaded. */
        dlclose(handle);
        if (!dladdr(*(void **)(&gz_send), &info) || !info.dli_fname)
            return "cannot tell which library libzmq's zmq_send is in";
        strncpy(gz_library, info.dli_fname, sizeof(gz_library) - 1);
        gz_copies = 0;
        dl_iterate_phdr(gz_count_copies, NULL);
        return NULL;
    }
    """
    ctypedef struct gz_msg_t:
        pass
    const char *gz_load(const char *) nogil
    int gz_send(void *, const void *, size_t, int) nogil
    int gz_msg_init(gz_msg_t *) nogil
    int gz_msg_recv(gz_msg_t *, void *, int) nogil
    int gz_msg_send(gz_msg_t *, void *, int) nogil
    int gz_msg_close(gz_msg_t *) nogil
    void *gz_msg_data(gz_msg_t *) nogil
    size_t gz_msg_size(const gz_msg_t *) nogil
    int gz_msg_more(const gz_msg_t *) nogil
    int gz_errno() nogil
    int gz_getsockopt(void *, int, void *, size_t *) nogil
    void gz_version(int *, int *, int *) nogil
    char gz_library[4096]
    int gz_copies


# pyzmq's own Cython methods, set by the module (the attempts' fallback).
cdef object _base_send, _base_recv, _base_get


cdef class FastPath:
    cdef public object state
    cdef public object timeouts
    cdef public int ask_events
    cdef public object type_mask
    cdef public int arms
    cdef public bint continuing
    # The address of the libzmq socket, 0 once this object closed it.
    cdef public size_t handle



# pyzmq's Socket defines __getattr__, so each attribute read through the
# socket's type looks up __getattribute__ and __getattr__ first. The two
# that every call reads are plain attributes (ours in the instance dict,
# pyzmq's a property), and the generic lookup finds them for about a third
# of the instructions.

cdef inline FastPath fast_of(object sock):
    """``sock._fast``, read without the __getattr__ hook."""
    return <FastPath?>PyObject_GenericGetAttr(sock, "_fast")


cdef inline bint is_closed(object sock) except -1:
    """``sock._closed``, read without the __getattr__ hook."""
    return PyObject_GenericGetAttr(sock, "_closed") is True


cdef inline object send_bytes(FastPath fast, object sock, bytes data, int flags):
    """pyzmq's NOBLOCK send of ``data`` (bytes, copied), straight into libzmq."""
    cdef size_t handle = fast.handle
    cdef int rc
    if handle and not is_closed(sock):
        rc = gz_send(<void *>handle, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), flags)
        if rc >= 0:
            # pyzmq runs the signal handlers after every call, as here.
            PyErr_CheckSignals()
            return None
    # Closed, would block, or failed: pyzmq's own call, made again, says
    # (and raises) what pyzmq says.
    return _base_send(sock, data, flags, True, False)


cdef inline object recv_bytes(FastPath fast, object sock, int flags):
    """pyzmq's NOBLOCK recv of a copied frame, straight from libzmq."""
    cdef size_t handle = fast.handle
    cdef gz_msg_t msg
    cdef int rc
    cdef object frame
    if handle and not is_closed(sock):
        gz_msg_init(&msg)
        rc = gz_msg_recv(&msg, <void *>handle, flags)
        if rc >= 0:
            frame = PyBytes_FromStringAndSize(<char *>gz_msg_data(&msg), gz_msg_size(&msg))
            gz_msg_close(&msg)
            PyErr_CheckSignals()
            return frame
        gz_msg_close(&msg)
    return _base_recv(sock, flags, True, False)


cdef inline object events_read(object sock, size_t handle):
    """EVENTS, straight from libzmq (pyzmq's getsockopt builds an enum)."""
    cdef int events = 0
    cdef size_t size = sizeof(int)
    if handle and not is_closed(sock):
        if gz_getsockopt(<void *>handle, 15, &events, &size) == 0:  # ZMQ_EVENTS
            return events
    return _base_get(sock, 15)


cdef inline tuple pump(object src, object dst, Py_ssize_t limit):
    """Up to ``limit`` whole messages from ``src`` to ``dst``, NOBLOCK, in C (see move_messages).

    Each frame goes as libzmq received it, its payload never copied nor
    made a Python object. Returns (messages, frames, bytes, in_hand):
    in_hand is None when the source ran dry or the limit was reached;
    otherwise some call failed, and in_hand is what Python must finish
    with pyzmq's own calls, which say (and raise) what pyzmq says: the
    message's frames received but not sent (as bytes), whether more of it
    is still to be read, and how many of its frames were sent already
    (those are counted in the figures returned).
    """
    cdef void *source
    cdef void *destination
    cdef gz_msg_t msg
    cdef Py_ssize_t moved = 0, frames = 0, size = 0, sent
    cdef size_t length
    cdef int more
    cdef object frame
    if is_closed(src) or is_closed(dst):
        return (0, 0, 0, ([], True, 0))
    source = <void *><size_t>PyObject_GenericGetAttr(src, "underlying")
    destination = <void *><size_t>PyObject_GenericGetAttr(dst, "underlying")
    # No Python code runs in this loop (signal handlers run at its end), so
    # neither socket can be closed under it.
    while moved < limit:
        sent = 0
        more = 1
        while more:
            gz_msg_init(&msg)
            if gz_msg_recv(&msg, source, 1) < 0:  # ZMQ_DONTWAIT
                gz_msg_close(&msg)
                if sent == 0 and gz_errno() == EAGAIN:
                    PyErr_CheckSignals()
                    return (moved, frames, size, None)
                return (moved, frames, size, ([], True, sent))
            more = gz_msg_more(&msg)
            length = gz_msg_size(&msg)
            if gz_msg_send(&msg, destination, 3 if more else 1) < 0:  # | ZMQ_SNDMORE
                frame = PyBytes_FromStringAndSize(<char *>gz_msg_data(&msg), length)
                gz_msg_close(&msg)
                return (moved, frames, size, ([frame], more != 0, sent))
            # A message that was sent is empty: closing it only frees nothing.
            gz_msg_close(&msg)
            frames += 1
            size += length
            sent += 1
        moved += 1
    PyErr_CheckSignals()
    return (moved, frames, size, None)


cdef inline tuple libzmq_found(str extension_path):
    """(why not, or None; libzmq's version; the file its entry points are in; libzmq copies loaded)."""
    cdef bytes path = extension_path.encode()
    cdef const char *why = gz_load(path)
    cdef int major = 0, minor = 0, patch = 0
    if why != NULL:
        return (why.decode(), None, None, 0)
    gz_version(&major, &minor, &patch)
    return (None, (major, minor, patch), gz_library.decode(errors="replace"), gz_copies)


cdef inline bint more_to_come(FastPath fast, object sock) except -1:
    """RCVMORE of the socket, straight from libzmq (pyzmq's getsockopt builds an enum)."""
    cdef size_t handle = fast.handle
    cdef int more = 0
    cdef size_t size = sizeof(int)
    if handle and not is_closed(sock):
        if gz_getsockopt(<void *>handle, 13, &more, &size) == 0:  # ZMQ_RCVMORE
            return more != 0
    return bool(_base_get(sock, 13))


# The hot functions of _fastpath.py, as C functions (with Python wrappers
# where the module exports them), their FastPath local typed: its fields
# are then read from the struct, not looked up as attributes.

@cython.locals(fast=FastPath)
cpdef object send(object sock, object data, object flags=*, object copy=*, object track=*,
                  object routing_id=*, object group=*)

cpdef object events_of(object sock, size_t handle)

@cython.locals(fast=FastPath)
cpdef object recv(object sock, object flags=*, object copy=*, object track=*)

@cython.locals(fast=FastPath)
cpdef object send_multipart(object sock, object msg_parts, object flags, object copy, object track)

@cython.locals(fast=FastPath)
cpdef object recv_multipart(object sock, object flags, object copy, object track)

cdef object _send_rest(FastPath fast, object sock, object part, object flags, object copy,
                       object track)

cdef object _recv_rest(FastPath fast, object sock, object flags, object copy, object track)
