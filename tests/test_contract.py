"""The shape the package promises: one readiness primitive, private internals in one place."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import green_zmq
from green_zmq import _compat

PACKAGE = Path(green_zmq.__file__).parent
OUTSIDE = sorted(
    p for p in PACKAGE.rglob("*.py") if "_waiting" not in p.relative_to(PACKAGE).parts
)


# What only _waiting may do: make gevent watchers and timers, park a
# greenlet on the hub, wake one.
_WATCHER_CALLS = {"io", "async_", "timer", "idle", "prepare", "check"}
_PARKING = {"park", "wake", "wake_in_hub", "Turn", "Waiter", "FdSet", "FdWatch"}
# _waiting's modules whose names are its internals: the package's __init__
# exports what others may use.
_INTERNAL_MODULES = {"turns", "fd", "fd_watch", "sockets", "polling", "registry", "fork"}


def waiting_breaches(source: str) -> list[str]:
    """What a module outside _waiting does that only _waiting may do (empty: nothing)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if isinstance(func, ast.Attribute) and name in _WATCHER_CALLS:
                found.append(f"makes a watcher: .{name}()")
            elif isinstance(func, ast.Name) and name in _PARKING:
                found.append(f"parks or wakes: {name}()")
            elif isinstance(func, ast.Attribute) and name == "switch":
                found.append("switches greenlets")
            elif isinstance(func, ast.Attribute) and name == "wait" and _names(func.value) & {
                "hub", "get_hub"
            }:
                found.append("waits on the hub")
        elif isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if "_waiting" in parts and parts[-1] in _INTERNAL_MODULES:
                found.append(f"imports _waiting's internals: {node.module}")
            found.extend(
                f"imports {alias.name}" for alias in node.names if alias.name in _PARKING
            )
    return found


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_outside_waiting_makes_a_watcher_parks_or_wakes(path):
    # The bench measures other runtimes too, which wait their own way.
    if "bench" in path.relative_to(PACKAGE).parts:
        return
    assert waiting_breaches(path.read_text()) == []


BREACHES = {
    "a watcher": "w = hub.loop.io(fd, 1)",
    "a timer": "t = get_hub().loop.timer(1.0)",
    "a park": "from ._waiting.turns import park",
    "a wake": "wake(turn, hub)",
    "a Waiter": "from gevent.hub import Waiter\nWaiter().get()",
    "a hub wait": "get_hub().wait(watcher)",
    "a switch": "hub.switch()",
    "an internal module": "from ._waiting.sockets import SocketWaiting",
    "an fd set": "from green_zmq._waiting import FdSet",
}


@pytest.mark.parametrize("breach", BREACHES, ids=list(BREACHES))
def test_the_waiting_contract_finds_each_kind_of_breach(breach):
    assert waiting_breaches(BREACHES[breach]) != []


def _private_attributes_of_waiting() -> set[str]:
    """Every private attribute the _waiting package gives its objects (``self._x = ...``, slots)."""
    names: set[str] = set()
    for path in (PACKAGE / "_waiting").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id == "self":
                    names.add(node.attr)
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets
            ):
                names.update(
                    c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)
                )
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


WAITING_INTERNALS = _private_attributes_of_waiting()


def internals_reached(source: str) -> list[str]:
    """The private attributes of _waiting's objects that ``source`` reads or writes."""
    return sorted(
        {
            node.attr
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute) and node.attr in WAITING_INTERNALS
        }
    )


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_outside_waiting_reaches_into_its_internals(path):
    assert internals_reached(path.read_text()) == []


def test_the_internals_contract_knows_the_internals_and_finds_a_breach():
    assert {"_interests", "_zsock", "_watcher", "_spare_turn"} <= WAITING_INTERNALS
    assert internals_reached("state._interests.append(x)") == ["_interests"]
    assert internals_reached("state.watch._watcher.stop()") == ["_watcher"]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_plain_int_constants_live_only_in_ints(path):
    if path.name == "_ints.py":
        return
    assert not re.search(r"^_?[A-Z]+ = int\(zmq\.", path.read_text(), re.M)


def test_no_comment_cites_a_design_file_the_repository_lacks():
    for path in PACKAGE.rglob("*.py"):
        assert "DESIGN.md" not in path.read_text(), path


def test_design_sections_cited_in_comments_exist():
    # The checkout's (or the sdist's) docs, beside these tests.
    design = (Path(__file__).resolve().parent.parent / "docs" / "design.md").read_text()
    headings = set(re.findall(r"^#+ (.+)$", design, re.M))
    for path in PACKAGE.rglob("*.py"):
        for cited in re.findall(r'design\.md, "([^"]+)"', path.read_text()):
            assert cited in headings, f"{path.name} cites a missing section {cited!r}"


def test_every_private_attribute_green_zmq_uses_is_still_there():
    import selectors
    import threading

    import zmq

    context = zmq.Context()
    try:
        socket = context.socket(zmq.PAIR)
        _compat.poller_positions(zmq.Poller())
        _compat.is_shadow(socket)
        _compat.shadowed_object(socket)
        event = threading.Event()
        _compat.condition_waiters(_compat.event_condition(event))
        selector = selectors.DefaultSelector()
        _compat.selector_keys(selector)
        selector.close()
        _compat.policy_current_loop()
        _compat.hub_if_exists()
        assert callable(_compat.get_running_loop) and callable(_compat.set_running_loop)
        assert isinstance(_compat.BaseSelectorImpl, type)
        socket.close()
    finally:
        context.term()


def test_tornado_private_attributes_are_still_there():
    pytest.importorskip("tornado")
    _compat.tornado_loop_for(object())
    for module, owner, attribute in _compat.OVERRIDDEN_HOOKS:
        cls = getattr(importlib.import_module(module), owner)
        assert hasattr(cls, attribute) or attribute in cls.__init__.__code__.co_names, (
            f"{module}.{owner}.{attribute} is gone: green_zmq relies on it"
        )


def test_a_missing_private_attribute_fails_with_a_message_naming_it():
    class Bare:
        pass

    with pytest.raises(_compat.CompatError, match=r"zmq\.Poller\._map.*version"):
        _compat.poller_positions(Bare())  # type: ignore[arg-type]


def test_the_proxy_module_is_not_hidden_by_the_proxy_functions():
    module = importlib.import_module("green_zmq.proxying")
    assert module.proxy is green_zmq.proxy and module.device is green_zmq.device
