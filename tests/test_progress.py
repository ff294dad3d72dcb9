"""Progress while a run goes: the child's progress file, the time-left estimates, what the terminal shows.

Pure functions and fake streams (a StringIO that says it is or is not a terminal): no framework,
no child, except one run of the runner with a fake child whose structured progress must show.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from mnist_mlp.bench import eta, progress_file, runner
from mnist_mlp.bench.profiles import get_profile, with_overrides
from mnist_mlp.bench.progress import LogThrottle, TerminalReporter, plan_text, status_text
from mnist_mlp.bench.progress_file import ChildProgress, ProgressWriter
from mnist_mlp.config import TrainConfig

FAKE = Path(__file__).parent / "fixtures" / "fake_bench_child.py"
NOW = 1_000_000.0


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def training(epoch: int, epochs: int, seconds: tuple[float, ...], *, seeds: int = 1, seed_index: int = 0,
             at: float = NOW) -> ChildProgress:
    return ChildProgress(phase="training", seed=seed_index, seed_index=seed_index, seeds=seeds, epoch=epoch,
                         epochs=epochs, epoch_seconds=seconds, time=at)


def bench_options(epochs: int = 25, seeds: int = 1, train_samples: int | None = None,
                  out: Path = Path(__file__).parent / "no-such-reports") -> runner.BenchOptions:
    """The options of a run whose output folder holds no earlier run (unless ``out`` says otherwise)."""
    return runner.BenchOptions(
        profile=with_overrides(get_profile("full"), seeds=seeds), profile_label="full",
        train=TrainConfig(epochs=epochs, train_samples=train_samples), out=out,
    )


PLANS = [
    runner.CasePlan("tensorflow-cpu", "tensorflow", "cpu"),
    runner.CasePlan("tensorflow-gpu", "tensorflow", "gpu", "no GPU on this machine"),
    runner.CasePlan("jax-cpu", "jax", "cpu"),
    runner.CasePlan("numpy-cpu", "numpy", "cpu"),
]


# --------------------------------------------------------------------------- the progress file


def test_writer_and_parser_round_trip(tmp_path):
    clock = Clock(10.0)
    path = tmp_path / "case.progress"
    writer = ProgressWriter(path, clock=clock)
    assert progress_file.read(path).phase == "imports"
    clock.now = 13.0
    writer.phase("data")
    clock.now = 14.0
    writer.epoch_started(seed=0, seed_index=0, seeds=2, epoch=1, epochs=3)
    clock.now = 19.0
    writer.epoch_finished(next_epoch=2)
    seen = progress_file.read(path)
    assert (seen.phase, seen.seed, seen.seeds, seen.epoch, seen.epochs) == ("training", 0, 2, 2, 3)
    assert seen.epoch_seconds == (5.0,)
    assert seen.phase_seconds == {"imports": 3.0, "data": 1.0}
    assert seen.describe() == "training seed 0 (1/2), epoch 2/3"
    clock.now = 21.0
    writer.phase("inference sweep", detail="direct, batch 256", step=5, steps=6)
    assert progress_file.read(path).describe() == "inference sweep 5/6: direct, batch 256"
    assert writer.phase_seconds() == {"imports": 3.0, "data": 1.0, "training": 7.0, "inference sweep": 0.0}
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary file, renamed


def test_writer_without_a_path_still_counts_phases():
    clock = Clock()
    writer = ProgressWriter(None, clock=clock)
    clock.now = 2.5
    writer.phase("data")
    assert writer.phase_seconds() == {"imports": 2.5, "data": 0.0}


def test_writer_never_raises_on_an_unwritable_path(tmp_path):
    clock = Clock(0.0)
    writer = ProgressWriter(tmp_path / "missing-dir" / "p.json", clock=clock)
    clock.now = 1.5
    writer.phase("training")  # no exception: progress is never worth a failed case
    clock.now = 4.0
    writer.epoch_started(seed=0, seed_index=0, seeds=1, epoch=1, epochs=2)
    assert not (tmp_path / "missing-dir").exists()  # nothing written, nothing half-written
    assert progress_file.read(tmp_path / "missing-dir" / "p.json") is None
    assert writer.phase_seconds() == {"imports": 1.5, "training": 2.5}  # the phases are still counted


@pytest.mark.parametrize("text, phase, detail", [
    ("fake work", None, "fake work"),  # a plain-text file (an older child, the fake child)
    ("[1, 2]", None, "[1, 2]"),
    ('{"phase": "latency", "step": "x"}', "latency", ""),  # damaged fields: the phase survives
])
def test_parse_accepts_plain_text_and_damaged_json(text, phase, detail):
    seen = progress_file.parse(text)
    assert (seen.phase, seen.detail) == (phase, detail)


def test_parse_of_an_empty_or_missing_file_is_none(tmp_path):
    assert progress_file.parse("  \n") is None
    assert progress_file.read(tmp_path / "absent") is None
    assert status_text(None, None) == "starting"


# --------------------------------------------------------------------------- estimates


def test_epoch_estimate_leaves_out_the_compiling_first_epoch():
    assert eta.epoch_estimate([]) is None
    assert eta.epoch_estimate([9.0]) == 9.0
    assert eta.epoch_estimate([9.0, 2.0, 2.2]) == pytest.approx(2.1)


def test_training_left_from_the_epochs_done():
    # epoch 4 of 25 running for 1 s; 3 done (9, 2, 2.2): 22 epochs of 2.1 s, less the second already run
    assert eta.training_left(training(4, 25, (9.0, 2.0, 2.2), at=NOW - 1.0), NOW) == pytest.approx(22 * 2.1 - 1.0)
    # every seed counts: 2 seeds x 3 epochs, 2 done at 4 s each
    assert eta.training_left(training(3, 3, (4.0, 4.0), seeds=2), NOW) == pytest.approx(16.0)
    # an epoch running longer than the estimate never drives the estimate below the epochs still to start
    assert eta.training_left(training(2, 3, (5.0,), at=NOW - 60.0), NOW) == pytest.approx(5.0)
    assert eta.training_left(training(1, 25, ()), NOW) is None  # before the first epoch ends
    assert eta.training_left(training(3, 3, (1.0, 1.0, 1.0)), NOW) == 0.0


def test_case_left_adds_the_phases_after_training():
    tail = eta.Tail(agreement=1.0, inference=6.0, latency=2.0)
    assert eta.case_left(training(2, 2, (4.0,)), NOW, tail) == pytest.approx(4.0 + 9.0)
    assert eta.case_left(ChildProgress(phase="agreement"), NOW, tail) == 9.0
    sweep = ChildProgress(phase="inference sweep", step=4, steps=6)
    assert eta.case_left(sweep, NOW, tail) == pytest.approx(6.0 * 3 / 6 + 2.0)
    assert eta.case_left(ChildProgress(phase="latency", step=2, steps=2), NOW, tail) == pytest.approx(1.0)
    assert eta.case_left(ChildProgress(phase="imports"), NOW, tail) is None
    assert eta.case_left(ChildProgress(detail="fake work"), NOW, tail) is None


def test_tail_from_the_profile():
    tail = eta.tail_from_profile((1, 256, 10000), max_time=0.5, latency_rounds=95, paths=2)
    assert tail.inference == pytest.approx(2 * 3 * (0.5 + eta.INFERENCE_OVERHEAD_S))
    assert tail.latency == pytest.approx(2 * (eta.LATENCY_OVERHEAD_S + 100 * eta.LATENCY_CALL_S))
    assert eta.tail_from_profile((1,), 0.1, 10, 1, trains=False).agreement == 0.0
    budgeted = eta.tail_from_profile((1,), 0.1, 10, 2, latency_budget_s=0.3)
    assert budgeted.latency == pytest.approx(2 * (eta.LATENCY_OVERHEAD_S + 15 * eta.LATENCY_CALL_S + 0.3))


def test_run_estimate_says_when_it_guesses():
    tail = eta.Tail(0.0, 2.0, 1.0)
    # nothing finished: a training case not started is guessed as long as the running case
    first = eta.run_left(30.0, 50.0, [True, False], [], tail)
    assert first.seconds == pytest.approx(30.0 + 50.0 + 3.0 + eta.STARTUP_GUESS_S / 4)
    assert first.guessed_cases == 2 and "from the running case" in first.describe()
    # once cases finished, their mean is the guess
    later = eta.run_left(5.0, 20.0, [True], [(True, 40.0), (True, 60.0)], tail)
    assert later.seconds == pytest.approx(55.0)
    assert "a guess for 1 case not started, from the finished cases" in later.describe()
    # the last case: no guess at all
    last = eta.run_left(4.0, 10.0, [], [(True, 40.0)], tail)
    assert last.describe() == "about 4 s left"


@pytest.mark.parametrize("seconds, text", [(0.4, "0 s"), (59.4, "59 s"), (65, "1 min 05 s"), (3725, "1 h 02 min")])
def test_format_seconds(seconds, text):
    assert eta.format_seconds(seconds) == text


# --------------------------------------------------------------------------- what the terminal shows


def test_plan_text_lists_every_case_and_why_one_is_skipped():
    text = plan_text(PLANS, bench_options(epochs=25, seeds=3, train_samples=10_000))
    lines = text.splitlines()
    assert lines[0].startswith("plan: full profile, 3 of 4 cases to run; 25 epochs x 3 seeds (seeds 0-2), batch 32")
    assert f"timeout {with_overrides(get_profile('full'), seeds=3).case_timeout():g} s per case" in lines[0]
    assert "first 10,000 training images only" in lines[1]
    assert any(line.split() == ["tensorflow-gpu", "skip:", "no", "GPU", "on", "this", "machine"] for line in lines)
    assert any(line.strip().startswith("numpy-cpu") and "inference only" in line for line in lines)
    one_seed = plan_text(PLANS, bench_options(epochs=1))
    assert "1 epoch x 1 seed (seed 0)" in one_seed and "training images" not in one_seed


def test_plan_text_of_a_resume_says_which_cases_are_kept():
    from dataclasses import replace

    plans = [replace(plan, kept=plan.case_id == "jax-cpu") for plan in PLANS]
    text = plan_text(plans, bench_options(epochs=25))
    assert "2 of 4 cases to run" in text.splitlines()[0]
    assert any(line.split()[:2] == ["jax-cpu", "kept:"] for line in text.splitlines())


def test_log_throttle_every_few_epochs_or_seconds():
    throttle = LogThrottle(every_epochs=5, every_s=30.0)
    assert throttle.due("training", 0, 0.0)  # the first
    assert not throttle.due("training", 4, 10.0)
    assert throttle.due("training", 5, 11.0)  # 5 epochs on
    assert not throttle.due("training", 6, 20.0)
    assert throttle.due("training", 6, 41.5)  # 30 s on
    assert throttle.due("inference sweep", 6, 42.0)  # a new phase
    assert not throttle.due("inference sweep", 6, 42.5)


def _drive(reporter: TerminalReporter, clock: Clock) -> None:
    """A run of one training case: plan, start, epochs 1..7 of 25 at 2 s each (the first 6 s)."""
    reporter.run_started(PLANS, bench_options(epochs=25))
    reporter.case_started(1, len(PLANS), PLANS[0])
    reporter.case_progress(PLANS[0], ChildProgress(phase="imports"), 1.0)
    seconds: tuple[float, ...] = ()
    for epoch in range(1, 8):
        clock.now += 6.0 if epoch == 1 else 2.0
        seconds += (6.0 if epoch == 1 else 2.0,)
        reporter.case_progress(PLANS[0], training(epoch + 1, 25, seconds, at=clock.now), clock.now - NOW)
    reporter.case_finished(PLANS[0], {"status": "ok", "reason": None, "duration_s": 40.0,
                                      "phase_seconds": {"agreement": 0.5, "inference sweep": 3.0, "latency": 1.0}})
    reporter.close()


def test_log_gets_plain_lines_every_few_epochs_and_one_run_estimate():
    stream, clock = Stream(tty=False), Clock(NOW)
    _drive(TerminalReporter(stream, clock=clock), clock)
    out = stream.getvalue()
    assert "\r" not in out and "\x1b" not in out
    lines = out.splitlines()
    assert lines[0].startswith("plan: ")
    assert "[1/4] tensorflow-cpu: running" in lines
    assert "[1/4] tensorflow-cpu: imports" in lines
    progress_lines = [line for line in lines if "tensorflow-cpu: training" in line]
    # after epoch 1 (a new phase) and 5 epochs later; not after every epoch
    assert [line.split(", about")[0] for line in progress_lines] == [
        "[1/4] tensorflow-cpu: training seed 0, epoch 2/25", "[1/4] tensorflow-cpu: training seed 0, epoch 7/25"]
    # epoch 2 running after one epoch of 6 s: 24 x 6 s, plus the profile's estimate of what follows
    tail = eta.tail_from_profile(get_profile("full").batch_sizes, 0.5, 100, 2).total
    assert progress_lines[0].endswith(f"about {eta.format_seconds(24 * 6.0 + tail)} left")
    run_lines = [line for line in lines if line.startswith("run: ")]
    assert len(run_lines) == 1  # once per case, as soon as its first epoch is done
    assert "a guess for 2 cases not started, from the running case" in run_lines[0]
    assert lines[-1] == "[1/4] tensorflow-cpu: ok in 40.0 s"


def test_terminal_gets_tqdm_bars_with_epoch_seed_phase_and_time_left():
    stream, clock = Stream(tty=True), Clock(NOW)
    reporter = TerminalReporter(stream, clock=clock)
    _drive(reporter, clock)
    out = stream.getvalue()
    assert "\r" in out  # redrawn in place by tqdm
    assert "tensorflow-cpu" in out and "training seed 0, epoch 4/25, about" in out
    assert "7/25" in out  # the bar counts epochs done
    assert "left (a guess for 2 cases not started" in out  # the run bar
    assert "[1/4] tensorflow-cpu: ok in 40.0 s\n" in out
    # once a case is done, the run bar guesses what is left from it
    assert "left (a guess for 2 cases not started, from the finished cases)" in out.rsplit("ok in 40.0 s", 1)[1]
    assert out.startswith("plan: ")
    # the finished case's measured phases replace the profile's estimate for the next case
    assert reporter._tail(PLANS[2]) == eta.Tail(0.5, 3.0, 1.0)


def test_skipped_case_is_one_line():
    stream = Stream(tty=False)
    reporter = TerminalReporter(stream)
    reporter.run_started(PLANS, bench_options())
    reporter.case_started(2, 4, PLANS[1])
    reporter.case_finished(PLANS[1], {"status": "skipped", "reason": "no GPU on this machine", "duration_s": 0.0})
    assert stream.getvalue().splitlines()[-1] == "[2/4] tensorflow-gpu: skipped (no GPU on this machine)"


class _Recorder(runner.NullReporter):
    def __init__(self) -> None:
        self.seen: list[ChildProgress | None] = []
        self.plans: list[str] = []

    def run_started(self, plans, options) -> None:
        self.plans = [plan.case_id for plan in plans]

    def case_progress(self, plan, progress, elapsed) -> None:
        self.seen.append(progress)


def _run_fake(tmp_path, mode: str, reporter) -> None:
    options = runner.BenchOptions(
        profile=with_overrides(get_profile("quick"), timeout=60.0), profile_label="quick", train=TrainConfig(epochs=3),
        backends=("jax",), devices=("cpu",), out=tmp_path / "reports",
    )
    command = lambda case, case_json, raw_json: [sys.executable, str(FAKE), mode, str(case_json), str(raw_json)]  # noqa: E731
    outcome = runner.run_benchmarks(options, child_command=command, peak_gflops=100.0,
                                    dataset={"sha256": "0" * 64, "source": "test"}, reporter=reporter)
    assert outcome.records[0]["status"] == "ok"


def test_a_fake_childs_progress_file_is_shown(tmp_path):
    recorder = _Recorder()
    _run_fake(tmp_path / "a", "progress", recorder)
    assert recorder.plans == ["jax-cpu"]
    shown = [p for p in recorder.seen if p is not None and p.phase == "training"]
    assert shown and (shown[-1].epoch, shown[-1].epochs, len(shown[-1].epoch_seconds)) == (2, 3, 1)

    stream = Stream(tty=False)
    _run_fake(tmp_path / "b", "progress", TerminalReporter(stream))
    assert "[1/1] jax-cpu: training seed 0, epoch 2/3" in stream.getvalue()


def test_phase_seconds_reach_the_case_record(tmp_path):
    from mnist_mlp.bench import collect

    raw = {"machine_info": {"phase_seconds": {"imports": 2.5, "training": 4.0, "bad": "x"}}, "benchmarks": []}
    assert collect.measurements(raw, None)["phase_seconds"] == {"imports": 2.5, "training": 4.0}
    assert collect.measurements(None, None)["phase_seconds"] is None
    assert json.loads(ChildProgress(phase="data", phase_seconds={"imports": 1.23456}).to_json())["phase_seconds"] == {
        "imports": 1.2346}


def test_bars_only_on_a_terminal_with_a_width():
    """A pseudo-terminal of 0 columns (some CI runners, ``script``) gets the log's lines: tqdm
    would draw nothing there."""
    pty = pytest.importorskip("pty")
    import fcntl
    import os
    import struct
    import termios

    from mnist_mlp.bench.progress import _draws_bars

    assert not _draws_bars(Stream(tty=False))
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as stream:
            fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 0, 0, 0))
            assert stream.isatty() and not _draws_bars(stream)
            fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
            assert _draws_bars(stream)
    finally:
        os.close(leader)
        os.close(follower)


def _earlier_run(folder: Path, name: str, durations: dict[str, float], epochs: int = 25) -> None:
    run_dir = folder / name
    run_dir.mkdir(parents=True)
    run = {"run_id": name, "profile": "full", "workload": {"train": {"epochs": epochs, "train_samples": None}, "seeds": [0]},
           "cases": [{"id": case, "status": "ok", "duration_s": seconds} for case, seconds in durations.items()]}
    (run_dir / "results.json").write_text(json.dumps(run))


def test_the_estimate_uses_earlier_runs_of_the_same_cases_and_says_which(tmp_path):
    """Earlier runs of the same workload give each case still to run its own duration, scaled by how
    this run's finished cases compare with theirs; a run of another workload is not used."""
    _earlier_run(tmp_path, "20261101T000000Z_vm", {"tensorflow-cpu": 100.0, "jax-cpu": 50.0, "numpy-cpu": 10.0})
    _earlier_run(tmp_path, "20261201T000000Z_vm", {"jax-cpu": 60.0})  # newer: its jax-cpu wins
    _earlier_run(tmp_path / "other", "20261202T000000Z_vm", {"jax-cpu": 9999.0}, epochs=2)  # another workload
    stream, clock = Stream(tty=False), Clock(NOW)
    reporter = TerminalReporter(stream, clock=clock)
    reporter.run_started(PLANS, bench_options(out=tmp_path))
    start = [line for line in stream.getvalue().splitlines() if line.startswith("run: ")]
    assert start == ["run: about 2 min 50 s left (a guess for 3 cases not started, 3 from earlier runs "
                     "(20261101T000000Z_vm, 20261201T000000Z_vm))"]  # 100 + 60 + 10 s
    reporter.case_started(1, len(PLANS), PLANS[0])
    reporter.case_finished(PLANS[0], {"status": "ok", "reason": None, "duration_s": 50.0})  # half the earlier 100 s
    estimate = reporter._guess(0.0, 0.0, reporter._plans_after(PLANS[0]))
    assert estimate.seconds == pytest.approx(0.5 * (60.0 + 10.0))
    assert "x0.50, as this run's finished cases compare" in estimate.describe()


def test_without_earlier_runs_the_estimate_is_the_old_guess(tmp_path):
    stream = Stream(tty=False)
    reporter = TerminalReporter(stream, clock=Clock(NOW))
    reporter.run_started(PLANS, bench_options(out=tmp_path))
    assert not [line for line in stream.getvalue().splitlines() if line.startswith("run: ")]
    estimate = reporter._guess(10.0, 20.0, reporter._plans_after(PLANS[0]))
    assert estimate.basis == "from the running case" and estimate.guessed_cases == 2
