"""Make programs that import ``zmq.green`` (or plain ``zmq``) use green_zmq, unedited.

:func:`patch` does for ZeroMQ what :mod:`gevent.monkey` does for the
standard library: it replaces attributes of pyzmq's modules in place, so
that code which says ``import zmq.green as zmq`` (or, with ``zmq=True``,
``import zmq``) gets green_zmq's Context, Socket, Poller, select, device,
proxy, proxy_steerable, IOLoop and ZMQStream, whether it was imported
before or after the patch. :func:`is_patched` says what has been patched.

Every entry point names what to patch by the module made green:
``"zmq.green"`` (always), or ``"zmq"`` (plain ``zmq`` too)::

    zmq.green                           zmq (and zmq.green)
    patch()                             patch(zmq=True)
    is_patched("zmq.green")             is_patched("zmq")
    python -m green_zmq.monkey ...      python -m green_zmq.monkey --zmq ...
    GREEN_ZMQ_MONKEY=zmq.green          GREEN_ZMQ_MONKEY=zmq
    patch_all(green_zmq="zmq.green")    patch_all(green_zmq="zmq")

(green_zmq 0.1.0's ``GREEN_ZMQ_MONKEY=green`` and
``patch_all(green_zmq=True)`` still mean ``"zmq.green"``.)

As a program::

    python -m green_zmq.monkey [--zmq] [GEVENT OPTIONS] SCRIPT [ARGS...]
    python -m green_zmq.monkey [--zmq] [GEVENT OPTIONS] -m MODULE [ARGS...]

runs ``gevent.monkey.patch_all()`` (with ``python -m gevent.monkey``'s
patch options: ``--no-thread``, ...), then :func:`patch`, then the script
or module as ``__main__``. It also sets ``GREEN_ZMQ_MONKEY`` (the target,
then the gevent options) in the environment, so that Python child
processes (``sys.executable ...``, multiprocessing's spawn) patch
themselves the same way at startup, through the ``green_zmq-monkey.pth``
hook installed with the package; without that variable the hook does
nothing. ``gevent.monkey.patch_all(green_zmq="zmq.green")`` (or ``"zmq"``)
patches too, through gevent's plugin events (the hook is
``_green_zmq_gevent_plugin``, outside this package, so that a
``patch_all()`` that does not ask imports nothing of green_zmq).

Notes on the approach
---------------------

gevent patches module attributes, and so do we. Code that looks a name up
at call time (``zmq.green.Context()``, ``zmq.Socket(...)``) sees the green
object; a name bound earlier with ``from zmq.green import Context`` is a
copy we cannot reach.

Making plain ``zmq`` green must not change what pyzmq's own machinery
means by ``zmq.Socket``: ``isinstance(x, zmq.Socket)`` inside pyzmq
(shadowing, ``zmq.asyncio``'s Poller) and inside green_zmq (telling a
pyzmq socket from a raw fd) must go on accepting every pyzmq socket, and
``zmq.asyncio`` must go on subclassing plain pyzmq. So, before replacing
anything, the patch imports the pyzmq modules that subclass or test
against pyzmq's classes, and points their ``zmq`` global at a view of
pyzmq as it was (:class:`_PlainZmq`); everybody else's ``zmq`` is the
patched one. Plain contexts made before the patch stay plain, and make
green sockets from then on. The green Context, Socket and Poller then
stand in for pyzmq's in isinstance() (``_stand_in``), so that every pyzmq
object is a ``zmq.Socket`` (...) as in plain pyzmq, and pyzmq's class and
its thread devices hand out green_zmq's ``Context.instance()``::

    patch()          -> zmq.green.* and zmq.green.eventloop.* green
    patch(zmq=True)  -> the above, and zmq.*, zmq.devices' proxy, plain
                        contexts' socket class, one Context.instance(),
                        zmq.auth.thread's ThreadAuthenticator; pyzmq
                        internals see _PlainZmq

Until :func:`patch` runs, this module imports nothing but the standard
library (importing it imports the green_zmq package, and so pyzmq).
"""

from __future__ import annotations

import functools
import os
import sys
import types
from importlib.util import find_spec
from typing import Any, NoReturn

__all__ = ["ENVIRONMENT_VARIABLE", "is_patched", "main", "patch"]

#: Read by the startup hook of every Python process: ``TARGET [GEVENT
#: OPTIONS...]`` runs ``gevent.monkey.patch_all()`` as the options say
#: (``--no-thread``, ...), then :func:`patch` for TARGET, ``zmq.green`` or
#: ``zmq``. :func:`main` sets it for the program's child processes.
ENVIRONMENT_VARIABLE = "GREEN_ZMQ_MONKEY"

# What can be patched, as every entry point names it.
_TARGETS = ("zmq.green", "zmq")
_patched: set[str] = set()

# The pyzmq modules that must keep seeing plain pyzmq (see the notes above),
# by module and global name.
_PLAIN_VIEWS = {
    "zmq.sugar.socket": "zmq",
    "zmq.sugar.context": "zmq",
    "zmq._future": "_zmq",
}

# pyzmq's green modules, and the green_zmq module whose public names they get.
_GREEN_MODULES = {
    "zmq.green.core": "green_zmq.core",
    "zmq.green.poll": "green_zmq.poll",
    "zmq.green.device": "green_zmq.proxying",
}
_GREEN_EVENTLOOP_MODULES = {
    "zmq.green.eventloop": "green_zmq.eventloop",
    "zmq.green.eventloop.ioloop": "green_zmq.eventloop.ioloop",
    "zmq.green.eventloop.zmqstream": "green_zmq.eventloop.zmqstream",
}
# zmq.green's private class names, which code subclassing zmq.green uses.
_GREEN_PRIVATE_NAMES = {"_Context": "Context", "_Socket": "Socket", "_Poller": "Poller"}


def is_patched(target: str = "zmq.green") -> bool:
    """Has :func:`patch` made ``target`` green? ``target`` is ``"zmq.green"`` or ``"zmq"``.

    ``is_patched("zmq")`` is true after ``patch(zmq=True)``; both are true
    then. For libraries that must know whether plain ``zmq`` blocks the hub.
    """
    return _checked(target) in _patched


def patch(*, zmq: bool = False) -> None:
    """Make ``zmq.green`` green_zmq; with ``zmq=True``, plain ``zmq`` too.

    Idempotent; a later call can add ``zmq=True``, never take it back. Must
    be called from the main thread, as early as possible: names bound
    with ``from zmq.green import Context`` (or ``from zmq import Context``)
    before the patch keep pyzmq's objects.
    """
    wanted = ["zmq.green", "zmq"] if zmq else ["zmq.green"]
    if all(target in _patched for target in wanted):
        return
    _check_main_thread()
    import green_zmq

    if "zmq.green" not in _patched:
        _patch_zmq_green(green_zmq)
        _patched.add("zmq.green")
    if zmq and "zmq" not in _patched:
        _patch_zmq(green_zmq)
        _patched.add("zmq")


def _check_main_thread() -> None:
    import threading

    # threading's own test (asyncio's too). Not gevent.hub.MAIN_THREAD_IDENT:
    # that is whichever thread first imported gevent. Once gevent has patched
    # threading, its threads are greenlets and the main thread is the main
    # greenlet.
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "green_zmq.monkey.patch() must be called from the main thread "
            "(patching swaps module attributes every thread sees)"
        )


def _green_names(green_zmq: types.ModuleType, plain: types.ModuleType) -> dict[str, Any]:
    """green_zmq's objects that replace pyzmq's: the names where the two namespaces differ."""
    return {
        name: getattr(green_zmq, name)
        for name in plain.__all__
        if not name.startswith("__") and getattr(green_zmq, name) is not getattr(plain, name)
    }


def _replace(module_name: str, names: dict[str, Any]) -> None:
    module = sys.modules[module_name]
    for name, value in names.items():
        setattr(module, name, value)


def _public(module_name: str) -> dict[str, Any]:
    module = sys.modules[module_name]
    return {name: getattr(module, name) for name in module.__all__}


def _patch_zmq_green(green_zmq: types.ModuleType) -> None:
    import importlib

    import zmq as plain
    importlib.import_module("zmq.green")

    import green_zmq.poll
    import green_zmq.proxying

    green = _green_names(green_zmq, plain)
    _replace("zmq.green", green)
    for pyzmq_name, ours in _GREEN_MODULES.items():
        module = importlib.import_module(pyzmq_name)
        names = {k: green[v] for k, v in _GREEN_PRIVATE_NAMES.items() if k in vars(module)}
        names.update(_public(ours))
        # zmq.green.device binds zmq.green's Poller; zmq.green.core, its _Poller.
        names["Poller"] = green["Poller"]
        _replace(pyzmq_name, names)
    # The eventloop needs tornado; without it neither pyzmq's nor ours imports.
    if find_spec("tornado") is not None:
        for pyzmq_name, ours in _GREEN_EVENTLOOP_MODULES.items():
            importlib.import_module(pyzmq_name)
            importlib.import_module(ours)
            _replace(pyzmq_name, _public(ours))


class _PlainZmq(types.ModuleType):
    """pyzmq's namespace as it was before ``patch(zmq=True)``, for pyzmq's and our internals.

    Holds the plain objects of the names the patch replaces; every other
    name is looked up in the live ``zmq`` package.
    """


def _plain_view(plain: types.ModuleType, replaced: dict[str, Any]) -> _PlainZmq:
    view = _PlainZmq(plain.__name__, plain.__doc__)
    for name in replaced:
        setattr(view, name, getattr(plain, name))
    view.__getattr__ = lambda name: getattr(plain, name)  # type: ignore[method-assign]
    return view


def _patch_zmq(green_zmq: types.ModuleType) -> None:
    import importlib

    import zmq as plain

    # Imported now, so their classes subclass plain pyzmq, as they would have
    # if imported before the patch.
    import zmq.asyncio  # noqa: F401
    import zmq.auth.thread
    import zmq.devices
    import zmq.devices.basedevice
    import zmq.devices.monitoredqueue
    import zmq.devices.monitoredqueuedevice
    import zmq.devices.proxydevice
    import zmq.devices.proxysteerabledevice

    import green_zmq.auth.thread
    import green_zmq.proxying
    from green_zmq._stand_in import stand_in

    green = _green_names(green_zmq, plain)
    # pyzmq's Cython layer makes every frame a recv returns with zmq.Frame:
    # ours would add a Python __init__ to each recv(copy=False). Plain
    # frames wait green all the same, because pyzmq makes their trackers
    # with zmq.MessageTracker, which is ours from now on (and still accepts
    # pyzmq's own trackers, zmq._FINISHED_TRACKER, in isinstance).
    green.pop("Frame")
    green.pop("Message")

    view = _plain_view(plain, green)
    for module_name, global_name in _PLAIN_VIEWS.items():
        setattr(importlib.import_module(module_name), global_name, view)
    for name, module in list(sys.modules.items()):
        if (name == "green_zmq" or name.startswith("green_zmq.")) and getattr(
            module, "zmq", None
        ) is plain:
            module.zmq = view  # type: ignore[attr-defined]

    _replace("zmq", green)
    # pyzmq's contexts, those made before the patch among them, make green sockets.
    setattr(plain.sugar.context.Context, "_socket_class", green["Socket"])  # noqa: B010
    _one_instance(plain.sugar.context.Context, green["Context"])
    # As in plain pyzmq, every pyzmq object (zmq.asyncio's, those made before
    # the patch) is an instance of what zmq.Context, zmq.Socket and
    # zmq.Poller name now.
    for name in ("Context", "Socket", "Poller"):
        stand_in(green[name], getattr(view, name))
    # The background devices call these module globals in their thread: the
    # green functions where that thread is a greenlet (gevent patched
    # threading), libzmq's in a real thread of their own (see _for_devices).
    green_monitored = sys.modules["green_zmq.proxying"].monitored_queue
    plain_monitored = sys.modules["zmq.devices.monitoredqueue"].monitored_queue
    _replace("zmq.devices", {"proxy": green["proxy"], "monitored_queue": green_monitored})
    _replace("zmq.devices.monitoredqueue", {"monitored_queue": green_monitored})
    _replace("zmq.devices.basedevice", {"proxy": _for_devices(green["proxy"], view.proxy)})
    _replace(
        "zmq.devices.monitoredqueuedevice",
        {"monitored_queue": _for_devices(green_monitored, plain_monitored)},
    )
    # ThreadProxy and ThreadProxySteerable call zmq.proxy and
    # zmq.proxy_steerable: their modules get a zmq of their own.
    devices_zmq = _plain_view(plain, {})
    devices_zmq.proxy = _for_devices(green["proxy"], view.proxy)  # type: ignore[attr-defined]
    devices_zmq.proxy_steerable = _for_devices(  # type: ignore[attr-defined]
        green["proxy_steerable"], view.proxy_steerable
    )
    for name in ("zmq.devices.proxydevice", "zmq.devices.proxysteerabledevice"):
        sys.modules[name].zmq = devices_zmq  # type: ignore[attr-defined]
    # pyzmq's authenticator thread runs an asyncio loop over the program's
    # sockets, which are green now; green_zmq's stand-in (the same API and
    # policies) serves ZAP in a greenlet instead.
    _replace("zmq.auth.thread", _public("green_zmq.auth.thread"))


def _owns_its_thread() -> bool:
    """Is the caller alone in an OS thread of its own, so that it may block it?

    That is where pyzmq's background devices run, unless gevent patched
    threading (then their "thread" is a greenlet of the hub): the first
    greenlet of an OS thread other than the main one, whose hub never ran,
    so that no other greenlet there waits for anything.
    """
    import threading

    from greenlet import getcurrent

    from green_zmq import _compat

    if getcurrent().parent is not None or threading.current_thread() is threading.main_thread():
        return False
    hub = _compat.hub_if_exists()
    # A hub that never ran is a greenlet not yet started: false.
    return hub is None or not hub


def _for_devices(green: Any, plain: Any) -> Any:
    """``green``, except in an OS thread of its own, where ``plain`` (libzmq's, blocking).

    pyzmq's thread devices call this in their thread. A hub parked there
    would gain nothing (nothing else runs in that thread), and it is not
    safe at exit: a daemon thread whose hub wakes after the interpreter
    began finalizing is ended by CPython with pthread_exit (up to 3.13), and
    the forced unwinding runs greenlet's C++ destructors over another
    greenlet's stale stack, which on 3.12 decrements the thread's own freed
    PyThreadState and corrupts the heap (a crash at exit, about one run in
    fifteen). libzmq's proxy waits with the GIL released and never comes
    back into Python but for an error, as in plain pyzmq.
    """

    def run(*args: Any, **kwargs: Any) -> Any:
        if _owns_its_thread():
            return plain(*args, **kwargs)
        return green(*args, **kwargs)

    functools.update_wrapper(run, green)
    return run


def _one_instance(pyzmq_context: type, green_context: type) -> None:
    """One ``Context.instance()`` for the process, green_zmq's, whoever asks.

    pyzmq keeps a singleton per class, and its thread devices bound
    ``zmq.Context.instance`` when ``zmq.devices`` was imported: after the
    patch they would make a plain context of their own, which a program's
    ``zmq.Context.instance()`` cannot reach over inproc://. pyzmq's class
    now hands out green_zmq's singleton; its subclasses (``zmq.asyncio``'s,
    green_zmq's) keep their own, as in plain pyzmq.
    """
    pyzmq_instance = pyzmq_context.instance.__func__  # type: ignore[attr-defined]

    @functools.wraps(pyzmq_instance)
    def instance(cls: type, io_threads: int = 1) -> Any:
        if cls is pyzmq_context:
            return green_context.instance(io_threads)  # type: ignore[attr-defined]
        return pyzmq_instance(cls, io_threads)

    setattr(pyzmq_context, "instance", classmethod(instance))  # noqa: B010
    import zmq.devices.basedevice

    zmq.devices.basedevice.Device.context_factory = green_context.instance  # type: ignore[attr-defined]


# -- what to patch, said the same way by every entry point --------------------------


def _checked(target: str) -> str:
    if target not in _TARGETS:
        raise ValueError(f"unknown patch target {target!r}; expected one of {_TARGETS}")
    return target


def _patch_target(target: str) -> None:
    """:func:`patch` as ``target`` names it: ``"zmq.green"``, or ``"zmq"`` for plain zmq too."""
    patch(zmq=_checked(target) == "zmq")


def _patch_all_keywords(options: list[str]) -> dict[str, bool]:
    """``gevent.monkey.patch_all()``'s keywords for ``python -m gevent.monkey``'s patch options.

    Read as gevent's runner reads them: ``--no-X`` leaves X unpatched,
    ``--X`` asks for X, and naming a module that way (``--socket``) patches
    only the modules named, as its help says. The options are patch_all()'s
    own keywords, so a gevent that adds one is followed. Raises ValueError
    with the first option that is none of these.
    """
    import inspect

    from gevent import monkey

    parameters = inspect.signature(monkey.patch_all).parameters.values()
    names = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    modules = [name for name in names if hasattr(monkey, f"patch_{name}")]
    keywords: dict[str, bool] = {}
    for option in options:
        name = option[2:] if option.startswith("--") else ""
        if name.startswith("no-") and name[3:] in names:
            keywords[name[3:]] = False
        elif name in names:
            keywords[name] = True
            if name in modules:
                for module in modules:
                    keywords.setdefault(module, False)
        else:
            raise ValueError(option)
    return keywords


def _patch_everything(target: str, gevent_options: list[str]) -> None:
    """``gevent.monkey.patch_all()`` with ``gevent_options``, then :func:`patch` for ``target``."""
    from gevent import monkey

    monkey.patch_all(**_patch_all_keywords(gevent_options))
    # Importing this module imported green_zmq, and so pyzmq, before
    # patch_all(): the lock pyzmq made then for Context.instance() is a real
    # one, which a greenlet waiting for another greenlet's instance() would
    # hold the whole thread on. Nothing can have used it yet; make it anew.
    import threading

    import zmq

    zmq.sugar.context.Context._instance_lock = threading.Lock()
    _patch_target(target)


# -- the startup hook --------------------------------------------------------------

# The value green_zmq 0.1.0 documented for "zmq.green".
_OLD_ZMQ_GREEN = "green"


def _read_variable(value: str) -> tuple[str, list[str]]:
    """(target, gevent options) from the value ``TARGET [GEVENT OPTIONS...]``, or ValueError."""
    target, *options = value.split() or [""]
    if target == _OLD_ZMQ_GREEN:
        target = "zmq.green"
    _checked(target)
    _patch_all_keywords(options)
    return target, options


_hook_ran = False


def _startup_hook() -> None:
    """Called by ``green_zmq-monkey.pth`` at interpreter startup when the variable is set."""
    # In a virtual environment site reads every .pth file twice (site.venv()
    # adds the site-packages that site.main() then adds again).
    global _hook_ran
    if _hook_ran:
        return
    _hook_ran = True
    value = os.environ[ENVIRONMENT_VARIABLE]
    try:
        target, options = _read_variable(value)
    except ValueError:
        # Every Python process of the environment runs the hook, pip's too:
        # one line, and the process goes on as if the variable were unset.
        sys.stderr.write(
            f"green_zmq: {ENVIRONMENT_VARIABLE}={value!r} ignored, nothing patched: expected"
            " 'zmq.green' or 'zmq', then any of python -m gevent.monkey's patch options\n"
        )
        return
    _patch_everything(target, options)


# -- the command line ---------------------------------------------------------

_USAGE = """\
usage: python -m green_zmq.monkey [--zmq] [GEVENT OPTIONS] SCRIPT [ARGS...]
       python -m green_zmq.monkey [--zmq] [GEVENT OPTIONS] -m MODULE [ARGS...]

Run SCRIPT (a file, a directory or zip file with a __main__.py, - for
standard input, or a console script found on PATH) or MODULE as python
would, after gevent.monkey.patch_all() and green_zmq.monkey.patch():
zmq.green is green_zmq. Child Python processes are patched the same way
(through the GREEN_ZMQ_MONKEY environment variable).

options:
  --zmq           also make plain `import zmq` green (patch(zmq=True))
  --no-NAME       gevent.monkey.patch_all(NAME=False), as python -m
                  gevent.monkey takes it (--no-thread, --no-subprocess, ...)
  --NAME          patch_all(NAME=True); naming modules (--socket --time)
                  patches only the modules named
  -m MODULE       run library module MODULE as a script
  -h, --help      show this help and exit
"""

_PROG = "python -m green_zmq.monkey"


def _usage_error(message: str) -> NoReturn:
    sys.stderr.write(_USAGE.split("\n\n")[0] + "\n")
    sys.stderr.write(f"{_PROG}: error: {message}\n")
    raise SystemExit(2)


def _parse(argv: list[str]) -> tuple[str, list[str], str | None, str | None, list[str]]:
    """(target, gevent options, module, script, the program's arguments), read as python would."""
    target = "zmq.green"
    gevent_options: list[str] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--zmq":
            target = "zmq"
        elif arg in ("-h", "--help"):
            sys.stdout.write(_USAGE)
            raise SystemExit(0)
        elif arg == "-m":
            if not args:
                _usage_error("argument -m: expected a module name")
            return target, gevent_options, args[0], None, args[1:]
        elif arg.startswith("-m") and not arg.startswith("--"):
            return target, gevent_options, arg[2:], None, args
        elif arg == "--":
            if not args:
                break
            return target, gevent_options, None, args[0], args[1:]
        elif arg.startswith("--"):
            gevent_options.append(arg)
        elif arg.startswith("-") and arg != "-":
            _usage_error(f"unknown option {arg!r}")
        else:
            return target, gevent_options, None, arg, args
    _usage_error("a SCRIPT or -m MODULE is required")


def main(argv: list[str] | None = None) -> None:
    """The command line: patch, then run a script or module as python would."""
    target, gevent_options, module, script, args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        _patch_all_keywords(gevent_options)
    except ValueError as e:
        _usage_error(f"unknown option {e.args[0]!r}")
    if script is not None and script != "-":
        if os.sep not in script and not os.path.exists(script):
            # A console script (``locust``, ``celery``): a Python file on PATH.
            import shutil

            script = shutil.which(script) or script
        try:
            os.stat(script)
        except OSError as e:
            # What python itself prints for a script it cannot open.
            sys.stderr.write(
                f"{_PROG}: can't open file {_absolute(script)!r}: "
                f"[Errno {e.errno}] {e.strerror}\n"
            )
            raise SystemExit(2) from None

    os.environ[ENVIRONMENT_VARIABLE] = " ".join([target, *gevent_options])
    _patch_everything(target, gevent_options)

    try:
        _run_program(module, script, args)
    except SystemExit:
        raise
    except BaseException as error:
        _report_as_python_would(error)
        raise


def _run_program(module: str | None, script: str | None, args: list[str]) -> None:
    """Run ``python -m MODULE ARGS`` or ``python SCRIPT ARGS``, as python itself does.

    In a fresh ``__main__`` module, with python's ``sys.argv``,
    ``sys.path[0]``, ``__file__``, ``__loader__`` and ``__spec__``.
    ``python -m green_zmq.monkey`` put the working directory first on
    sys.path, unless -P or -I said not to: a script's entry takes its place.
    """
    import runpy

    main_module = _fresh_main_module()
    python_adds_path0 = not (sys.flags.isolated or getattr(sys.flags, "safe_path", False))
    if module is not None:
        # python -m's own runner, which says "-m" in argv[0] until it has
        # found the module.
        sys.argv[:] = ["-m", *args]
        runpy._run_module_as_main(module, alter_argv=True)  # type: ignore[attr-defined]
        return
    assert script is not None
    sys.argv[:] = [script, *args]
    if script == "-":
        if python_adds_path0:
            sys.path[0] = ""
        code = compile(sys.stdin.buffer.read(), "<stdin>", "exec", dont_inherit=True)
        filename = "<stdin>"
    else:
        import pkgutil
        from importlib.machinery import SourceFileLoader, SourcelessFileLoader

        filename = _absolute(script)
        if pkgutil.get_importer(filename) is not None:
            # A directory or zip file: python runs its __main__ module, found first on sys.path.
            if python_adds_path0:
                sys.path[0] = filename
            else:
                sys.path.insert(0, filename)
            runpy._run_module_as_main("__main__", alter_argv=False)  # type: ignore[attr-defined]
            return
        if python_adds_path0:
            # The directory of the file, symbolic links resolved.
            sys.path[0] = os.path.dirname(os.path.realpath(filename))
        if _is_bytecode(filename):
            loader: Any = SourcelessFileLoader("__main__", filename)
            code = loader.get_code("__main__")
        else:
            loader = SourceFileLoader("__main__", filename)
            code = compile(loader.get_data(filename), filename, "exec", dont_inherit=True)
        main_module.__loader__ = loader
    # python sets these while the program runs, and only then.
    main_module.__file__ = filename
    main_module.__cached__ = None  # type: ignore[attr-defined]
    try:
        exec(code, vars(main_module))
    finally:
        vars(main_module).pop("__file__", None)
        vars(main_module).pop("__cached__", None)


def _absolute(path: str) -> str:
    """``path`` made absolute as python (3.9+) makes its script's: joined, not normalised."""
    return path if os.path.isabs(path) else os.getcwd() + os.sep + path


def _is_bytecode(path: str) -> bool:
    """Does python take ``path`` for a .pyc file? By its name, or its first two bytes."""
    from importlib.util import MAGIC_NUMBER

    if path.endswith(".pyc"):
        return True
    with open(path, "rb") as file:
        return file.read(2) == MAGIC_NUMBER[:2]


def _fresh_main_module() -> types.ModuleType:
    """A ``__main__`` module for the program, as the interpreter makes one at startup.

    The one running now is this module's, run by ``python -m``.
    """
    import builtins
    from importlib.machinery import BuiltinImporter

    main_module = types.ModuleType("__main__")
    vars(main_module).update(
        __builtins__=builtins, __loader__=BuiltinImporter, __annotations__={}
    )
    sys.modules["__main__"] = main_module
    return main_module


def _report_as_python_would(error: BaseException) -> None:
    """Have the interpreter report ``error`` as if the program ran without the runner.

    The error goes on to the interpreter, which exits as python would
    (status 1; for a KeyboardInterrupt, killed by SIGINT). It prints it
    through the program's ``sys.excepthook``, which is given the traceback
    from the program's first frame on: python -m's runpy frames stay, as
    python shows them; ours and those above go.
    """
    frames = error.__traceback__
    while frames is not None and frames.tb_frame.f_code is not _run_program.__code__:
        frames = frames.tb_next
    program_frames = frames.tb_next if frames is not None else None
    program_hook = sys.excepthook

    def excepthook(kind: type[BaseException], value: BaseException, traceback: Any) -> None:
        sys.excepthook = program_hook
        if value is error:
            traceback = program_frames
            # The default hook prints the exception's own traceback.
            value.with_traceback(traceback)
        program_hook(kind, value, traceback)

    sys.excepthook = excepthook


if __name__ == "__main__":
    # Run as green_zmq.monkey, not __main__: patch state must live in the
    # module that patch(), is_patched() and the startup hook use.
    from green_zmq.monkey import main as _main

    _main()
