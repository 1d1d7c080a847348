"""Make programs that import ``zmq.green`` (or plain ``zmq``) use green_zmq, unedited.

:func:`patch` does for ZeroMQ what :mod:`gevent.monkey` does for the
standard library: it replaces attributes of pyzmq's modules in place, so
that code which says ``import zmq.green as zmq`` (or, with ``zmq=True``,
``import zmq``) gets green_zmq's Context, Socket, Poller, select, device,
proxy, proxy_steerable, IOLoop and ZMQStream, whether it was imported
before or after the patch. :func:`is_patched` says what has been patched.

As a program::

    python -m green_zmq.monkey [--zmq] SCRIPT [ARGS...]
    python -m green_zmq.monkey [--zmq] -m MODULE [ARGS...]

runs ``gevent.monkey.patch_all()``, then :func:`patch`, then the script or
module as ``__main__``. It also sets ``GREEN_ZMQ_MONKEY`` in the
environment, so that Python child processes (``sys.executable ...``,
multiprocessing's spawn) patch themselves the same way at startup, through
the ``green_zmq-monkey.pth`` hook installed with the package; without that
variable the hook does nothing. ``gevent.monkey.patch_all(green_zmq=True)``
(or ``green_zmq="zmq"``) patches too, through gevent's plugin events (the
hook is ``_green_zmq_gevent_plugin``, outside this package, so that a
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
green sockets from then on, so every socket made after the patch is a
``zmq.Socket``::

    patch()          -> zmq.green.* and zmq.green.eventloop.* green
    patch(zmq=True)  -> the above, and zmq.*, zmq.devices' proxy, plain
                        contexts' socket class, zmq.auth.thread's
                        ThreadAuthenticator; pyzmq internals see _PlainZmq

Until :func:`patch` runs, this module imports nothing but the standard
library (importing it imports the green_zmq package, and so pyzmq).
"""

from __future__ import annotations

import os
import sys
import types
from importlib.util import find_spec
from typing import Any, NoReturn

__all__ = ["ENVIRONMENT_VARIABLE", "is_patched", "main", "patch"]

#: Read by the startup hook of every Python process: ``green`` runs
#: ``gevent.monkey.patch_all()`` and :func:`patch`, ``zmq`` also makes plain
#: ``zmq`` green. :func:`main` sets it for the program's child processes.
ENVIRONMENT_VARIABLE = "GREEN_ZMQ_MONKEY"

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
    if target not in _TARGETS:
        raise ValueError(f"unknown patch target {target!r}; expected one of {_TARGETS}")
    return target in _patched


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
    # gevent.monkey.patch_thread() makes threading's idea of the main thread
    # a greenlet, so ask the unpatched _thread, against the ident gevent
    # recorded for the main thread.
    from gevent.hub import MAIN_THREAD_IDENT
    from gevent.monkey import get_original

    if get_original("_thread", "get_ident")() != MAIN_THREAD_IDENT:
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

    import green_zmq.auth.thread
    import green_zmq.proxying

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
    # The background devices call these module globals in their thread.
    _replace("zmq.devices", {"proxy": green["proxy"]})
    _replace("zmq.devices.basedevice", {"proxy": green["proxy"]})
    monitored = {"monitored_queue": sys.modules["green_zmq.proxying"].monitored_queue}
    for name in ("zmq.devices", "zmq.devices.monitoredqueue", "zmq.devices.monitoredqueuedevice"):
        _replace(name, monitored)
    # pyzmq's authenticator thread runs an asyncio loop over the program's
    # sockets, which are green now; green_zmq's stand-in (the same API and
    # policies) serves ZAP in a greenlet instead.
    _replace("zmq.auth.thread", _public("green_zmq.auth.thread"))


# -- the startup hook --------------------------------------------------------------


def _patch_all(target: str) -> None:
    """``gevent.monkey.patch_all()``, then :func:`patch` as ``target`` ("green" or "zmq") says."""
    if target not in ("green", "zmq"):
        raise ValueError(
            f"{ENVIRONMENT_VARIABLE}={target!r}: "
            "expected 'green' (zmq.green) or 'zmq' (plain zmq too)"
        )
    from gevent import monkey

    monkey.patch_all()
    # Importing this module imported green_zmq, and so pyzmq, before
    # patch_all(): the lock pyzmq made then for Context.instance() is a real
    # one, which a greenlet waiting for another greenlet's instance() would
    # hold the whole thread on. Nothing can have used it yet; make it anew.
    import threading

    import zmq

    zmq.sugar.context.Context._instance_lock = threading.Lock()
    patch(zmq=target == "zmq")


def _startup_hook() -> None:
    """Called by ``green_zmq-monkey.pth`` at interpreter startup when the variable is set."""
    _patch_all(os.environ[ENVIRONMENT_VARIABLE])


# -- the command line ---------------------------------------------------------

_USAGE = """\
usage: python -m green_zmq.monkey [--zmq] SCRIPT [ARGS...]
       python -m green_zmq.monkey [--zmq] -m MODULE [ARGS...]

Run SCRIPT (a file, or a console script found on PATH) or MODULE (as
python -m does) as __main__ after gevent.monkey.patch_all() and
green_zmq.monkey.patch(): zmq.green is
green_zmq. Child Python processes are patched the same way (through the
GREEN_ZMQ_MONKEY environment variable).

options:
  --zmq       also make plain `import zmq` green (patch(zmq=True))
  -m MODULE   run library module MODULE as a script
  -h, --help  show this help and exit
"""

_PROG = "python -m green_zmq.monkey"


def _usage_error(message: str) -> NoReturn:
    sys.stderr.write(_USAGE.split("\n\n")[0] + "\n")
    sys.stderr.write(f"{_PROG}: error: {message}\n")
    raise SystemExit(2)


def _parse(argv: list[str]) -> tuple[bool, str | None, str | None, list[str]]:
    """(--zmq, module, script, the program's arguments), as python parses its own options."""
    plain_zmq = False
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--zmq":
            plain_zmq = True
        elif arg in ("-h", "--help"):
            sys.stdout.write(_USAGE)
            raise SystemExit(0)
        elif arg == "-m":
            if not args:
                _usage_error("argument -m: expected a module name")
            return plain_zmq, args[0], None, args[1:]
        elif arg.startswith("-m") and not arg.startswith("--"):
            return plain_zmq, arg[2:], None, args
        elif arg == "--":
            if not args:
                break
            return plain_zmq, None, args[0], args[1:]
        elif arg.startswith("-") and arg != "-":
            _usage_error(f"unknown option {arg!r}")
        else:
            return plain_zmq, None, arg, args
    _usage_error("a SCRIPT or -m MODULE is required")


def main(argv: list[str] | None = None) -> None:
    """The command line: patch, then run a script or module as ``__main__``."""
    import runpy

    plain_zmq, module, script, args = _parse(sys.argv[1:] if argv is None else argv)
    if script is not None:
        if os.sep not in script and not os.path.exists(script):
            # A console script (``locust``, ``celery``): a Python file on PATH.
            import shutil

            script = shutil.which(script) or script
        try:
            os.stat(script)
        except OSError as e:
            # What python itself prints for a script it cannot open.
            sys.stderr.write(
                f"{_PROG}: can't open file {os.path.abspath(script)!r}: "
                f"[Errno {e.errno}] {e.strerror}\n"
            )
            raise SystemExit(2) from None

    target = "zmq" if plain_zmq else "green"
    os.environ[ENVIRONMENT_VARIABLE] = target
    _patch_all(target)

    try:
        if module is not None:
            sys.argv[:] = [module, *args]
            # python -m's own runner: the module replaces __main__, argv[0]
            # becomes its path, and "No module named ..." ends the process
            # the way python -m does.
            runpy._run_module_as_main(module, alter_argv=True)  # type: ignore[attr-defined]
        else:
            assert script is not None
            sys.argv[:] = [script, *args]
            sys.path[0] = os.path.dirname(os.path.abspath(script))
            runpy.run_path(script, run_name="__main__")
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as e:
        # Print the traceback python would print: from the program's first
        # frame, without ours and runpy's.
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_globals.get("__name__") in (__name__, "runpy"):
            tb = tb.tb_next
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        raise SystemExit(1) from None


if __name__ == "__main__":
    # Run as green_zmq.monkey, not __main__: patch state must live in the
    # module that patch(), is_patched() and the startup hook use.
    from green_zmq.monkey import main as _main

    _main()
