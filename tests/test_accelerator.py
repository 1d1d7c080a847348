"""The two fast paths: which one runs, why, and that the suite really tests each.

green_zmq runs the compiled twin of ``_fastpath.py`` where it was built and
can reach pyzmq's own libzmq, and the pure-Python module otherwise, or
when ``GREEN_ZMQ_PURE_PYTHON`` is set (design.md, "The compiled fast
path"). CI runs the whole suite both ways; these tests check that each
run is the way it says, that children run the same build, that the import
refuses any libzmq but pyzmq's, and that the differential test finds a
deviation put into either path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import zmq as plain_zmq

import green_zmq
from green_zmq import _accelerator, _fastpath
from green_zmq.core import Socket
from helpers import run_python

FORCED_PURE = os.environ.get("GREEN_ZMQ_PURE_PYTHON", "") not in ("", "0")
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

try:
    from green_zmq import _c_fastpath
except ImportError:
    _c_fastpath = None


def _compiled(function: object) -> bool:
    return type(function).__name__ == "cython_function_or_method"


def test_the_path_that_runs_is_the_one_reported() -> None:
    assert green_zmq.accelerated is _accelerator.accelerated
    assert green_zmq.accelerated_reason == _accelerator.reason
    # Socket.send is the fast path's send, of whichever module took its place.
    assert Socket.send is _fastpath.send
    assert _compiled(Socket.send) is green_zmq.accelerated
    assert _compiled(Socket.recv_multipart) is False  # core's adapter, always Python
    if FORCED_PURE:
        assert not green_zmq.accelerated
        assert green_zmq.accelerated_reason == "pure Python: GREEN_ZMQ_PURE_PYTHON is set"
    elif _c_fastpath is not None:
        assert green_zmq.accelerated, green_zmq.accelerated_reason
        assert green_zmq.accelerated_reason.startswith("compiled, calling pyzmq's libzmq")
    else:
        assert not green_zmq.accelerated
        assert "not available" in green_zmq.accelerated_reason


def test_a_child_process_runs_the_same_build() -> None:
    # tests/helpers.run_python puts the folder this process imported
    # green_zmq from first, so that children of the suite test the same
    # build (an installed wheel's compiled module, not the checkout's sources).
    result = run_python("import green_zmq; print(green_zmq.__file__, green_zmq.accelerated)")
    path, accelerated = result.stdout.split()
    assert Path(path) == Path(green_zmq.__file__)
    assert accelerated == str(green_zmq.accelerated)


@pytest.mark.parametrize("value", ["1", "yes"])
def test_the_environment_variable_forces_pure_python(value: str) -> None:
    result = run_python(
        "import green_zmq, green_zmq._fastpath as f;"
        "print(green_zmq.accelerated, type(f.send).__name__)",
        env={"GREEN_ZMQ_PURE_PYTHON": value},
    )
    assert result.stdout.split() == ["False", "function"]


@pytest.mark.parametrize("value", [None, "", "0"])
def test_unset_empty_or_zero_leaves_the_build_s_choice(value: str | None) -> None:
    result = run_python(
        "import green_zmq; print(green_zmq.accelerated)", env={"GREEN_ZMQ_PURE_PYTHON": value}
    )
    assert result.stdout.split() == [str(_c_fastpath is not None)]


def test_a_compiled_twin_older_than_the_source_is_left_for_pure_python() -> None:
    # A twin that lacks a name the source exports (the source edited, the
    # extension not rebuilt) must not break the import of green_zmq.
    result = run_python(
        "import sys, types;"
        "stale = types.ModuleType('green_zmq._c_fastpath'); stale.send = None;"
        "sys.modules['green_zmq._c_fastpath'] = stale;"
        "import green_zmq, green_zmq._fastpath as f;"
        "print(green_zmq.accelerated, type(f.send).__name__);"
        "print(green_zmq.accelerated_reason)",
        env={"GREEN_ZMQ_PURE_PYTHON": None},
    )
    flags, reason = result.stdout.splitlines()
    assert flags.split() == ["False", "function"]
    assert "older than _fastpath.py" in reason and "recv_multipart" in reason


# -- one libzmq, always ---------------------------------------------------------------

EXTENSION = _accelerator.pyzmq_extension()
VERSION = plain_zmq.zmq_version_info()


@pytest.mark.parametrize(
    "found, why",
    [
        (("pyzmq's extension module is not loaded", None, None, 0), "not loaded"),
        ((None, (1, 2, 3), "/x/libzmq.so.5", 1), r"libzmq \(1, 2, 3\) found, but pyzmq reports"),
        ((None, VERSION, "/x/libzmq.so.5", 2), "2 copies of libzmq are loaded"),
        ((None, VERSION, "/x/other.so", 0), "not libzmq"),
    ],
    ids=["unresolved", "other version", "two copies", "elsewhere"],
)
def test_the_import_refuses_any_doubt_about_which_libzmq(found: tuple, why: str) -> None:
    with pytest.raises(ImportError, match=why):
        _accelerator.check_libzmq(*found)


def test_the_import_accepts_pyzmq_s_libzmq_whether_shared_or_linked_in() -> None:
    _accelerator.check_libzmq(None, VERSION, "/x/libzmq-abc.so.5", 1)
    _accelerator.check_libzmq(None, VERSION, EXTENSION, 0)


@pytest.mark.skipif(_c_fastpath is None, reason="the compiled fast path was not built here")
def test_the_compiled_module_calls_the_libzmq_this_process_mapped_for_pyzmq() -> None:
    # The check ran at import (else the module would not be importable);
    # here its answer is compared with the kernel's list of mappings.
    result = run_python(
        """
        import zmq
        from green_zmq import _accelerator, _c_fastpath
        print(_accelerator.reason if _accelerator.accelerated else "refused")
        print(open("/proc/self/maps").read())
        """,
        env={"GREEN_ZMQ_PURE_PYTHON": None},
    )
    reason, maps = result.stdout.split("\n", 1)
    library = reason.rsplit(" in ", 1)[1]
    assert Path(library).resolve().as_posix() in maps
    mapped = {line.split()[-1] for line in maps.splitlines() if "libzmq" in line}
    assert len(mapped) <= 1, mapped


# -- the differential test finds a deviation put into either path ---------------------

# Each mutant drops the last byte of a frame received by one path's
# NOBLOCK attempt: in the pure path, pyzmq's recv called from _fastpath.py
# (the compiled module receives copied frames in C instead); in the
# compiled path, the C receive of the .pxd. (file, line as it is, as mutated)
MUTANTS = {
    "pure": (
        "_fastpath.py",
        "flags | NOBLOCK)  # type: ignore[name-defined]  # noqa: F821\n"
        "            return _base_recv(sock, flags | NOBLOCK, copy, track)\n",
        "flags | NOBLOCK)  # type: ignore[name-defined]  # noqa: F821\n"
        "            return _base_recv(sock, flags | NOBLOCK, copy, track)[:-1]\n",
    ),
    "compiled": (
        "_c_fastpath.pxd",
        "PyBytes_FromStringAndSize(<char *>gz_msg_data(&msg), gz_msg_size(&msg))",
        "PyBytes_FromStringAndSize(<char *>gz_msg_data(&msg), gz_msg_size(&msg) - 1)",
    ),
}

# What a copy of the project needs to build its extension with setup.py.
BUILD_FILES = ["setup.py", "setup.cfg", "pyproject.toml", "README.md", "LICENSE"]


def _mutant(tmp_path: Path, path: str) -> Path:
    """A copy of the project with ``path``'s mutation, built as that path needs."""
    name, original, mutated = MUTANTS[path]
    project = tmp_path / "project"
    shutil.copytree(
        ROOT / "green_zmq",
        project / "green_zmq",
        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"),
    )
    source = project / "green_zmq" / name
    text = source.read_text()
    assert text.count(original) == 1, f"the {path} mutant no longer fits {name}"
    source.write_text(text.replace(original, mutated))
    if path == "compiled":
        for file in BUILD_FILES:
            shutil.copy(ROOT / file, project / file)
        shutil.copy(ROOT / "green_zmq-monkey.pth", project)
        build = subprocess.run(
            [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert build.returncode == 0, build.stdout + build.stderr
        assert list((project / "green_zmq").glob("_c_fastpath*.so")), build.stderr
    return project


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", ["pure", "compiled"])
def test_the_differential_test_finds_a_deviation_in_either_path(
    path: str, tmp_path: Path
) -> None:
    if not (ROOT / "setup.py").is_file():
        pytest.skip("no sources beside the tests to make the mutant of")
    if path == "compiled":
        pytest.importorskip("Cython", reason="building the mutant needs Cython")
    project = _mutant(tmp_path, path)
    env = {
        "PYTHONPATH": str(project),
        "GREEN_ZMQ_PURE_PYTHON": "1" if path == "pure" else None,
    }
    which = run_python(
        "import green_zmq; print(green_zmq.__file__, green_zmq.accelerated)", env=env
    )
    assert which.stdout.split() == [
        str(project / "green_zmq" / "__init__.py"),
        str(path == "compiled"),
    ], which.stdout
    # The bounded run of the generated scenarios, as the suite runs it.
    result = run_python(
        None,
        "-m",
        "pytest",
        str(TESTS / "test_differential.py"),
        "-k",
        "test_generated_scenarios",
        "-x",
        "-q",
        env=env,
        cwd=tmp_path,
        timeout=240,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Divergence" in result.stdout, result.stdout
    assert "1 failed" in result.stdout, result.stdout
