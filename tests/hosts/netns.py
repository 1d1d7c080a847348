"""Test hosts for the multi-host suite: Linux network namespaces on a private bridge.

A :class:`Network` makes one namespace per host plus a switch namespace
holding a bridge; each host is joined to the bridge by a veth pair (``eth0``
inside the host, ``p-HOST`` on the switch) and gets the address
``10.231.0.N/24``, assigned inside its namespace. That range exists only
inside these namespaces, so no packet of the suite can leave them.

Faults are applied to the real paths between hosts:

- :meth:`Network.partition`: iptables DROP on INPUT, in both hosts, for the
  other's address. Nothing is refused or reset, the packets just vanish: a
  partition TCP does not notice (DROP on OUTPUT would not be silent: the
  sender gets EPERM).
- :meth:`Network.cut`: the host's switch port set down (the host sees its
  carrier go away); :meth:`Network.restore` sets it up again.
- :meth:`Network.limit`: a ``tbf`` qdisc on the host's egress.
- :meth:`Network.remove`: the host's link deleted, then its processes
  killed and its namespace deleted: gone for good, without a FIN.

Cleanup must survive a failed or killed run. Namespace names carry the
pytest process's pid (``gzh-PID-N-HOST``); every new Network first removes
the namespaces of pids that are no longer alive, and the processes still
running inside them (processes of an earlier run of this suite: nothing
else lives in these namespaces). Role processes get SIGKILL from the kernel
when the test process dies (``PR_SET_PDEATHSIG``), and an ``atexit`` hook
closes networks a test left open.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import os
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

__all__ = ["Network", "NetworkUnavailable", "SUBNET"]

PREFIX = "gzh-"
SUBNET = "10.231.0"
_SWITCH = "sw"
_PR_SET_PDEATHSIG = 1
_numbers = itertools.count()
_open: set[Network] = set()


class NetworkUnavailable(Exception):
    """Namespaces cannot be made here (not root, or no iproute2)."""


def _run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _namespaces() -> list[str]:
    return [line.split()[0] for line in _run("ip", "netns", "list").splitlines() if line.strip()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_inside(ns: str) -> None:
    """SIGKILL every process still running in namespace ``ns``."""
    try:
        pids = _run("ip", "netns", "pids", ns).split()
    except RuntimeError:
        return
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def _delete(ns: str) -> None:
    _kill_inside(ns)
    try:
        _run("ip", "netns", "delete", ns)
    except RuntimeError:
        pass  # already gone


def remove_stale() -> None:
    """Remove the namespaces (and their processes) of earlier runs that died."""
    for ns in _namespaces():
        if not ns.startswith(PREFIX):
            continue
        try:
            pid = int(ns.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _alive(pid):
            _delete(ns)


class Network:
    """Hosts (``name -> last octet of the address``) on one bridge, until :meth:`close`."""

    def __init__(self, hosts: dict[str, int]) -> None:
        self.hosts = dict(hosts)
        self.tag = f"{PREFIX}{os.getpid()}-{next(_numbers)}-"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.removed: set[str] = set()
        self._made: list[str] = []

    def ns(self, host: str) -> str:
        return self.tag + host

    def address(self, host: str) -> str:
        return f"{SUBNET}.{self.hosts[host]}"

    def start(self) -> Network:
        if os.geteuid() != 0:
            raise NetworkUnavailable("network namespaces need root")
        try:
            _namespaces()
        except (OSError, RuntimeError) as exc:
            raise NetworkUnavailable(f"iproute2 unusable: {exc}") from exc
        remove_stale()
        _open.add(self)
        switch = self.ns(_SWITCH)
        self._add_namespace(switch)
        _run("ip", "-n", switch, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", switch, "link", "set", "br0", "up")
        for host in self.hosts:
            ns = self.ns(host)
            self._add_namespace(ns)
            port = f"p-{host}"
            _run("ip", "-n", switch, "link", "add", port, "type", "veth",
                 "peer", "name", "eth0", "netns", ns)
            _run("ip", "-n", switch, "link", "set", port, "master", "br0", "up")
            _run("ip", "-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
            _run("ip", "-n", ns, "link", "set", "eth0", "up")
        return self

    def _add_namespace(self, ns: str) -> None:
        try:
            _run("ip", "netns", "add", ns)
        except RuntimeError as exc:
            raise NetworkUnavailable(str(exc)) from exc
        self._made.append(ns)
        _run("ip", "-n", ns, "link", "set", "lo", "up")

    def popen(self, host: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside ``host``; it is killed if this process dies."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(host), *argv],
            preexec_fn=_die_with_parent,
            **kwargs,
        )
        self.procs.append(proc)
        return proc

    def _iptables(self, action: str, host: str, peer: str) -> None:
        _run("ip", "netns", "exec", self.ns(host), "iptables", action, "INPUT",
             "-s", self.address(peer), "-j", "DROP")

    def partition(self, a: str, b: str) -> None:
        """Drop, silently, every packet between hosts ``a`` and ``b``."""
        self._iptables("-A", a, b)
        self._iptables("-A", b, a)

    def heal(self, a: str, b: str) -> None:
        self._iptables("-D", a, b)
        self._iptables("-D", b, a)

    def cut(self, host: str) -> None:
        _run("ip", "-n", self.ns(_SWITCH), "link", "set", f"p-{host}", "down")

    def restore(self, host: str) -> None:
        _run("ip", "-n", self.ns(_SWITCH), "link", "set", f"p-{host}", "up")

    def limit(self, host: str, rate: str) -> None:
        """Shape what ``host`` sends to ``rate`` (a tc rate, e.g. ``1mbit``)."""
        _run("ip", "netns", "exec", self.ns(host), "tc", "qdisc", "add", "dev", "eth0",
             "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms")

    def unplug(self, host: str) -> None:
        """Delete ``host``'s link: its peers hear nothing more, not even a FIN."""
        _run("ip", "-n", self.ns(_SWITCH), "link", "delete", f"p-{host}")

    def remove(self, host: str) -> None:
        """The last step of removing ``host`` for good: its processes and namespace."""
        self.removed.add(host)
        _delete(self.ns(host))

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        for ns in reversed(self._made):
            _delete(ns)
        self._made.clear()
        _open.discard(self)


@atexit.register
def _close_all() -> None:
    for network in list(_open):
        network.close()
