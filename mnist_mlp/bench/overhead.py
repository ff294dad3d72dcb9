"""The harness's overhead over a plain Keras script, measured as a ratio in one run.

    python benchmarks/overhead.py --backend jax [--device cpu] [--rounds 3] [--epochs 25] [--seed 0]

Each round runs, in fresh processes, ``benchmarks/plain_keras.py`` and the harness's training
round: the very child the runner starts for a case (``runner.child_argv``: ``python -m pytest``
on the suites, with the case in a JSON file and the runner's child environment), limited to the
training test with ``-k test_training``. The two alternate, and which goes first alternates
from round to round (plain first in round 1, the harness in round 2, ...), so a slow drift of
the machine hits both sides alike. Both sides train the same seed for the same epochs on the
same data and time the same span (``mnist_mlp.train.train`` says which), so their test
accuracies should agree exactly on a CPU; they are printed beside the times.

The overhead is the ratio of the mean harness time to the mean plain time. Its spread is given
twice: the smallest and largest ratio of a round's pair, and a bootstrap interval (resampling
whole rounds, pairs kept together) of the ratio of means. With three rounds on a busy machine
the interval is wide; the verdict says "within" or "over" the 3% goal only when the whole
interval is on one side, and says it is not settled otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from mnist_mlp.errors import EXIT_BAD_INPUT, EXIT_CASES_FAILED, EXIT_INTERRUPTED, MnistMlpError

#: the project's goal: the harness adds at most this much to the plain script's time
GOAL = 0.03
MIN_ROUNDS = 3
#: seconds either process may take before it is stopped
DEFAULT_TIMEOUT = 1800.0


class OverheadRunFailed(MnistMlpError):
    """A plain or harness process failed, timed out or measured nothing."""

    exit_code = EXIT_CASES_FAILED


@dataclass(frozen=True)
class Sample:
    """One side of one round: the timed span's seconds and the test accuracy it reached."""

    seconds: float
    test_accuracy: float


@dataclass(frozen=True)
class Summary:
    """Both sides' times and the overhead ratio with its spread."""

    plain: tuple[float, ...]
    harness: tuple[float, ...]
    ratio: float
    paired: tuple[float, ...]
    low: float
    high: float
    confidence: float
    verdict: str

    @property
    def plain_mean(self) -> float:
        return statistics.fmean(self.plain)

    @property
    def harness_mean(self) -> float:
        return statistics.fmean(self.harness)


def _check_pairs(plain: Sequence[float], harness: Sequence[float]) -> None:
    if len(plain) != len(harness) or not plain:
        raise ValueError(f"need as many plain as harness times, and at least one: got {len(plain)} and {len(harness)}")
    if any(not np.isfinite(t) or t <= 0 for t in (*plain, *harness)):
        raise ValueError("every time must be a positive finite number of seconds")


def ratio_of_means(plain: Sequence[float], harness: Sequence[float]) -> float:
    """Mean harness time over mean plain time: 1.02 means the harness takes 2% longer."""
    _check_pairs(plain, harness)
    return statistics.fmean(harness) / statistics.fmean(plain)


def bootstrap_interval(
    plain: Sequence[float], harness: Sequence[float], *, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``ratio_of_means``, resampling rounds with their pairs intact."""
    _check_pairs(plain, harness)
    p, h = np.asarray(plain, dtype=float), np.asarray(harness, dtype=float)
    picks = np.random.default_rng(seed).integers(0, len(p), size=(resamples, len(p)))
    ratios = h[picks].mean(axis=1) / p[picks].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return float(low), float(high)


def verdict(ratio: float, low: float, high: float, goal: float = GOAL) -> str:
    """Whether the overhead is within ``goal``, judged by the whole interval, not the point alone."""
    limit = 1.0 + goal
    if high <= limit:
        return f"within the {goal:.0%} goal"
    if low > limit:
        return f"over the {goal:.0%} goal"
    side = "within" if ratio <= limit else "over"
    return (
        f"not settled: the ratio is {side} the {goal:.0%} goal but its interval reaches across {limit:.2f}; "
        "rerun with more rounds on a quiet machine"
    )


def summarize(
    plain: Sequence[float], harness: Sequence[float], *, confidence: float = 0.95, goal: float = GOAL,
) -> Summary:
    """Everything the command prints about the times, from the two lists of round seconds."""
    ratio = ratio_of_means(plain, harness)
    low, high = bootstrap_interval(plain, harness, confidence=confidence)
    return Summary(
        plain=tuple(plain), harness=tuple(harness), ratio=ratio,
        paired=tuple(h / p for p, h in zip(plain, harness)), low=low, high=high,
        confidence=confidence, verdict=verdict(ratio, low, high, goal),
    )


def interleave(
    rounds: int, run_plain: Callable[[], Sample], run_harness: Callable[[], Sample],
    on_sample: Callable[[int, str, Sample], None] | None = None,
) -> tuple[list[Sample], list[Sample]]:
    """``rounds`` rounds of both sides, plain first in odd rounds and the harness first in even ones."""
    plain: list[Sample] = []
    harness: list[Sample] = []
    for number in range(1, rounds + 1):
        order = [("plain", run_plain, plain), ("harness", run_harness, harness)]
        if number % 2 == 0:
            order.reverse()
        for side, run, samples in order:
            sample = run()
            samples.append(sample)
            if on_sample is not None:
                on_sample(number, side, sample)
    return plain, harness


# --------------------------------------------------------------------------- the two processes


class Processes:
    """Starts the plain script and the harness's training round, each in a fresh process."""

    def __init__(self, backend: str, device: str, epochs: int, seed: int, data_dir: str | None, timeout: float, work: Path) -> None:
        from mnist_mlp.bench import case, runner
        from mnist_mlp.bench.caseconfig import CaseConfig
        from mnist_mlp.bench.profiles import get_profile
        from mnist_mlp.config import TrainConfig

        self.bench_dir = runner.find_benchmarks_dir()
        self.work, self.timeout = work, timeout
        self.case = CaseConfig(
            case_id=f"{backend}-{device}", backend=backend, device=device,
            train=TrainConfig(epochs=epochs).to_dict(), seeds=(seed,), batch_sizes=(1,),
            data_dir=data_dir, progress_path=str(work / "progress"), outcome_path=str(work / "outcome.json"),
        )
        self.case_json = self.case.write(work / "case.json")
        # the runner's own child environment, for both sides: same variables, same backend choice
        self.env = case.child_env(self.case_json)
        self.profile = get_profile("full")
        self.plain_args = ["--backend", backend, "--device", device, "--epochs", str(epochs), "--seed", str(seed)]
        if data_dir:
            self.plain_args += ["--data-dir", data_dir]
        self._count = 0

    def _run(self, argv: list[str], name: str) -> None:
        from mnist_mlp.bench.child import describe_returncode, run_child, tail

        log_path = self.work / f"{name}.log"
        ended = run_child(argv, env=self.env, timeout=self.timeout, log_path=log_path)
        if ended.ending == "timeout":
            raise OverheadRunFailed(f"{name}: no result within {self.timeout:g} s (raise it with --timeout)")
        if ended.returncode != 0:
            last = tail(log_path, 600).strip().splitlines()
            raise OverheadRunFailed(f"{name}: {describe_returncode(ended.returncode)}: {last[-1] if last else 'no output'} (log {log_path})")

    def plain(self) -> Sample:
        import json

        self._count += 1
        out = self.work / f"plain-{self._count}.json"
        argv = [sys.executable, str(self.bench_dir / "plain_keras.py"), *self.plain_args, "--json", str(out)]
        self._run(argv, f"plain-{self._count}")
        figures = json.loads(out.read_text(encoding="utf-8"))
        return Sample(float(figures["seconds"]), float(figures["test_accuracy"]))

    def harness(self) -> Sample:
        from mnist_mlp.bench import collect, runner

        self._count += 1
        raw_json = self.work / f"harness-{self._count}.json"
        argv = [*runner.child_argv(self.case_json, raw_json, self.profile, self.bench_dir), "-k", "test_training"]
        self._run(argv, f"harness-{self._count}")
        outcome = collect.read_raw(Path(self.case.outcome_path)) if Path(self.case.outcome_path).is_file() else None
        if outcome and outcome.get("status") == "skipped":
            raise OverheadRunFailed(f"harness: {outcome.get('reason')}")
        return harness_sample(collect.read_raw(raw_json), raw_json)


def harness_sample(raw: dict | None, path: Path) -> Sample:
    """The training round's seconds and test accuracy from the child's pytest-benchmark JSON."""
    for bench in (raw or {}).get("benchmarks", []):
        extra = bench.get("extra_info") or {}
        if extra.get("kind") == "training" and extra.get("per_seed"):
            seed = extra["per_seed"][0]
            return Sample(float(seed["wall_seconds"]), float(seed["test_accuracy"]))
    raise OverheadRunFailed(f"harness: {path} holds no training benchmark")


# --------------------------------------------------------------------------- command line


def _int_at_least(minimum: int, option: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = option
    return parse


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem, with exit code 2 (as ``mnist-mlp``)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="overhead.py", description="The harness's training overhead over plain Keras, as a ratio of interleaved rounds.",
    )
    parser.add_argument("--backend", required=True, choices=("tensorflow", "jax", "torch"))
    parser.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    parser.add_argument("--rounds", type=_int_at_least(MIN_ROUNDS, "rounds"), default=MIN_ROUNDS,
                        help=f"rounds of each side, at least {MIN_ROUNDS} (default {MIN_ROUNDS})")
    parser.add_argument("--epochs", type=_int_at_least(1, "epochs"), default=25, help="epochs per round (default 25, the seed's)")
    parser.add_argument("--seed", type=_int_at_least(0, "seed"), default=0, help="the seed of every round, both sides (default 0)")
    parser.add_argument("--data-dir", default=None, help="MNIST directory (default $MNIST_DATA_DIR, else the Keras cache)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help=f"seconds per process (default {DEFAULT_TIMEOUT:g})")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if not args.timeout > 0:
        build_parser().error(f"argument --timeout: must be positive, got {args.timeout}")
    return args


def format_report(summary: Summary, plain: Sequence[Sample], harness: Sequence[Sample]) -> str:
    """The closing lines: means, the ratio with its spread, the verdict, and whether accuracies agree."""
    sd = lambda values: statistics.stdev(values) if len(values) > 1 else 0.0  # noqa: E731
    same = [p.test_accuracy == h.test_accuracy for p, h in zip(plain, harness)]
    lines = [
        f"plain   mean {summary.plain_mean:8.2f} s  sd {sd(summary.plain):6.2f}  ({', '.join(f'{t:.2f}' for t in summary.plain)})",
        f"harness mean {summary.harness_mean:8.2f} s  sd {sd(summary.harness):6.2f}  ({', '.join(f'{t:.2f}' for t in summary.harness)})",
        f"overhead ratio harness/plain {summary.ratio:.4f} ({summary.ratio - 1:+.2%}); paired ratios "
        f"{', '.join(f'{r:.4f}' for r in summary.paired)} (min {min(summary.paired):.4f}, max {max(summary.paired):.4f}); "
        f"bootstrap {summary.confidence:.0%} interval over rounds {summary.low:.4f} to {summary.high:.4f}",
        f"verdict: {summary.verdict}",
        "test accuracies: " + (
            "identical in every round" if all(same)
            else "DIFFER in round(s) " + ", ".join(str(i) for i, ok in enumerate(same, 1) if not ok)
        ),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, processes: Processes | None = None) -> int:
    args = parse_args(argv)
    print(f"{args.rounds} rounds of {args.epochs} epoch(s), seed {args.seed}, {args.backend} on the {args.device}; "
          "plain first in odd rounds, harness first in even ones", flush=True)

    def show(number: int, side: str, sample: Sample) -> None:
        print(f"round {number}  {side:7s} {sample.seconds:8.2f} s  test accuracy {sample.test_accuracy:.4f}", flush=True)

    work = None
    try:
        if processes is None:
            work = Path(tempfile.mkdtemp(prefix="mnist-mlp-overhead-"))  # logs and JSON; kept if anything fails
            processes = Processes(args.backend, args.device, args.epochs, args.seed, args.data_dir, args.timeout, work)
        plain, harness = interleave(args.rounds, processes.plain, processes.harness, show)
    except MnistMlpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"interrupted; the logs so far are in {work}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)
    summary = summarize([s.seconds for s in plain], [s.seconds for s in harness])
    print(format_report(summary, plain, harness))
    return 0


if __name__ == "__main__":  # pragma: no cover - benchmarks/overhead.py is the entry point
    raise SystemExit(main())
