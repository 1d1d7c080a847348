# All metadata lives in setup.cfg. This file adds one thing setup.cfg cannot
# say: install green_zmq-monkey.pth next to the package (in site-packages),
# the startup hook that patches child processes of `python -m green_zmq.monkey`
# and does nothing unless GREEN_ZMQ_MONKEY is set.
from pathlib import Path

from setuptools import setup
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


setup(cmdclass={"build_py": build_py_with_hook, "editable_wheel": editable_wheel_with_hook})
