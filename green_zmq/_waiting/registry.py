"""The per-hub registry: who waits on this thread, its counters, the spin and the sweeper."""

from __future__ import annotations

import logging
import math
import os
import weakref
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING, Any

import gevent
from gevent.hub import get_hub

from .fork import on_fork_in_child

if TYPE_CHECKING:
    from .sockets import SocketWaiting
    from .turns import Turn

__all__ = [
    "HubWaiting",
    "WaitStatistics",
    "hub_waiting",
    "set_spin",
    "set_sweep_interval",
    "statistics",
]


# Units a duration may carry, in the environment or as a string argument.
_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}

# A spin longer than this burns CPU for nothing (waking a sleeping thread
# costs tens of microseconds, so a wait of milliseconds loses nothing by
# sleeping), and GREEN_ZMQ_SPIN=50, meant as 50 microseconds, would spin
# for 50 seconds per wait.
_MAX_SPIN = 0.01


def duration(setting: str, value: Any, maximum: float | None = None) -> float:
    """``value`` as a duration in seconds, or ``ValueError`` naming ``setting``.

    The one validator of the package's durations, for the environment and
    for the setters alike: a number of seconds (int or float, not bool), or
    a string holding one, with an optional unit (``50us``, ``0.5ms``,
    ``1s``). Negative, infinite and NaN values are refused, and values
    above ``maximum``.
    """
    number: float | None = None
    if isinstance(value, str):
        text = value.strip()
        scale = 1.0
        for unit, factor in _UNITS.items():
            if text.endswith(unit) and text[: -len(unit)].strip():
                text, scale = text[: -len(unit)].strip(), factor
                break
        try:
            number = float(text) * scale
        except ValueError:
            number = None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    if number is None or not math.isfinite(number) or number < 0:
        raise ValueError(
            f"{setting} must be a number of seconds >= 0, optionally with a unit "
            f"(us, ms, s), not {value!r}"
        )
    if maximum is not None and number > maximum:
        raise ValueError(
            f"{setting} is at most {maximum:g} seconds, not {value!r} "
            "(a unit says which you mean: 50us, 0.5ms)"
        )
    return number


def _from_env(name: str, default: float, maximum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    return duration(name, raw, maximum)


_sweep_interval = _from_env("GREEN_ZMQ_SWEEP_INTERVAL", 1.0)
_spin = _from_env("GREEN_ZMQ_SPIN", 0.00005, _MAX_SPIN)

# The spin adapts to the traffic: each spin that runs out with nothing
# happening costs a credit, and a wait that begins while the hub is still
# spinning (the spin was cut short by work) restores them all. Out of
# credit, only every _SPIN_PROBE-th wait spins, to notice when the waits
# grow short again (design.md, "The spin guard, the spin and the sweeper").
_SPIN_CREDIT = 8
_SPIN_PROBE = 16


def set_spin(value: float | str) -> float:
    """Set how long the hub polls instead of sleeping after a wait begins; return the old value.

    A thread that sleeps in ``epoll_wait`` takes tens of microseconds to
    wake when libzmq's I/O thread signals it (more on a virtual machine),
    and a request/reply exchange pays that twice per round trip. So after
    a greenlet parks, the hub keeps polling without blocking for this long,
    and only when it has nothing else to run. The default is 50
    microseconds, or the ``GREEN_ZMQ_SPIN`` environment variable; ``0``
    never spins. The cost is at most this much CPU per wait, and it adapts:
    when waits keep outlasting the spin (traffic slower than one message
    per spin time), the hub stops spinning, trying again now and then.
    Setting it gives the calling thread's hub a fresh start. At most 10 ms;
    a string may give a unit (``"50us"``), as the environment variable may.
    """
    global _spin
    previous, _spin = _spin, duration("set_spin", value, _MAX_SPIN)
    registry = hub_waiting(get_hub())
    registry.spin_credit = _SPIN_CREDIT
    registry.spins_skipped = 0
    return previous


def set_sweep_interval(value: float | str) -> float:
    """Set how often the missed-edge sweeper looks at waiting sockets; return the old value.

    ``0`` turns the sweeper off (correctness never depends on it). The
    default is 1 second, or the ``GREEN_ZMQ_SWEEP_INTERVAL`` environment
    variable. Takes effect at once on the calling thread's hub, and on
    other hubs at their next wait. A string may give a unit (``"500ms"``).
    """
    global _sweep_interval
    previous, _sweep_interval = _sweep_interval, duration("set_sweep_interval", value)
    registry = hub_waiting(get_hub())
    if registry.sweep_timer is not None:
        registry.sweep_timer.close()
        registry.sweep_timer = None
    registry.start_sweeper()
    return previous


@dataclass(frozen=True)
class WaitStatistics:
    """A snapshot of the waiting machinery of the calling thread's hub.

    ``parked``: greenlets waiting right now (on a socket, a poller, an fd,
    a tracker or a context's term);
    ``sockets``: sockets with somebody parked on them right now;
    ``fd_wakeups``: times a socket's FD watcher fired with somebody waiting;
    ``rechecks``: EVENTS reads made on behalf of waiting greenlets;
    ``sweeps``: sweeper passes;
    ``missed_edges``: sockets the sweeper found ready with a waiter that
    nobody had woken, parked since before its previous pass (a lost
    wakeup; 0 unless there is a bug). A message that lands in the few
    microseconds between the sweeper's look at the FD and its EVENTS read
    is indistinguishable and counts too, so with thousands of long waits
    a rare count is possible without a bug.
    """

    parked: int
    sockets: int
    fd_wakeups: int
    rechecks: int
    sweeps: int
    missed_edges: int


class HubWaiting:
    """Per-hub bookkeeping: sockets with waiters, counters, the spin, the sweeper."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        # Sockets with a turn queued or a poller interest registered.
        self.waiting: set[SocketWaiting] = set()
        self.parked = 0
        self.fd_wakeups = 0
        self.rechecks = 0
        self.sweeps = 0
        self.missed_edges = 0
        self.sweep_timer: Any = None
        # The idle watcher that keeps the loop polling until spin_until (set_spin).
        self.spin_watcher: Any = None
        self.spin_until = 0.0
        self.spin_credit = _SPIN_CREDIT
        self.spins_skipped = 0
        # Set in a forked child: every wait on this registry fails.
        self.forked = False
        self.kept_zero_timer: Any = None

    def zero_timer(self) -> Any:
        """A zero-delay timer for one go round the loop, made once and reused."""
        timer = self.kept_zero_timer
        if timer is None or timer.active:
            if timer is None:
                timer = self.kept_zero_timer = self.hub.loop.timer(0.0)
            else:
                # In use by another parked greenlet: one of its own.
                return self.hub.loop.timer(0.0)
        return timer

    def spin(self) -> None:
        """Keep the loop from sleeping for the next ``_spin`` seconds (see set_spin)."""
        if not _spin:
            return
        now = monotonic()
        if now < self.spin_until:
            # Begun while the hub still spins: the spin pays, and its idle
            # watcher is running (only _spin_tick stops it, once the spin is over).
            self.spin_credit = _SPIN_CREDIT
            self.spin_until = now + _spin
            return
        if self.spin_credit <= 0:
            self.spins_skipped += 1
            if self.spins_skipped < _SPIN_PROBE:
                return
            self.spins_skipped = 0
        self.spin_until = now + _spin
        watcher = self.spin_watcher
        if watcher is None:
            # An idle watcher runs only when nothing else is pending, and
            # while it is active libev polls without blocking. Unreferenced:
            # it never keeps the loop alive by itself.
            watcher = self.spin_watcher = self.hub.loop.idle(ref=False)
        if not watcher.active:
            watcher.start(self._spin_tick)

    def _spin_tick(self) -> None:
        if monotonic() >= self.spin_until:
            # Ran out with nothing to do: the wait outlasted the spin.
            self.spin_watcher.stop()
            self.spin_credit -= 1

    def start_sweeper(self) -> None:
        if self.sweep_timer is None and self.waiting and _sweep_interval > 0:
            # Unreferenced: the safety net never keeps the loop alive.
            timer = self.hub.loop.timer(_sweep_interval, _sweep_interval, ref=False)
            timer.start(self._sweep_soon)
            self.sweep_timer = timer

    def _sweep_soon(self) -> None:
        # In the hub: hand the libzmq calls to a greenlet of their own.
        if not self.waiting or _sweep_interval <= 0:
            self.sweep_timer.close()
            self.sweep_timer = None
            return
        gevent.spawn_raw(self.sweep)

    def sweep(self) -> None:
        """Safety net: find readiness that nobody was woken for, count it, heal it.

        A message can land between the look at the FD and the EVENTS read
        below, and no check can tell that from a lost wakeup. But a lost
        wakeup leaves its greenlet parked for good, so the sweeper only looks
        at sockets with a turn parked since before its previous pass:
        younger waits are left alone (the EVENTS read would drain their FD),
        a lost one is found one pass later, and a racing arrival would have
        to hit a microsecond window of a wait longer than the sweep
        interval, on a socket whose watcher has not fired since the
        previous pass.
        """
        self.sweeps += 1
        before_last_pass = self.sweeps - 1
        for state in list(self.waiting):
            watch = state.watch
            if state.closed or not state.waiting or watch.backing_off or not watch.active:
                # (Not watched: no poller is polling, nobody is owed a wakeup.)
                continue
            overdue = _overdue(state.heads(), before_last_pass)
            if not overdue:
                continue
            if watch.signalled():
                # The watcher has not run yet for a pending edge; not a miss.
                continue
            # Heal it: read EVENTS and wake whoever they let proceed.
            events = state.after_op()
            if events is None:
                continue
            # A lost wakeup leaves the FD quiet: nothing tells the watcher. A
            # socket whose watcher fired since our last look is busy, and what
            # we see is far likelier a message racing our check.
            quiet = not watch.fired_since_last_look()
            missed = [turn for turn in state.owed(events) if turn in overdue]
            if quiet and missed:
                self.missed_edges += 1
                _log.warning(
                    "green_zmq's sweeper woke %s that missed its wakeup (a bug of green_zmq:"
                    " please report it, with this line): socket FD %s, EVENTS %d, %s",
                    _who(state, missed),
                    state.fd,
                    events,
                    state.statistics(),
                )

    def statistics(self) -> WaitStatistics:
        return WaitStatistics(
            parked=self.parked,
            sockets=sum(1 for state in self.waiting if state.has_parked()),
            fd_wakeups=self.fd_wakeups,
            rechecks=self.rechecks,
            sweeps=self.sweeps,
            missed_edges=self.missed_edges,
        )


_hubs: weakref.WeakKeyDictionary[Any, HubWaiting] = weakref.WeakKeyDictionary()


# Where a lost wakeup is reported: it is a bug, and the line says where it was.
_log = logging.getLogger("green_zmq")


def _who(state: SocketWaiting, turns: list[Turn]) -> str:
    """The kinds of the waits ``turns`` were, in words (which queue of ``state`` they were in)."""
    kinds = [
        "a recv" if turn in state.receivers else "a send" if turn in state.senders else "a poll"
        for turn in turns
    ]
    return ", ".join(kinds)


def _overdue(turns: list[Turn], pass_number: int) -> list[Turn]:
    """Those of ``turns`` parked, not woken, and since before the given sweep pass."""
    return [
        turn
        for turn in turns
        if turn.waiter is not None and not turn.woken and turn.parked_since < pass_number
    ]


def hub_waiting(hub: Any) -> HubWaiting:
    """The registry of ``hub`` (made on first use)."""
    registry = _hubs.get(hub)
    if registry is None:
        registry = _hubs[hub] = HubWaiting(hub)
    return registry


def statistics() -> WaitStatistics:
    """Counters of the calling thread's hub: waiters, wakeups, missed edges."""
    return hub_waiting(get_hub()).statistics()


def _forget_the_parent() -> None:
    # Greenlets parked in the parent were copied into the child with their
    # watchers, and the child shares the parent's zmq FDs: left alone they
    # would hang, or wake on the parent's traffic and call libzmq. Wake them
    # to fail (see turns.park), with their sockets marked closed so that the
    # clean-up on their way out calls nothing either. Nothing here calls
    # libzmq; the wakeups run once the child's hub runs.
    for registry in list(_hubs.values()):
        registry.forked = True
        for state in list(registry.waiting):
            state.closed = True
            state.wake_all()
    _hubs.clear()


on_fork_in_child(_forget_the_parent)
