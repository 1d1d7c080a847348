"""The README's quickstart runs as written, and its commands and links are the real ones."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match is not None, f"README has no '## {title}' section"
    return match.group(1)


@pytest.mark.timeout(40)
def test_quickstart_runs_as_written() -> None:
    blocks = re.findall(r"```python\n(.*?)```", section("Quickstart"), re.S)
    assert len(blocks) == 1
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(ROOT)]))
    result = subprocess.run(
        [sys.executable, "-c", blocks[0]],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[b'JOB 0', b'JOB 1', b'JOB 10']\n"


def fresh_machine_commands() -> list[str]:
    """The README's two commands, as written (the indented lines of their section)."""
    lines = section("Two commands for a fresh machine").splitlines()
    return [line.strip() for line in lines if line.startswith("    ") and line.strip()]


@pytest.mark.timeout(10)
def test_fresh_machine_commands_make_a_venv_install_and_run() -> None:
    bench, tests = fresh_machine_commands()
    for command in (bench, tests):
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install ")
    assert bench.endswith(" && .venv/bin/python -m green_zmq.bench")
    assert ".[bench]" in bench
    assert tests.endswith(" && .venv/bin/python -m pytest")
    assert "test" in tests.split('"')[1]


@pytest.mark.timeout(10)
def test_ci_runs_the_readme_test_command() -> None:
    _, tests = fresh_machine_commands()
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


@pytest.mark.timeout(10)
def test_relative_links_point_at_files_that_exist() -> None:
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


@pytest.mark.timeout(10)
def test_tests_named_in_the_docs_exist() -> None:
    defined = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        defined.update(re.findall(r"^def (test_\w+)", path.read_text(), re.M))
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for name in re.findall(r"`(test_\w+)`", doc.read_text()):
            assert name in defined, f"{doc.name} names {name}, which no test defines"
