"""``bench --resume``, a parent killed outright, and two runs sharing one reports folder.

Fake children (tests/fixtures/fake_bench_child.py) stand in for the pytest-benchmark child, as
in test_runner.py. A case kept by a resume must come out byte-identical: its raw files and its
entry in results.json. Waits on other processes have generous deadlines for a loaded machine;
they guard against a hang and measure nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mnist_mlp import results, runs
from mnist_mlp.bench import child, resume, rundir, runner
from mnist_mlp.bench.profiles import get_profile, with_overrides
from mnist_mlp.cli.main import main
from mnist_mlp.config import TrainConfig
from mnist_mlp.errors import EXIT_BAD_INPUT, EXIT_CASES_FAILED, EXIT_INTERRUPTED, EXIT_OK, ResultFileError, UsageError
from mnist_mlp.locks import FileLock

from conftest import ROOT

FAKE = Path(__file__).parent / "fixtures" / "fake_bench_child.py"
DATASET = {"sha256": "0" * 64, "source": "test"}
CASES = ("jax-cpu", "torch-cpu", "numpy-cpu")
DEADLINE_S = 300  # a hang guard only


def fake(modes: dict[str, str], default: str = "ok", ran: list | None = None):
    def command(case, case_json, raw_json):
        if ran is not None:
            ran.append(case.case_id)
        return [sys.executable, str(FAKE), modes.get(case.case_id, default), str(case_json), str(raw_json)]
    return command


def options(out: Path, timeout: float = 60.0, backends=("jax", "torch", "numpy")) -> runner.BenchOptions:
    return runner.BenchOptions(
        profile=with_overrides(get_profile("quick"), timeout=timeout), profile_label="quick",
        train=TrainConfig(epochs=get_profile("quick").epochs, train_samples=get_profile("quick").train_samples),
        backends=tuple(backends), devices=("cpu",), out=out,
    )


def first_run(tmp_path: Path, modes: dict[str, str], *, dataset=DATASET, reporter=None, **kwargs):
    outcome = runner.run_benchmarks(
        options(tmp_path / "reports", **kwargs), child_command=fake(modes), peak_gflops=100.0, dataset=dataset,
        reporter=reporter,
    )
    return outcome


def resumed(run_dir: Path, modes: dict[str, str] | None = None, *, dataset=DATASET, ran: list | None = None):
    state = resume.prepare(run_dir, dataset=dataset)
    outcome = runner.run_benchmarks(state.options, child_command=fake(modes or {}, ran=ran), resume=state)
    return state, outcome


def statuses(run_dir: Path) -> dict[str, str]:
    return {case["id"]: case["status"] for case in results.load(run_dir)["cases"]}


def snapshot(run_dir: Path, case_id: str) -> tuple[dict[str, bytes], str]:
    """The case's raw files (bytes) and its entry in results.json, as JSON text."""
    files = {path.name: path.read_bytes() for path in sorted((run_dir / "raw").glob(f"{case_id}.*"))}
    (entry,) = [case for case in results.load(run_dir)["cases"] if case["id"] == case_id]
    return files, json.dumps(entry, indent=2)


def assert_kept(run_dir: Path, before: tuple[dict[str, bytes], str]) -> None:
    files, entry = before
    case_id = json.loads(entry)["id"]
    assert files, f"{case_id} had no raw files to keep"
    assert snapshot(run_dir, case_id) == before


# --------------------------------------------------------------------------- after Ctrl-C, a failure, a timeout


class _CtrlCInChild(runner.NullReporter):
    """Ctrl-C while ``case_id``'s child runs (raised from the runner's poll, as SIGINT would be)."""

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id

    def case_progress(self, plan, text, elapsed):
        if plan.case_id == self.case_id:
            raise KeyboardInterrupt


def test_resume_after_ctrl_c_runs_the_interrupted_and_unreached_cases(tmp_path):
    outcome = first_run(tmp_path, {"torch-cpu": "sleep"}, reporter=_CtrlCInChild("torch-cpu"))
    run_dir = outcome.run_dir
    assert outcome.exit_code == EXIT_INTERRUPTED
    assert statuses(run_dir) == {"jax-cpu": "ok", "torch-cpu": "interrupted", "numpy-cpu": "skipped"}
    assert (run_dir / "raw" / "torch-cpu.log").is_file()
    kept = snapshot(run_dir, "jax-cpu")

    ran: list[str] = []
    state, again = resumed(run_dir, ran=ran)
    assert state.rerun == {"torch-cpu": "interrupted", "numpy-cpu": "not run"}
    assert ran == ["torch-cpu", "numpy-cpu"]
    assert again.exit_code == EXIT_OK and again.run_dir == run_dir
    saved = results.load(run_dir)
    assert saved["status"] == "complete"
    assert statuses(run_dir) == dict.fromkeys(CASES, "ok")
    assert_kept(run_dir, kept)
    assert "fake child torch-cpu mode ok" in (run_dir / "raw" / "torch-cpu.log").read_text()  # the new try's log
    (entry,) = saved["resumed"]
    assert entry["cases"] == ["torch-cpu", "numpy-cpu"]
    assert [(r["id"], r["status"]) for r in entry["replaced"]] == [("torch-cpu", "interrupted"), ("numpy-cpu", "skipped")]
    for case in saved["cases"]:
        assert case["started_utc"] <= case["ended_utc"], case["id"]
        assert case["started_utc"].endswith("Z")
    assert [run_dir.name] == [p.name for p in (tmp_path / "reports").iterdir() if p.is_dir()]  # no second folder


def test_resume_after_a_failed_case_reruns_only_that_case(tmp_path):
    outcome = first_run(tmp_path, {"torch-cpu": "train-crash"})
    run_dir = outcome.run_dir
    assert outcome.exit_code == EXIT_CASES_FAILED
    assert statuses(run_dir) == {"jax-cpu": "ok", "torch-cpu": "failed", "numpy-cpu": "ok"}
    assert (run_dir / "raw" / "torch-cpu.training.json").is_file()  # what the crashed try left
    kept = [snapshot(run_dir, case_id) for case_id in ("jax-cpu", "numpy-cpu")]

    ran: list[str] = []
    state, again = resumed(run_dir, {"torch-cpu": "ok"}, ran=ran)
    assert ran == ["torch-cpu"] and again.exit_code == EXIT_OK
    for before in kept:
        assert_kept(run_dir, before)
    torch = {case["id"]: case for case in results.load(run_dir)["cases"]}["torch-cpu"]
    assert torch["status"] == "ok" and torch["training"] is None  # nothing of the crashed try's training
    assert not (run_dir / "raw" / "torch-cpu.training.json").exists()
    assert [case["id"] for case in results.load(run_dir)["cases"]] == list(CASES)  # plan order kept


def test_resume_after_a_timeout(tmp_path):
    outcome = first_run(tmp_path, {"jax-cpu": "sleep"}, timeout=2.0)
    run_dir = outcome.run_dir
    assert statuses(run_dir)["jax-cpu"] == "timeout"
    kept = snapshot(run_dir, "torch-cpu")
    state, again = resumed(run_dir)
    assert list(state.rerun) == ["jax-cpu"]
    assert state.options.profile.timeout == 2.0  # the run's own workload, not the default
    assert statuses(run_dir) == dict.fromkeys(CASES, "ok")
    assert_kept(run_dir, kept)


def test_a_resume_that_fails_again_keeps_the_history(tmp_path):
    run_dir = first_run(tmp_path, {"torch-cpu": "fail"}).run_dir
    resumed(run_dir, {"torch-cpu": "crash"})
    _, again = resumed(run_dir)
    saved = results.load(run_dir)
    assert again.exit_code == EXIT_OK and saved["status"] == "complete"
    assert [entry["replaced"][0]["reason"] for entry in saved["resumed"]] == [
        "some benchmarks failed (pytest exit 1)", "killed by signal SIGKILL"]


# --------------------------------------------------------------------------- a parent killed outright


def _group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` still runs (a zombie waiting to be reaped does not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _start_parent(tmp_path: Path, source: str) -> subprocess.Popen:
    script = tmp_path / "parent.py"
    script.write_text(source)
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(scratch)}
    env.pop("KERAS_BACKEND", None)
    return subprocess.Popen([sys.executable, str(script)], env=env, cwd=ROOT)


def _kill(proc: subprocess.Popen, *groups: int) -> None:
    """Clean-up: the parent, and any child group that a failing test left behind."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


PARENT = """\
import sys
from pathlib import Path
from mnist_mlp.bench import runner
from mnist_mlp.bench.profiles import get_profile, with_overrides
from mnist_mlp.config import TrainConfig

modes = {modes!r}

def command(case, case_json, raw_json):
    return [sys.executable, {fake!r}, modes.get(case.case_id, "ok"), str(case_json), str(raw_json)]

options = runner.BenchOptions(
    profile=with_overrides(get_profile("quick"), timeout=600.0), profile_label="quick", train=TrainConfig(epochs=2, train_samples=5_000),
    backends=("jax", "torch", "numpy"), devices=("cpu",), out=Path({out!r}),
)
runner.run_benchmarks(options, child_command=command, peak_gflops=100.0, dataset={dataset!r})
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from /proc")
def test_sigkill_of_the_parent_ends_the_child_marks_running_and_resumes(tmp_path):
    out = tmp_path / "reports"
    parent = _start_parent(tmp_path, PARENT.format(modes={"torch-cpu": "sleep"}, fake=str(FAKE), out=str(out), dataset=DATASET))
    groups: list[int] = []
    try:
        markers = tmp_path / "tmp"
        _wait_for(lambda: list(markers.glob("mnist-mlp-bench-*/torch-cpu.case.json.started")) or parent.poll() is not None,
                  "the torch case never started")
        assert parent.poll() is None, "the parent ended on its own"
        (marker,) = markers.glob("mnist-mlp-bench-*/torch-cpu.case.json.started")
        _wait_for(lambda: marker.read_text().strip().isdigit(), "no pid in the marker")
        groups.append(int(marker.read_text()))
        pgid = groups[0]
        assert os.getpgid(pgid) == pgid  # the child leads its own group, apart from the parent's
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        _wait_for(lambda: not _group_alive(pgid), "the child outlived its parent")
    finally:
        _kill(parent, *groups)
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    saved = results.load(run_dir)
    assert saved["status"] == "partial"
    assert statuses(run_dir) == {"jax-cpu": "ok", "torch-cpu": "running"}
    torch = saved["cases"][1]
    assert torch["started_utc"] and "ended_utc" not in torch

    (entry,) = runs.scan(out)[0]
    row = entry.row()
    assert row["incomplete"] and row["unfinished"] == ["torch-cpu running", "numpy-cpu missing"]
    index = runs.write_index(out).read_text()
    assert "partial, incomplete (torch-cpu running, numpy-cpu missing)" in index
    assert "mnist-mlp bench --resume" in index

    kept = snapshot(run_dir, "jax-cpu")
    ran: list[str] = []
    state, again = resumed(run_dir, ran=ran)
    assert state.rerun == {"torch-cpu": "running", "numpy-cpu": "missing"}
    assert ran == ["torch-cpu", "numpy-cpu"] and again.exit_code == EXIT_OK
    assert statuses(run_dir) == dict.fromkeys(CASES, "ok")
    assert_kept(run_dir, kept)
    (entry,) = runs.scan(out)[0]
    assert not entry.row()["incomplete"] and entry.row()["resumed"] == 1
    assert "complete, resumed" in runs.write_index(out).read_text()


SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_kernel_ends_a_child_whose_parent_was_killed(tmp_path):
    """The death signal alone (the sleeper runs no watchdog of its own)."""
    marker = tmp_path / "sleeper.pid"
    parent = _start_parent(tmp_path, (
        "import os, sys\nfrom pathlib import Path\nfrom mnist_mlp.bench.child import run_child\n"
        f"run_child([sys.executable, '-c', {SLEEPER!r}, {str(marker)!r}], env=dict(os.environ), timeout=600,"
        f" log_path=Path({str(tmp_path / 'sleeper.log')!r}))\n"
    ))
    groups: list[int] = []
    try:
        _wait_for(lambda: marker.is_file() and marker.read_text().isdigit() or parent.poll() is not None, "no sleeper")
        groups.append(int(marker.read_text()))
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        _wait_for(lambda: not _group_alive(groups[0]), "the sleeper outlived its parent")
    finally:
        _kill(parent, *groups)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from /proc")
def test_the_watchdog_ends_the_whole_group_without_the_kernels_help(tmp_path):
    """A child started without PR_SET_PDEATHSIG, with a grandchild: ``watch_parent`` ends both."""
    marker = tmp_path / "pids"
    sleeper = (
        "import os, subprocess, sys, time\nfrom mnist_mlp.bench.child import watch_parent\n"
        "assert watch_parent(0.05) is not None\n"
        "grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "open(sys.argv[1], 'w').write(f'{os.getpid()} {grandchild.pid}')\ntime.sleep(600)\n"
    )
    parent = _start_parent(tmp_path, (
        "import os, subprocess, sys, time\n"
        f"env = {{**os.environ, {child.PARENT_ENV!r}: str(os.getpid())}}\n"
        f"subprocess.Popen([sys.executable, '-c', {sleeper!r}, {str(marker)!r}], env=env, start_new_session=True)\n"
        "time.sleep(600)\n"
    ))
    groups: list[int] = []
    try:
        _wait_for(lambda: marker.is_file() and len(marker.read_text().split()) == 2 or parent.poll() is not None, "no sleeper")
        pid, grandchild = map(int, marker.read_text().split())
        groups.append(pid)
        assert os.getpgid(grandchild) == pid
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        _wait_for(lambda: not _group_alive(pid), "the watchdog did not end the group")
    finally:
        _kill(parent, *groups)


def test_the_watchdog_does_nothing_outside_a_case_child(monkeypatch):
    monkeypatch.delenv(child.PARENT_ENV, raising=False)
    assert child.watch_parent() is None  # pytest by hand
    monkeypatch.setenv(child.PARENT_ENV, "not a pid")
    assert child.watch_parent() is None


# --------------------------------------------------------------------------- refusals


@pytest.fixture
def real_sha(mnist):
    return {"sha256": mnist.sha256, "source": mnist.source}


def _failed_run(tmp_path: Path, dataset) -> Path:
    return first_run(tmp_path, {"torch-cpu": "fail"}, dataset=dataset).run_dir


def _tamper(run_dir: Path, change) -> None:
    path = run_dir / "results.json"
    run = json.loads(path.read_text())
    change(run)
    path.write_text(json.dumps(run, indent=2) + "\n")


@pytest.mark.parametrize("change, kind, named", [
    (lambda r: r["tool"].update(version="0.0.1"), "package version or commit", "tool.version '0.1.0' vs '0.0.1'"),
    (lambda r: r["tool"].update(commit="0" * 40), "package version or commit", "tool.commit"),
    (lambda r: r["software"].update(jax="0.0.1"), "software versions", "software.jax"),
    (lambda r: r["machine"]["cpu"].update(model="Other CPU 9000"), "machine", "machine.cpu.model"),
    (lambda r: r["machine"].update(host="elsewhere"), "machine", "machine.host"),
    (lambda r: r["machine"].update(memory_bytes=1 << 30), "machine", "machine.memory_bytes"),
    (lambda r: r["machine"]["cpu"].update(logical_cores=512), "machine", "machine.cpu.logical_cores"),
    (lambda r: r["dataset"].update(sha256="f" * 64), "dataset", "dataset sha256"),
    (lambda r: r["workload"]["profile"].update(min_rounds=99), "workload", "workload.profile.min_rounds 3 vs 99"),
], ids=["version", "commit", "software", "cpu", "host", "memory", "cores", "dataset", "workload"])
def test_resume_refuses_another_setup_with_one_line_and_exit_2(tmp_path, real_sha, capsys, monkeypatch, change, kind, named):
    run_dir = _failed_run(tmp_path, real_sha)
    _tamper(run_dir, change)
    before = (run_dir / "results.json").read_bytes(), snapshot(run_dir, "torch-cpu")
    monkeypatch.setenv(runner.CHILD_ENV, str(tmp_path / "no-child-may-start.py"))
    code = main(["bench", "--resume", str(run_dir)])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT == 2
    assert err.count("\n") == 1, err
    verb = "differ" if kind == "software versions" else "differs"
    assert err.startswith(f"mnist-mlp: error: --resume {run_dir}: the {kind} {verb} from the run's (here vs the run): "), err
    assert named in err and "start a new run" in err
    assert ((run_dir / "results.json").read_bytes(), snapshot(run_dir, "torch-cpu")) == before  # nothing touched


def test_resume_refuses_workload_options_that_differ_from_the_run(tmp_path, real_sha, capsys):
    run_dir = _failed_run(tmp_path, real_sha)
    assert main(["bench", "--resume", str(run_dir), "--epochs", "3", "--backends", "jax"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the workload differs" in err and "workload.train.epochs 3 vs 2" in err and "workload.backends" in err
    assert main(["bench", "--resume", str(run_dir), "--out", str(tmp_path / "elsewhere")]) == 2
    assert "--out" in capsys.readouterr().err


def test_several_differences_are_named_on_one_line(tmp_path, real_sha, capsys):
    run_dir = _failed_run(tmp_path, real_sha)
    _tamper(run_dir, lambda r: (r["software"].update(jax="0", torch="0", numpy="0", keras="0"), r["machine"].update(host="x")))
    assert main(["bench", "--resume", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the software versions and machine differ from the run's" in err
    assert "software versions: software." in err and "(+1 more); machine: machine.host 'vm' vs 'x'".replace("'vm'", repr(runner.machine.host_name())) in err


def test_resume_refuses_a_run_that_another_process_is_running(tmp_path):
    run_dir = first_run(tmp_path, {"torch-cpu": "fail"}).run_dir
    holder = rundir.hold(run_dir)
    try:
        with pytest.raises(UsageError, match="another mnist-mlp process is running this run now"):
            resume.prepare(run_dir, dataset=DATASET)
    finally:
        holder.release()
    resume.prepare(run_dir, dataset=DATASET).folder.release()  # free again once it is released


def test_resume_of_a_folder_without_a_run(tmp_path):
    with pytest.raises(ResultFileError, match="not a run folder"):
        resume.prepare(tmp_path, dataset=DATASET)


# --------------------------------------------------------------------------- through the CLI


def test_cli_resume_takes_the_workload_from_the_run_and_rewrites_the_reports(tmp_path, real_sha, capsys, monkeypatch):
    run_dir = _failed_run(tmp_path, real_sha)
    kept = snapshot(run_dir, "jax-cpu")
    script = tmp_path / "child.py"  # $MNIST_MLP_BENCH_CHILD runs `python SCRIPT CASE_JSON RAW_JSON`
    script.write_text(f"import runpy, sys\nsys.argv[1:1] = ['ok']\nrunpy.run_path({str(FAKE)!r}, run_name='__main__')\n")
    monkeypatch.setenv(runner.CHILD_ENV, str(script))
    code = main(["bench", "--resume", str(run_dir), "--profile", "quick", "--backends", "jax,torch,numpy"])  # same as the run's
    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    assert f"resuming {run_dir}: keeping jax-cpu (ok), numpy-cpu (ok); running torch-cpu (failed)" in out
    assert statuses(run_dir) == dict.fromkeys(CASES, "ok")
    assert_kept(run_dir, kept)
    assert (run_dir / "report.md").is_file()
    assert "complete, resumed" in (tmp_path / "reports" / "index.md").read_text()
    assert main(["bench", "--resume", str(run_dir / "results.json")]) == EXIT_OK
    assert "nothing to resume" in capsys.readouterr().out
    assert len(results.load(run_dir)["resumed"]) == 1  # the complete run was left alone


# --------------------------------------------------------------------------- two runs at once


def test_run_folders_never_collide(tmp_path):
    first = rundir.create(tmp_path, "20260101T000000Z_host")
    second = rundir.create(tmp_path, "20260101T000000Z_host")
    third = rundir.create(tmp_path, "20260101T000000Z_host")
    assert [f.path.name for f in (first, second, third)] == [
        "20260101T000000Z_host", "20260101T000000Z_host-2", "20260101T000000Z_host-3"]
    for folder in (first, second, third):
        folder.release()


def test_two_runs_started_together_into_one_folder(tmp_path):
    """Two processes, one run id (the same second): two folders, and an index that lists both."""
    out = tmp_path / "reports"
    go = tmp_path / "go"
    source = (
        "import time\nfrom pathlib import Path\nfrom mnist_mlp import runs\n"
        f"while not Path({str(go)!r}).exists():\n    time.sleep(0.01)\n"
        "from mnist_mlp.bench import runner\nrunner.new_run_id = lambda now=None: '20260101T000000Z_same'\n"
        + PARENT.format(modes={}, fake=str(FAKE), out=str(out), dataset=DATASET).replace(
            '("jax", "torch", "numpy")', '("jax", "numpy")')
        + "runs.write_index(Path(options.out))\n"
    )
    procs = []
    try:
        for name in ("a", "b"):
            folder = tmp_path / name
            folder.mkdir()
            procs.append(_start_parent(folder, source))
        go.touch()
        for proc in procs:
            assert proc.wait(timeout=DEADLINE_S) == 0
    finally:
        for proc in procs:
            _kill(proc)
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == ["20260101T000000Z_same", "20260101T000000Z_same-2"]
    for name in folders:
        saved = results.load(out / name)
        assert saved["run_id"] == name and saved["status"] == "complete"
    index = (out / "index.md").read_text()
    assert all(f"[{name}]({name}/)" in index for name in folders)
    assert not list(out.glob(".index.md.*"))


def test_the_index_is_written_under_its_lock(tmp_path):
    first_run(tmp_path, {}, backends=("numpy",))
    out = tmp_path / "reports"
    written = threading.Event()
    with FileLock(out / runs.LOCK_FILE):
        writer = threading.Thread(target=lambda: (runs.write_index(out), written.set()))
        writer.start()
        assert not written.wait(0.5)  # held here: the writer waits, it cannot write past the lock
        assert not (out / "index.md").exists()
    writer.join(DEADLINE_S)
    assert written.is_set() and "numpy-cpu" in (out / "index.md").read_text()


# --------------------------------------------------------------------------- the schema


def test_running_cases_and_the_resume_history_validate(tmp_path):
    run_dir = first_run(tmp_path, {}, backends=("numpy",)).run_dir
    run = results.load(run_dir)
    run["cases"][0]["status"] = "running"
    run["resumed"] = [{"at": "2026-01-01T00:00:00Z", "cases": ["numpy-cpu"], "replaced": []}]
    results.validate(run)
    for bad, message in (
        ({"at": 1, "cases": []}, "resumed\\[0\\].at should be str"),
        ({"at": "x", "cases": [1]}, "resumed\\[0\\].cases should list case ids"),
    ):
        run["resumed"] = [bad]
        with pytest.raises(ResultFileError, match=message):
            results.validate(run)
    run["resumed"] = None
    run["cases"][0]["started_utc"] = 5
    with pytest.raises(ResultFileError, match="started_utc should be str"):
        results.validate(run)


def test_resume_keeps_the_data_parallel_and_precision_variants(tmp_path):
    """A run with --data-parallel 1,2 resumes with the same cases; only the failed one runs again."""
    import argparse

    from mnist_mlp.cli.bench import add_commands, options_from_args

    sub = argparse.ArgumentParser().add_subparsers()
    add_commands(sub)
    args = sub.choices["bench"].parse_args(
        ["--profile", "quick", "--backends", "jax", "--devices", "cpu", "--implementations", "keras", "--data-parallel", "1,2",
         "--out", str(tmp_path / "reports")])
    opts = options_from_args(args)
    outcome = runner.run_benchmarks(opts, child_command=fake({"jax-cpu-dp2": "fail"}), peak_gflops=100.0, dataset=DATASET)
    assert statuses(outcome.run_dir) == {"jax-cpu": "ok", "jax-cpu-dp1": "ok", "jax-cpu-dp2": "failed"}
    ran: list[str] = []
    state, again = resumed(outcome.run_dir, ran=ran)
    assert ran == ["jax-cpu-dp2"] and again.exit_code == EXIT_OK
    assert state.options.variants == opts.variants


def test_a_weak_scaling_run_resumes_with_its_own_scaling(tmp_path):
    """--scaling and --lr-rule left out of a resume come from the run, not from argparse defaults."""
    import argparse

    from mnist_mlp.cli.bench import add_commands, options_from_args, options_given

    sub = argparse.ArgumentParser().add_subparsers()
    add_commands(sub)
    opts = options_from_args(sub.choices["bench"].parse_args(
        ["--profile", "quick", "--backends", "jax", "--devices", "cpu", "--data-parallel", "2", "--scaling", "weak",
         "--lr-rule", "linear", "--out", str(tmp_path / "reports")]))
    weak = [plan for plan in runner.plan_cases(opts.backends, opts.devices, variants=opts.variants) if "dp2" in plan.case_id]
    outcome = runner.run_benchmarks(opts, child_command=fake({weak[0].case_id: "fail"}), peak_gflops=100.0, dataset=DATASET)
    given = options_given(sub.choices["bench"].parse_args(["--resume", str(outcome.run_dir)]))
    assert "scaling" not in given and "lr_rule" not in given
    state = resume.prepare(outcome.run_dir, given=given, dataset=DATASET)
    assert state.options.variants == opts.variants and list(state.rerun) == [weak[0].case_id]


def test_first_seed_reaches_every_case_and_survives_a_resume(tmp_path):
    """``--first-seed 10 --seeds 2`` trains seeds 10 and 11 (seeds a calibration never saw), and a
    resume of that run keeps them rather than falling back to 0 and 1."""
    import argparse

    from mnist_mlp.cli.bench import add_commands, options_from_args

    sub = argparse.ArgumentParser().add_subparsers()
    add_commands(sub)
    args = sub.choices["bench"].parse_args(
        ["--profile", "quick", "--backends", "jax,torch", "--devices", "cpu", "--implementations", "keras", "--seeds", "2", "--first-seed", "10",
         "--out", str(tmp_path / "reports")])
    opts = options_from_args(args)
    assert opts.seeds == [10, 11]
    seen: dict[str, tuple] = {}

    def command(case, case_json, raw_json):
        seen[case.case_id] = case.seeds
        return fake({"torch-cpu": "fail"})(case, case_json, raw_json)

    outcome = runner.run_benchmarks(opts, child_command=command, peak_gflops=100.0, dataset=DATASET)
    assert seen == {"jax-cpu": (10, 11), "torch-cpu": (10, 11)}
    assert results.load(outcome.run_dir)["workload"]["seeds"] == [10, 11]
    seen.clear()
    state = resume.prepare(outcome.run_dir, dataset=DATASET)
    runner.run_benchmarks(state.options, child_command=command, resume=state)
    assert state.options.seeds == [10, 11] and seen == {"torch-cpu": (10, 11)}
    # a first seed given with --resume, 0 included, must agree with the run's
    with pytest.raises(UsageError, match="workload differs"):
        resume.prepare(outcome.run_dir, given={"first_seed": 0}, dataset=DATASET)


def test_first_seed_must_not_be_negative(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--first-seed", "-1"])
    assert exited.value.code == EXIT_BAD_INPUT
    assert "--first-seed: must be at least 0, got -1" in capsys.readouterr().err


def test_an_open_run_resumes_with_the_recipes_it_raced_and_refuses_others(tmp_path, capsys):
    """--recipe is part of the open run's workload: a resume races the same file, and refuses
    another file or the same file changed since (its SHA-256), in one line, exit 2."""
    import argparse

    from mnist_mlp.cli.bench import add_commands, options_from_args

    recipe = {"batch_size": 256, "learning_rate": 0.008, "epochs": 8, "schedule": "linear-decay"}
    mine, other = tmp_path / "mine.json", tmp_path / "other.json"
    mine.write_text(json.dumps({"name": "mine", **recipe}))
    other.write_text(json.dumps({"name": "other", **recipe, "epochs": 9}))
    sub = argparse.ArgumentParser().add_subparsers()
    add_commands(sub)
    args = sub.choices["bench"].parse_args(
        ["--profile", "open", "--backends", "jax", "--devices", "cpu", "--implementations", "keras", "--seeds", "2",
         "--recipe", str(mine), "--seed-recipe-seeds", "0", "--out", str(tmp_path / "reports")])
    outcome = runner.run_benchmarks(options_from_args(args), child_command=fake({"jax-cpu": "fail"}), peak_gflops=100.0,
                                    dataset=DATASET)
    assert results.load(outcome.run_dir)["workload"]["recipes"]["file"] == str(mine.resolve())
    state = resume.prepare(outcome.run_dir, dataset=DATASET)
    assert state.options.recipe_file == str(mine.resolve()) and state.options.profile.seed_recipe_seeds == 0
    state.folder.release()
    with pytest.raises(UsageError, match=r"workload\.recipes\.file"):
        resume.prepare(outcome.run_dir, given={"recipe": other}, dataset=DATASET)
    mine.write_text(json.dumps({"name": "mine", **recipe, "learning_rate": 0.01}))
    with pytest.raises(UsageError, match=r"workload\.recipes\.sha256"):
        resume.prepare(outcome.run_dir, dataset=DATASET)
    mine.unlink()  # the file the run raced is gone: the resume says so, not "--recipe: no such file"
    with pytest.raises(UsageError, match=rf"^--resume {outcome.run_dir}: the recipe file the run raced, .*mine\.json, is not there"):
        resume.prepare(outcome.run_dir, dataset=DATASET)
