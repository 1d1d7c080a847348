# All metadata lives in setup.cfg. This file adds what setup.cfg cannot say:
#
# - install green_zmq-monkey.pth next to the package (in site-packages), the
#   startup hook that patches child processes of `python -m green_zmq.monkey`
#   and does nothing unless GREEN_ZMQ_MONKEY is set;
# - the compiled fast path: Cython compiles green_zmq/_fastpath.py, with the
#   types of green_zmq/_c_fastpath.pxd, into green_zmq._c_fastpath. It is
#   optional: without Cython or a C compiler the package installs as pure
#   Python, which behaves the same (docs/design.md, "The compiled fast path").
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

HOOK = Path(__file__).parent / "green_zmq-monkey.pth"


class build_py_with_hook(build_py):
    """Regular wheels: the hook goes into the wheel's root, which is site-packages."""

    def run(self):
        super().run()
        self.copy_file(str(HOOK), str(Path(self.build_lib) / HOOK.name))

    def get_outputs(self, include_bytecode=True):
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / HOOK.name)]


class editable_wheel_with_hook(editable_wheel):
    """Editable installs (pip install -e): the same file, in the editable wheel's root."""

    def _install_namespaces(self, installation_dir, pth_prefix):
        super()._install_namespaces(installation_dir, pth_prefix)
        self.copy_file(str(HOOK), str(Path(installation_dir) / HOOK.name))


PURE_PYTHON_NOTE = (
    "green_zmq: {}; installing the pure-Python fast path only "
    "(same behaviour, slower; green_zmq.accelerated_reason says so at run time)"
)


class build_ext_optional(build_ext):
    """Build the compiled fast path where possible, and say so where not."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler at all
            print(PURE_PYTHON_NOTE.format(f"no C compiler ({exc})"), file=sys.stderr)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # the compiler failed on it
            print(PURE_PYTHON_NOTE.format(f"the C build failed ({exc})"), file=sys.stderr)


def compiled_fast_path():
    """The extension, or none when Cython is missing (a build without isolation)."""
    try:
        from Cython.Build import cythonize
    except ImportError:
        print(PURE_PYTHON_NOTE.format("Cython is not installed"), file=sys.stderr)
        return []
    extension = Extension("green_zmq._c_fastpath", ["green_zmq/_fastpath.py"])
    return cythonize(
        [extension],
        # The generated C stays out of the source tree.
        build_dir="build/cython",
        # Cython tracks a .py's own .pxd, not ours (the module's name is
        # not the file's), so an edit of _c_fastpath.pxd alone would leave
        # stale C: translate every time, a few seconds.
        force=True,
        quiet=True,
        compiler_directives={
            "language_level": 3,
            # The annotations are for mypy and readers: compiled, `flags: int`
            # would refuse what pyzmq accepts and raise other errors.
            "annotation_typing": False,
        },
    )


setup(
    ext_modules=compiled_fast_path(),
    cmdclass={
        "build_ext": build_ext_optional,
        "build_py": build_py_with_hook,
        "editable_wheel": editable_wheel_with_hook,
    },
)
