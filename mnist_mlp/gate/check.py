"""The accuracy gate: did this run's test accuracy regress, judged against the calibration?

The seed reports 97.9% (``config.SEED_TEST_ACCURACY``), but that sits at the top of a healthy
run's spread, so it is printed for reference and never used as the threshold. Instead, per
backend x device, the run's seeds are read together (thresholds from ``mnist_mlp.gate.calibration``,
whose docstring derives them so that a healthy run fails at most 1 time in 100):

- the mean of the ``n`` seeds must reach the mean threshold for ``n`` seeds;
- every seed must reach the per-seed floor;
- a seed with a NaN, infinite or missing loss or accuracy (stored as null, listed in
  ``per_seed[].non_finite``) always fails.

Thresholds are looked up as ``"<backend>-<device>"``, then ``"<backend>"``, then the pooled ``"*"``
(so a GPU run uses its backend's calibration). Native cases (``torch-cpu-native``, ``-native-fast``;
``mnist_mlp.native``) train the same model, so they are judged by their backend's thresholds, each as
a group of its own; ``numpy-cpu-native`` (NumPy training: Keras' loss and Adam in float32) has no
calibration of its own and is judged by the pooled ``"*"`` of the calibrated backends, which it must
meet for the same reason. A backend the calibration never saw gets ``"*"``
and the report says so; without
those it fails (an unchecked gate must not pass). A run with no training results fails too.
The decision is data (``GateReport``), written into ``results.json`` ("gate"); ``gate.md`` is
written from it by ``mnist_mlp.report.gate_text``; nothing is deleted.
``gate_run`` is what the harness calls at the end of the full profile.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence


from mnist_mlp import backends, results


from mnist_mlp.gate import calibration
from mnist_mlp.native.cases import implementation_of
from mnist_mlp.config import SEED_TEST_ACCURACY
from mnist_mlp.stats import is_number, non_finite_keys

#: why weak-scaling cases are reported but not gated
WEAK_SCALING_NOT_GATED = (
    "weak scaling (global batch 32 x N, learning-rate rule) is another workload than the calibrated "
    "batch-32 one: reported, not gated")


@dataclass
class SeedCheck:
    seed: Any
    test_accuracy: float | None
    problems: list[str] = field(default_factory=list)


@dataclass
class GroupCheck:
    """One backend x device: its seeds, thresholds and verdict."""

    backend: str
    device: str
    seeds: list[SeedCheck]
    case_id: str | None = None  # differs from backend-device for a compile-option variant
    mean: float | None = None
    mean_threshold: float | None = None
    seed_floor: float | None = None
    thresholds_key: str | None = None
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.case_id or f"{self.backend}-{self.device}"

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class GateReport:
    passed: bool
    groups: list[GroupCheck]
    not_checked: dict[str, str]
    failures: list[str]
    thresholds_file: str
    thresholds_label: str
    provisional: bool
    alpha: float
    notes: list[str]
    seed_figure: float = SEED_TEST_ACCURACY
    checked_utc: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["nothing_to_gate"] = self.nothing_to_gate
        for group, raw in zip(self.groups, data["groups"]):
            raw["key"], raw["passed"] = group.key, group.passed
        return results.sanitize(data)

    @property
    def nothing_to_gate(self) -> bool:
        """No Keras case trained (a NumPy-only run, say): the gate passes and says so."""
        return self.passed and not self.groups and not self.not_checked



def _seed_check(seed: Mapping[str, Any]) -> SeedCheck:
    """One seed's value, and one line naming every non-finite metric it had (NaN always fails)."""
    accuracy = seed.get("test_accuracy")
    check = SeedCheck(seed=seed.get("seed"), test_accuracy=float(accuracy) if is_number(accuracy) else None)
    bad = non_finite_keys(seed)
    if bad:
        names = ", ".join(bad)  # each metric once, in the order found
        check.problems.append(f"NaN, infinite or missing values in {names}")
    return check


def thresholds_for(table: Mapping[str, Any], backend: str, device: str) -> tuple[str | None, Mapping | None]:
    """(key, entry) the gate judges this backend x device by: its own, its backend's, else the pooled one."""
    for key in (f"{backend}-{device}", backend, calibration.FALLBACK):
        if key in table:
            return key, table[key]
    return None, None


def shown_path(path: str | Path) -> str:
    """The thresholds file as gate.md names it: relative to the working folder when inside it, so a
    committed gate.md does not carry the path of the machine it was made on."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def check_run(run: Mapping[str, Any], thresholds: Mapping[str, Any] | None = None, thresholds_file: str | None = None) -> GateReport:
    """Judge a loaded run (``results.load``) against a thresholds document (default: the shipped one)."""
    if thresholds is None:
        thresholds, path = calibration.load()
        thresholds_file = shown_path(path)
    alpha = float(thresholds.get("alpha", calibration.ALPHA))
    table = thresholds["thresholds"]
    groups: dict[tuple[str, str], GroupCheck] = {}
    not_checked: dict[str, str] = {}
    for case in run.get("cases", []):
        training = case.get("training")
        if case.get("status") != "ok" or not training or not training.get("per_seed"):
            if backends.trains(case.get("backend")) or implementation_of(case) != "keras":  # numpy-cpu-native trains
                not_checked[case.get("id", "?")] = f"status {case.get('status')}, no training seeds"
            continue
        if (training.get("data_parallel") or {}).get("scaling") == "weak":
            not_checked[case.get("id", "?")] = WEAK_SCALING_NOT_GATED
            continue
        key = case.get("id") or f"{case['backend']}-{case['device']}"  # one group per case: variants apart
        group = groups.setdefault(key, GroupCheck(backend=case["backend"], device=case["device"], seeds=[], case_id=key))
        group.seeds.extend(_seed_check(seed) for seed in training["per_seed"])

    failures: list[str] = []
    notes: list[str] = []
    if not groups and not_checked:
        failures.append("no training results to check")
    elif not groups:
        notes.append("nothing was trained in this run (no Keras backend case): nothing to gate")
    calibrated_on = thresholds.get("workload")
    ran = (run.get("workload") or {}).get("train")
    # a key absent on one side counts as its default (None): a field added since the calibration is no difference
    changed = sorted(k for k in set(calibrated_on or {}) | set(ran or {}) if (calibrated_on or {}).get(k) != (ran or {}).get(k))
    if calibrated_on and ran and changed:
        notes.append(
            "workload differs from the calibration's ("
            + ", ".join(f"{k}: {ran.get(k)!r} vs {calibrated_on.get(k)!r}" for k in changed)
            + "): thresholds are those of the calibrated workload"
        )
    for group in groups.values():
        _judge(group, table, thresholds.get("calibration") or {}, len(groups), alpha)
        failures.extend(f"{group.key}: {f}" for f in group.failures)
    return GateReport(
        passed=not failures,
        groups=list(groups.values()),
        not_checked=not_checked,
        failures=failures,
        thresholds_file=thresholds_file or "(in memory)",
        thresholds_label=str(thresholds.get("label", "")),
        provisional=bool(thresholds.get("provisional", False)),
        alpha=alpha,
        notes=notes,
    )


def _judge(group: GroupCheck, table: Mapping[str, Any], calibrated: Mapping[str, Any], n_groups: int, alpha: float) -> None:
    n = len(group.seeds)
    finite = [s.test_accuracy for s in group.seeds if s.test_accuracy is not None]
    group.mean = sum(finite) / len(finite) if finite else None
    for seed in group.seeds:
        group.failures.extend(f"seed {seed.seed}: {p}" for p in seed.problems)
    key, params = thresholds_for(table, group.backend, group.device)
    group.thresholds_key = key
    if params is None:
        group.failures.append("no calibrated thresholds for this backend and no pooled '*' entry")
        return
    if key == calibration.FALLBACK and group.backend not in calibrated:
        group.notes.append(f"no calibration for {group.backend}: pooled thresholds ('*') of the calibrated backends used")
    group.mean_threshold = calibration.mean_threshold(params, n, n_groups, alpha)
    group.seed_floor = calibration.seed_floor(params, n, n_groups, alpha)
    if group.mean is not None and len(finite) == n and group.mean < group.mean_threshold:
        group.failures.append(
            f"mean test accuracy {group.mean:.2%} of {n} seed(s) is below the threshold {group.mean_threshold:.2%}"
        )
    for seed in group.seeds:
        if seed.test_accuracy is not None and seed.test_accuracy < group.seed_floor:
            group.failures.append(f"seed {seed.seed}: test accuracy {seed.test_accuracy:.2%} is below the floor {group.seed_floor:.2%}")


def check_seeds(backend: str, accuracies: Sequence[float], thresholds: Mapping[str, Any], device: str = "cpu") -> GateReport:
    """Judge the test accuracies of a run's seeds as one backend x device (one group, the
    calibrated workload): what the power study and the out-of-sample count hand the gate."""
    run = {
        "workload": {"train": dict(thresholds.get("workload") or {})},
        "cases": [{
            "id": f"{backend}-{device}", "backend": backend, "device": device, "status": "ok",
            "training": {"per_seed": [{"seed": i, "test_accuracy": a} for i, a in enumerate(accuracies)]},
        }],
    }
    return check_run(run, thresholds, "(in memory)")


def gate_run(run_path: str | Path, thresholds_path: str | Path | None = None) -> GateReport:
    """Check a run on disk and record the decision in its results.json ("gate"); the caller
    writes gate.md (``mnist_mlp.report.gate_text.write_gate_file``).

    Never raises for a failed gate (the caller decides the exit code from ``report.passed``);
    raises ``ResultFileError`` for unreadable files and ``OutputError`` when writing fails.
    """
    run_path = Path(run_path)
    run_dir = run_path if run_path.is_dir() else run_path.parent
    run = results.load(run_path)
    thresholds, used = calibration.load(thresholds_path)
    report = check_run(run, thresholds, shown_path(used))
    run["gate"] = report.to_dict()
    results.save(run, run_dir)
    return report
