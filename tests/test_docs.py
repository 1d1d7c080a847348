"""The docs site builds as CI and Read the Docs build it, and links where it says.

docs/conf.py maps pyzmq, gevent, tornado and Python for intersphinx, and
GREEN_ZMQ_DOCS_OFFLINE=1 (CI has no network) empties the mapping. Offline,
intersphinx cannot show that a reference resolves; what it can be shown is
the half that is ours: the site builds with warnings as errors, every
reference the docs' own pages make to one of those projects names an
object the project really has, and each mapped project is referred to.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import runpy
import sysconfig
import warnings
from configparser import ConfigParser
from pathlib import Path
from typing import Any

import pytest

from helpers import run_python

ROOT = Path(__file__).resolve().parent.parent

PROJECTS = {
    "python": "https://docs.python.org/3/",
    "pyzmq": "https://pyzmq.readthedocs.io/en/latest/",
    "gevent": "https://www.gevent.org/",
    "tornado": "https://www.tornadoweb.org/en/stable/",
}
# The project a top-level module's objects are documented by; any other
# module must be Python's own.
MODULE_PROJECTS = {"zmq": "pyzmq", "gevent": "gevent", "tornado": "tornado"}


def sphinx_conf(monkeypatch: pytest.MonkeyPatch, offline: str | None) -> dict[str, Any]:
    if offline is None:
        monkeypatch.delenv("GREEN_ZMQ_DOCS_OFFLINE", raising=False)
    else:
        monkeypatch.setenv("GREEN_ZMQ_DOCS_OFFLINE", offline)
    return runpy.run_path(str(ROOT / "docs" / "conf.py"))


@pytest.mark.timeout(20)
def test_intersphinx_maps_pyzmq_gevent_tornado_and_python(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = sphinx_conf(monkeypatch, None)
    assert "sphinx.ext.intersphinx" in conf["extensions"]
    mapping = conf["intersphinx_mapping"]
    assert {name: url for name, (url, _) in mapping.items()} == PROJECTS


@pytest.mark.timeout(20)
def test_the_offline_switch_empties_the_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sphinx_conf(monkeypatch, "1")["intersphinx_mapping"] == {}
    assert len(sphinx_conf(monkeypatch, "0")["intersphinx_mapping"]) == len(PROJECTS)


@pytest.mark.timeout(10)
def test_read_the_docs_builds_with_the_docs_extra_and_warnings_as_errors() -> None:
    config = (ROOT / ".readthedocs.yaml").read_text()
    settings = dict(re.findall(r"^[\s-]*([a-z_]+): *(\S.*)$", config, re.M))
    assert settings["version"] == "2"
    assert settings["configuration"] == "docs/conf.py"
    assert settings["fail_on_warning"] == "true"
    assert settings["method"] == "pip" and settings["path"] == "."
    assert re.search(r"^\s*extra_requirements:\n\s*- docs$", config, re.M)
    # The extra it names holds what docs/conf.py loads.
    setup = ConfigParser()
    setup.read(ROOT / "setup.cfg")
    docs_extra = setup["options.extras_require"]["docs"]
    for requirement in ("sphinx", "myst-parser", "furo"):
        assert re.search(rf"^{requirement}\b", docs_extra, re.M), requirement


def documented_by(target: str) -> str | None:
    """The project whose object ``target`` (a dotted name) is, if the object exists."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        try:
            with warnings.catch_warnings():  # zmq.eventloop.ioloop's deprecation
                warnings.simplefilter("ignore", DeprecationWarning)
                found: Any = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for name in parts[end:]:
            found = getattr(found, name, None)
            if found is None:
                return None
        break
    else:
        return None
    project = MODULE_PROJECTS.get(parts[0])
    if project is not None:
        return project
    spec = importlib.util.find_spec(parts[0])
    stdlib = sysconfig.get_paths()["stdlib"]
    assert spec is not None
    if spec.origin in ("built-in", "frozen") or str(spec.origin).startswith(stdlib):
        return "python"
    return None


@pytest.mark.timeout(180)
def test_the_site_builds_offline_and_its_pages_refer_to_real_objects(tmp_path: Path) -> None:
    for needed in ("sphinx", "myst_parser", "furo"):
        pytest.importorskip(needed, reason="the docs extra is not installed")
    log = tmp_path / "warnings.txt"
    # -n reports every reference that resolves nowhere: offline, those are
    # the ones intersphinx would resolve on Read the Docs. Without -n the
    # build must have no warning at all (as with -W).
    for nitpicky in ([], ["-n"]):
        args = ["-E", "-q", *nitpicky, "-w", str(log), "-d", str(tmp_path / "doctrees")]
        run_python(
            None,
            "-m", "sphinx", "-b", "html", *args, "docs", str(tmp_path / "html"),
            env={"GREEN_ZMQ_DOCS_OFFLINE": "1"},
            cwd=ROOT,
            timeout=170,
        )
        if not nitpicky:
            assert log.read_text() == ""
    text = log.read_text()
    missing = r"^(.*?)(?::\d+)?: WARNING: py:\w+ reference target not found: (\S+)"
    found = re.findall(missing, text, re.M)
    other = [line for line in text.splitlines() if "WARNING" in line]
    assert len(other) == len(found), other
    # The pages of docs/ (and the files they include); the docstrings'
    # references are the modules' business.
    pages = [
        target
        for source, target in found
        if Path(source).parent in (ROOT, ROOT / "docs", ROOT / "docs" / "api")
    ]
    projects = {target: documented_by(target) for target in pages}
    unknown = sorted(target for target, project in projects.items() if project is None)
    assert not unknown, f"the docs refer to objects that do not exist: {unknown}"
    assert set(projects.values()) == set(PROJECTS)
