"""The docs' code runs as written, and the README's commands and links are the real ones.

Every ```python block of the README, the user guide and the migration guide
runs in a fresh interpreter and must succeed. A fragment that cannot run on
its own (it uses a socket the surrounding text made, say) is marked with the
info string ```python no-run; it must still compile.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from helpers import run_python

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SAMPLED_DOCS = ["README.md", "docs/guide.md", "docs/migration.md"]


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match is not None, f"README has no '## {title}' section"
    return match.group(1)


def python_blocks(text: str) -> list[tuple[int, str, str]]:
    """The ```python blocks of a Markdown text: (line, info string, code)."""
    blocks = []
    for match in re.finditer(r"^```(python[^\n]*)\n(.*?)^```$", text, re.M | re.S):
        line = text.count("\n", 0, match.start()) + 1
        blocks.append((line, match.group(1).strip(), match.group(2)))
    return blocks


def doc_samples(runnable: bool) -> list[Any]:
    samples = []
    for name in SAMPLED_DOCS:
        for line, info, code in python_blocks((ROOT / name).read_text()):
            if (info == "python") == runnable:
                samples.append(pytest.param(code, id=f"{name}:{line}"))
    return samples


@pytest.mark.timeout(10)
def test_every_python_block_of_the_docs_is_a_sample_or_marked_no_run() -> None:
    for name in SAMPLED_DOCS:
        for line, info, _ in python_blocks((ROOT / name).read_text()):
            assert info in ("python", "python no-run"), f"{name}:{line} has ```{info}"
    assert len(doc_samples(runnable=True)) >= 3


@pytest.mark.timeout(40)
@pytest.mark.parametrize("code", doc_samples(runnable=True))
def test_doc_sample_runs_as_written(code: str) -> None:
    result = run_python(code, cwd=ROOT, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


@pytest.mark.timeout(10)
@pytest.mark.parametrize("code", doc_samples(runnable=False))
def test_doc_fragment_marked_no_run_still_compiles(code: str) -> None:
    compile(code, "<fragment>", "exec")


@pytest.mark.timeout(40)
def test_quickstart_prints_what_the_readme_says() -> None:
    blocks = re.findall(r"```python\n(.*?)```", section("Quickstart"), re.S)
    assert len(blocks) == 1
    result = run_python(blocks[0], cwd=ROOT, timeout=30, check=False)
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
    # Editable: run in the checkout, ``python -m`` imports the checkout's
    # sources before the venv's, and only an editable install builds the
    # compiled fast path there (a plain one benchmarked pure Python).
    assert " -e " in bench
    assert tests.endswith(" && .venv/bin/python -m pytest")
    assert "test" in tests.split('"')[1]


@pytest.mark.timeout(10)
def test_ci_runs_the_readme_test_command() -> None:
    _, tests = fresh_machine_commands()
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


@pytest.mark.timeout(10)
def test_ci_builds_the_docs_with_the_readme_command() -> None:
    lines = section("Documentation").splitlines()
    commands = [line.strip() for line in lines if line.startswith("    ") and line.strip()]
    assert len(commands) == 1 and "sphinx-build -W -b html docs " in commands[0]
    assert commands[0] in (ROOT / ".ci" / "docs").read_text().splitlines()


DOCS_SITE = "https://green-zmq.readthedocs.io/en/latest/"


def heading_anchor(heading: str) -> str:
    """The anchor MyST gives a heading (myst_heading_anchors), as GitHub does."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.timeout(10)
def test_the_readme_links_to_the_docs_site_whose_pages_exist() -> None:
    # An index shows the README alone, where a relative link leads nowhere.
    # The Speed section is the bench's (its chart and figures are published
    # together, green_zmq/bench/publish.py) and is left to it.
    readme = README[: README.index("\n## Speed\n")] + README[README.index("\n## Many sockets\n") :]
    targets = re.findall(r"\]\(([^)]+)\)", readme)
    assert [t for t in targets if "://" not in t] == []
    pages = [t for t in targets if t.startswith(DOCS_SITE)]
    assert len(pages) >= 6
    for target in pages:
        page, _, anchor = target[len(DOCS_SITE) :].partition("#")
        assert page.endswith(".html"), target
        sources = [ROOT / "docs" / page.replace(".html", suffix) for suffix in (".md", ".rst")]
        source = next((path for path in sources if path.exists()), None)
        assert source is not None, f"the README links to {target}, which no docs page makes"
        if anchor:
            headings = re.findall(r"^#+ (.*)$", source.read_text(), re.M)
            assert anchor in {heading_anchor(h) for h in headings}, target


@pytest.mark.timeout(10)
def test_relative_links_point_at_files_that_exist() -> None:
    docs = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
    for doc in docs:
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
