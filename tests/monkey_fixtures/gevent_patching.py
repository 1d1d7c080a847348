"""Prints what gevent.monkey patched here, and in a Python child process (``name: value`` lines)."""

import subprocess
import sys

from gevent import monkey

REPORT = (
    "from gevent import monkey; "
    "print(sorted(name for name in monkey.saved if not name.startswith('_gevent')))"
)

print("patched:", sorted(name for name in monkey.saved if not name.startswith("_gevent")))
print("patch_all() settings:", monkey.saved.get("_gevent_saved_patch_all_module_settings"))
child = subprocess.run([sys.executable, "-c", REPORT], capture_output=True, text=True, check=True)
print("patched in a child process:", child.stdout.strip())
