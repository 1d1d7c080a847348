"""Prints how this program was started, as it sees it (``name: value`` lines).

Run as a script, a symlink to it, from standard input, as a directory's or
zip file's ``__main__.py``, or with -m, by python and by the monkey runner.
"""

import atexit
import sys

seen = dict(globals())
loader = seen.get("__loader__")
spec = seen.get("__spec__")
print("argv:", sys.argv)
print("sys.path[0]:", repr(sys.path[0]))
print("__file__:", repr(seen.get("__file__")))
print("__cached__:", repr(seen.get("__cached__", "(none)")))
print("__package__:", repr(seen.get("__package__")))
print("__spec__:", spec and (spec.name, spec.origin))
print(
    "__loader__:",
    loader.__name__ if isinstance(loader, type) else type(loader).__name__,
    getattr(loader, "name", None),
    getattr(loader, "path", None),
)
print("__builtins__:", type(seen["__builtins__"]).__name__)
print("globals:", sorted(seen))
print("__main__ is this module:", vars(sys.modules["__main__"]) is globals())
# python gives __main__ a __file__ only while the program runs.
atexit.register(
    lambda: print("__file__ at exit:", repr(getattr(sys.modules["__main__"], "__file__", None)))
)
