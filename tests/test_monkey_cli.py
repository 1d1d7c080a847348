"""python -m green_zmq.monkey, the child-process hook and gevent's patch_all(green_zmq=...)."""

from __future__ import annotations

import os
import signal
import site
import textwrap
import zipfile
from ast import literal_eval
from pathlib import Path

import pytest

from helpers import printed_facts, run_plain_and_monkey, run_python

pytestmark = pytest.mark.timeout(60)

FIXTURES = str(Path(__file__).with_name("monkey_fixtures"))
ENV = {"PYTHONPATH": FIXTURES, "GREEN_ZMQ_MONKEY": None}

REPORT = """
import sys, zmq, zmq.green, gevent.monkey, green_zmq
from green_zmq import monkey
print(__name__, sys.argv[1:], gevent.monkey.is_module_patched("socket"),
      zmq.green.Context is green_zmq.Context, zmq.Context is green_zmq.Context)
"""


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source))
    return path


def monkey(*args: str, cwd: Path | None = None, check: bool = True, timeout: float = 50):
    return run_python(
        None, "-m", "green_zmq.monkey", *args, env=ENV, cwd=cwd, check=check, timeout=timeout
    )


def test_runs_a_script_as_main_patched_with_its_argv_and_exit_status(tmp_path):
    script = write(tmp_path / "prog.py", REPORT + "sys.exit(7)\n")
    result = monkey(str(script), "a", "--zmq", check=False)
    assert result.returncode == 7, result.stderr
    assert result.stdout.split("\n")[0] == "__main__ ['a', '--zmq'] True True False"


def test_zmq_option_makes_plain_zmq_green_too(tmp_path):
    script = write(tmp_path / "prog.py", REPORT)
    assert monkey("--zmq", str(script)).stdout.strip() == "__main__ [] True True True"


def test_runs_a_module_with_dash_m(tmp_path):
    write(tmp_path / "progmod.py", REPORT + "print(sys.argv[0])\n")
    lines = monkey("--zmq", "-m", "progmod", "x", "y", cwd=tmp_path).stdout.split("\n")
    assert lines[0] == "__main__ ['x', 'y'] True True True"
    assert lines[1] == str(tmp_path / "progmod.py")


def test_a_scripts_traceback_is_the_one_python_prints(tmp_path):
    script = write(
        tmp_path / "broken.py",
        """
        def fail():
            raise ValueError("broken")
        fail()
        """,
    )
    ours = monkey(str(script), check=False)
    python = run_python(None, str(script), env=ENV, check=False)
    assert ours.returncode == python.returncode == 1
    assert ours.stderr == python.stderr
    assert "ValueError: broken" in ours.stderr


SHOW_MAIN = Path(FIXTURES) / "show_main.py"


def place_program(tmp_path: Path, way: str) -> tuple[list[str], str | None]:
    """Put show_main.py where ``way`` runs it from; (python's arguments, its stdin)."""
    source = SHOW_MAIN.read_text()
    if way == "stdin":
        return ["-", "a", "b"], source
    if way == "module":
        write(tmp_path / "shown.py", source)
        return ["-m", "shown", "a"], None
    if way == "directory":
        (tmp_path / "appdir").mkdir()
        write(tmp_path / "appdir" / "__main__.py", source)
        return ["appdir", "a"], None
    if way == "zip":
        with zipfile.ZipFile(tmp_path / "app.pyz", "w") as archive:
            archive.writestr("__main__.py", source)
        return ["app.pyz"], None
    (tmp_path / "real").mkdir()
    write(tmp_path / "real" / "shown.py", source)
    if way == "symlink":
        (tmp_path / "links").mkdir()
        (tmp_path / "links" / "shown_link.py").symlink_to("../real/shown.py")
        return ["links/shown_link.py", "a"], None
    return ["./real/shown.py", "a"], None


@pytest.mark.parametrize(
    "way, safe_path",
    [
        ("script", False),
        ("symlink", False),
        ("stdin", False),
        ("directory", False),
        ("zip", False),
        ("module", False),
        # PYTHONSAFEPATH (3.11+): no script directory on sys.path.
        ("script", True),
        ("stdin", True),
    ],
)
def test_the_program_sees_what_python_shows_it(tmp_path, way, safe_path):
    # sys.argv, sys.path[0], __file__, __loader__, __spec__, the globals
    # __main__ starts with: nothing of the runner shows, patched or not.
    args, stdin = place_program(tmp_path, way)
    env = {**ENV, "PYTHONSAFEPATH": "1" if safe_path else None}
    plain, patched = run_plain_and_monkey(*args, env=env, cwd=tmp_path, stdin=stdin)
    assert patched.stdout == plain.stdout
    assert "argv: " in plain.stdout


@pytest.mark.parametrize("way", ["script", "module"])
def test_a_keyboard_interrupt_ends_the_program_as_python_ends_it(way):
    # The traceback from the program's first frame (python -m's runpy frames
    # for a module, as python shows them), and death by SIGINT.
    args = [str(Path(FIXTURES) / "interrupted.py")] if way == "script" else ["-m", "interrupted"]
    plain, patched = run_plain_and_monkey(*args, env=ENV, check=False)
    assert plain.returncode == -signal.SIGINT
    assert (patched.returncode, patched.stderr) == (plain.returncode, plain.stderr)
    assert "in wait_for_input" in plain.stderr


def test_a_modules_traceback_is_the_one_python_dash_m_prints(tmp_path):
    write(tmp_path / "broken.py", "def fail():\n    raise ValueError('broken')\nfail()\n")
    plain, patched = run_plain_and_monkey("-m", "broken", env=ENV, cwd=tmp_path, check=False)
    assert plain.returncode == 1
    assert (patched.returncode, patched.stderr) == (plain.returncode, plain.stderr)


def test_a_syntax_error_is_reported_as_python_reports_it(tmp_path):
    # (Not one at the end of the file: there Python 3.9 reports the line after
    # it when it reads a file, and the line itself when it compiles a string.)
    write(tmp_path / "bad.py", "print('never')\nx = = 1\n")
    plain, patched = run_plain_and_monkey("bad.py", env=ENV, cwd=tmp_path, check=False)
    assert plain.returncode == 1
    assert (patched.returncode, patched.stderr) == (plain.returncode, plain.stderr)


def test_a_missing_script_exits_2_with_one_line(tmp_path):
    missing = tmp_path / "nope.py"
    ours = monkey(str(missing), check=False)
    python = run_python(None, str(missing), env=ENV, check=False)
    assert ours.returncode == python.returncode == 2
    assert ours.stderr.count("\n") == 1
    # The same words as python's own, after the program name.
    assert ours.stderr.split(": ", 1)[1] == python.stderr.split(": ", 1)[1]


def test_a_missing_module_fails_as_python_dash_m_does(tmp_path):
    ours = monkey("-m", "no_such_module_here", check=False, cwd=tmp_path)
    python = run_python(None, "-m", "no_such_module_here", env=ENV, cwd=tmp_path, check=False)
    assert ours.returncode == python.returncode == 1
    assert ours.stderr == python.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus", "prog.py"], "unknown option '--bogus'"),
        ([], "a SCRIPT or -m MODULE is required"),
        (["-m"], "argument -m: expected a module name"),
    ],
)
def test_bad_command_lines_exit_2_with_usage(args, message):
    result = monkey(*args, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m green_zmq.monkey")
    assert result.stderr.strip().endswith(f"error: {message}")


def test_help():
    result = monkey("--help")
    assert result.stdout.startswith("usage: python -m green_zmq.monkey [--zmq] [GEVENT OPTIONS]")


@pytest.mark.parametrize("option, plain_zmq", [([], False), (["--zmq"], True)])
def test_child_python_processes_are_patched_the_same_way(tmp_path, option, plain_zmq):
    script = write(
        tmp_path / "parent.py",
        """
        import subprocess, sys
        child = "import zmq, zmq.green, gevent.monkey, green_zmq; print(" \\
            "gevent.monkey.is_module_patched('socket'), " \\
            "zmq.green.Context is green_zmq.Context, zmq.Context is green_zmq.Context)"
        print(subprocess.run([sys.executable, "-c", child], capture_output=True,
                             text=True, check=True).stdout.strip())
        """,
    )
    assert monkey(*option, str(script)).stdout.strip() == f"True True {plain_zmq}"


GEVENT_PATCHING = str(Path(FIXTURES) / "gevent_patching.py")


@pytest.mark.parametrize(
    "options",
    [["--no-thread"], ["--no-socket", "--no-dns", "--no-ssl"], ["--no-Event", "--no-aggressive"]],
)
def test_gevent_options_are_taken_as_python_dash_m_gevent_monkey_takes_them(options):
    ours = printed_facts(monkey(*options, GEVENT_PATCHING).stdout)
    gevents = printed_facts(
        run_python(None, "-m", "gevent.monkey", *options, GEVENT_PATCHING, env=ENV).stdout
    )
    # What gevent's runner leaves out: its child processes are not patched.
    assert gevents.pop("patched in a child process") == "[]"
    assert ours.pop("patched in a child process") == ours["patched"]
    # gevent counts logging as patched when it was imported before the
    # patching (it re-makes its locks then). green_zmq's import brings it
    # (asyncio does); gevent.monkey's own does so from gevent 24 on, but
    # not before: under gevent 23.9 only our runner lists it. Which module
    # imported logging first is not what the options decide.
    for facts in (ours, gevents):
        facts["patched"] = str([m for m in literal_eval(facts["patched"]) if m != "logging"])
    assert ours == gevents


def test_naming_modules_patches_only_those():
    # As gevent's runner documents it ("only the modules specified on the
    # command line will be patched"); gevent 24 and newer's runner patches
    # everything, as if the option were not there.
    facts = printed_facts(monkey("--socket", "--time", GEVENT_PATCHING).stdout)
    assert facts["patched"] == "['socket', 'time']"
    assert facts["patched in a child process"] == "['socket', 'time']"


@pytest.mark.parametrize("option", ["--bogus", "--no-bogus", "--no-verbose", "--no-zmq"])
def test_options_gevents_runner_refuses_are_refused(option):
    gevents = run_python(None, "-m", "gevent.monkey", option, GEVENT_PATCHING, env=ENV, check=False)
    assert gevents.returncode != 0 and "patched" not in gevents.stdout
    ours = monkey(option, GEVENT_PATCHING, check=False)
    assert ours.returncode == 2 and ours.stdout == ""
    assert ours.stderr.strip().endswith(f"error: unknown option {option!r}")


def test_installing_changes_nothing_for_a_program_that_did_not_ask():
    output = run_python(
        """
        import sys
        from gevent import monkey
        monkey.patch_all()
        # gevent loaded every plugin, ours among them: nothing of green_zmq came along.
        assert "green_zmq" not in sys.modules and "zmq" not in sys.modules, sorted(sys.modules)
        import zmq.green
        assert zmq.green.Context.__module__ == "zmq.green.core"
        print("untouched")
        """,
        env=ENV,
    ).stdout
    assert output.strip() == "untouched"
    # ... although the startup hook is installed and would act on the variable.
    hooks = [Path(p) / "green_zmq-monkey.pth" for p in site.getsitepackages()]
    assert any(h.exists() for h in hooks), hooks


@pytest.mark.parametrize("value", ["1", "yes", "zmq --bogus", "zmq.green zmq"])
def test_a_bad_variable_value_costs_one_line_and_the_program_runs_unpatched(value):
    # The hook runs in every Python process of the environment, pip's too.
    code = "import zmq.green; print(zmq.green.Context.__module__)"
    unset = run_python(code, env=ENV)
    bad = run_python(code, env={**ENV, "GREEN_ZMQ_MONKEY": value})
    assert bad.stdout == unset.stdout
    assert bad.stderr.count("\n") == 1, bad.stderr
    assert f"GREEN_ZMQ_MONKEY={value!r}" in bad.stderr
    assert "expected 'zmq.green' or 'zmq', then any of python -m gevent.monkey's" in bad.stderr


@pytest.mark.parametrize(
    "value, plain_zmq",
    # "green" is green_zmq 0.1.0's spelling of "zmq.green", still accepted.
    [("zmq.green", False), ("zmq", True), ("green", False)],
)
def test_the_variable_names_what_to_patch_as_is_patched_does(value, plain_zmq):
    output = run_python(
        """
        from green_zmq import monkey
        print(monkey.is_patched("zmq.green"), monkey.is_patched("zmq"))
        """,
        env={**ENV, "GREEN_ZMQ_MONKEY": value},
    ).stdout
    assert output.strip() == f"True {plain_zmq}"


@pytest.mark.parametrize(
    "option, green, plain_zmq",
    # True is green_zmq 0.1.0's spelling of "zmq.green", still accepted.
    [("'zmq.green'", True, False), ("'zmq'", True, True), ("True", True, False)],
)
def test_gevent_patch_all_opt_in(option, green, plain_zmq):
    output = run_python(
        f"""
        from gevent import monkey
        monkey.patch_all(green_zmq={option})
        import zmq, zmq.green, green_zmq
        print(zmq.green.Context is green_zmq.Context, zmq.Context is green_zmq.Context)
        """,
        env=ENV,
    ).stdout
    assert output.strip() == f"{green} {plain_zmq}"


def test_gevent_patch_all_refuses_a_bad_green_zmq_value():
    result = run_python(
        "from gevent import monkey; monkey.patch_all(green_zmq='everything')",
        env=ENV,
        check=False,
    )
    assert result.returncode == 1
    assert "patch_all(green_zmq='everything'): expected 'zmq.green' or 'zmq'" in result.stderr


def test_the_package_and_the_patch_work_together_under_the_cli(tmp_path):
    # The third-party package, imported by a script run through the CLI,
    # with the hub busy elsewhere: everything of the package still works.
    script = write(
        tmp_path / "app.py",
        """
        import gevent, greenish_lib
        assert greenish_lib.which_zmq() == "green_zmq.core"
        with gevent.Timeout(10):
            assert greenish_lib.recv_with_timeout(100) == "timed out"
            assert greenish_lib.several_waiters(3) == [b"0", b"1", b"2"]
            assert greenish_lib.echo_through_stream(20) >= 10
        print("ok")
        """,
    )
    assert monkey(str(script)).stdout.strip() == "ok"


def test_sys_path_starts_with_the_scripts_directory(tmp_path):
    script = write(tmp_path / "where.py", "import sys; print(sys.path[0])")
    assert monkey(str(script)).stdout.strip() == str(tmp_path)


def test_a_console_script_on_path_runs_by_name(tmp_path):
    # python -m green_zmq.monkey locust -f locustfile.py: locust is a file on PATH.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = write(bin_dir / "greentool", "#!/usr/bin/env python\n" + REPORT)
    tool.chmod(0o755)
    env = {**ENV, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = run_python(
        None, "-m", "green_zmq.monkey", "greentool", "-f", "x.py", env=env, cwd=tmp_path
    )
    assert result.stdout.strip() == "__main__ ['-f', 'x.py'] True True False"


def test_context_instance_from_several_greenlets_under_the_cli(tmp_path):
    # The CLI imports pyzmq before patch_all(); Context.instance()'s lock must
    # still be a gevent one, or the second greenlet holds the thread forever.
    script = write(
        tmp_path / "instances.py",
        """
        import threading, time, zmq.green as zmq
        class Slow(zmq.Context):
            def __init__(self, *args, **kwargs):
                time.sleep(0.2)  # patched: other greenlets run meanwhile
                super().__init__(*args, **kwargs)
        got = []
        threads = [threading.Thread(target=lambda: got.append(Slow.instance())) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert len(got) == 3 and all(c is got[0] for c in got), got
        got[0].term()
        print("ok")
        """,
    )
    assert monkey(str(script), timeout=20).stdout.strip() == "ok"
