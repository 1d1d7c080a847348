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


def _calls(path: Path) -> list[str]:
    """Every ``something.name(`` called in the file, as ``name``."""
    tree = ast.parse(path.read_text())
    return [
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    ]


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_outside_waiting_makes_a_watcher_or_waits_on_the_hub(path):
    forbidden = {"io", "async_", "timer", "idle", "prepare", "check", "wait", "switch"}
    found = [name for name in _calls(path) if name in forbidden]
    # bench.py measures other runtimes, which wait their own way.
    if path.name != "bench.py" and "bench" not in path.parts:
        assert not [n for n in found if n not in {"wait", "check"}], found
        source = path.read_text()
        assert not re.search(r"\bhub\.wait\(|\bWaiter\(", source)


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_outside_waiting_reaches_into_its_internals(path):
    source = path.read_text()
    for internal in ("_green_waiting", ".readers", ".writers", ".interests", "contended"):
        assert internal not in source, internal


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


ACCESSORS = [
    _compat.poller_positions.__name__,
    "event_condition",
    "condition_waiters",
    "is_shadow",
    "shadowed_object",
    "selector_keys",
    "policy_current_loop",
]


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
