"""Continue a run that did not finish: ``mnist-mlp bench --resume RUN_DIR``.

A case that ended ``ok`` or ``skipped`` is kept exactly as it is: its entry in results.json,
``raw/<case>.json``, ``.training.json`` and ``.log`` are not touched. Every other planned case runs
again: one that ``failed``, hit its ``timeout``, was ``interrupted`` (Ctrl-C), was left
``running`` by a parent killed outright, was never reached (``skipped`` with
``results.NOT_RUN_REASON``) or is missing from the file. The files of a case about to run again
are deleted first, so nothing of the earlier try mixes into the new one; its earlier status and
reason stay in the run's ``resumed`` history. The run keeps its id, folder and creation time; the
report, the gate and the index are rewritten from all its cases.

Numbers from two setups must never sit in one run, so a resume refuses (exit 2, one line naming
what differs) unless this machine, software and data are the run's: the workload
(``workload``, the profile label, the schema version), the package version and commit
(``tool``), the software versions (``software``), the machine (``machine``: host, OS, Python,
CPU model and cores, memory, GPUs, thread settings) and the dataset's SHA-256. The comparison is
``compare``'s (``machine_differences``, ``setup_differences``, ``not_comparable_reasons``), less
``IGNORED_KEYS``: values measured afresh or that describe the parent process, not the machine.
There is no ``--force``.

The workload comes from the run itself: ``--resume RUN_DIR`` alone is enough. A workload option
given with it (``--profile``, ``--backends``, ``--epochs``, ...) must agree with the run's, else the
resume refuses and names it; ``--out`` must be the run's parent folder or absent. ``--data-dir``
and ``--no-gate`` may be given (the data is checked by its SHA-256).

NumPy's case serves the weights a training case of the same session wrote; when that case is
kept from an earlier session and NumPy's runs again, it measures untrained weights (its note
says so): throughput does not depend on the values, and agreement is measured by the training
cases themselves.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from mnist_mlp import compare, results
from mnist_mlp.bench import collect, profiles, rundir
from mnist_mlp.bench.plan import plan_cases
from mnist_mlp.errors import OutputError, ResultFileError, UsageError

log = logging.getLogger(__name__)

#: a case that ended so is kept as it is; every other status runs again
KEEP_STATUSES = ("ok", "skipped")
#: ``bench`` options that set the workload: with ``--resume`` they come from the run
WORKLOAD_OPTIONS = (
    "profile", "backends", "devices", "seeds", "first_seed", "epochs", "batch_sizes", "target_accuracy", "jit_compile",
    "steps_per_execution", "learning_rate", "unscaled_inputs", "timeout", "precision", "train_samples",
    "data_parallel", "scaling", "lr_rule", "implementations", "repeats", "recipe",
    "seed_recipe_seeds",
)
#: not compared: measured afresh by every run (the peaks), or the parent process's loaded thread
#: pools (they follow the imports done so far; the thread settings that set them are compared)
IGNORED_KEYS = ("machine.peak_gflops", "machine.threads.threadpools")
#: the order in which the refusal names what differs
CATEGORIES = ("workload", "dataset", "package version or commit", "software versions", "machine")
#: how many differing fields of one kind the one-line refusal names
SHOWN = 3
GATE_FILE = "gate.md"


def planned_ids(run: Mapping[str, Any]) -> list[str]:
    """Every case id the run's workload plans, in order (a run records each of them when done)."""
    workload = run["workload"]
    variants = [tuple(variant.items()) for variant in workload.get("compile_variants") or [{}]]
    plans = plan_cases(
        workload["backends"], workload["devices"], installed=lambda name: True, gpu_present=lambda: True,
        variants=variants, precision=workload.get("precision", "fp32"),
        implementations=tuple(workload.get("implementations", ["keras"])),  # older runs: Keras only
        training_only=bool((workload.get("profile") or {}).get("race")),
    )
    return [plan.case_id for plan in plans]


def never_ran(case: Mapping[str, Any]) -> bool:
    return case.get("status") == "skipped" and case.get("reason") == results.NOT_RUN_REASON


def to_run(run: Mapping[str, Any]) -> dict[str, str]:
    """The cases a resume runs, in plan order, each with what it is now (a status, or ``missing``)."""
    recorded = {case["id"]: case for case in run["cases"]}
    out = {}
    for case_id in planned_ids(run):
        case = recorded.get(case_id)
        if case is None:
            out[case_id] = "missing"
        elif never_ran(case):
            out[case_id] = "not run"
        elif case["status"] not in KEEP_STATUSES:
            out[case_id] = case["status"]
    return out


def unfinished(run: Mapping[str, Any]) -> list[str] | None:
    """What keeps a run from being finished, for the index: ``torch-cpu running``, ``numpy-cpu missing``.

    A case that failed or timed out did finish (it has its verdict) and is not listed; one that
    is ``running``, ``interrupted``, never reached or missing is. None when the workload cannot
    be planned (a run from another version).
    """
    try:
        pending = to_run(run)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return [f"{case_id} {status}" for case_id, status in pending.items() if status not in ("failed", "timeout")]


# ---------------------------------------------------------------- the run's options


def _unique(values: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


def run_arguments(run: Mapping[str, Any]) -> dict[str, Any]:
    """The ``bench`` options that reproduce the run's workload (see ``cli.options_from_args``)."""
    workload = run["workload"]
    train = workload["train"]
    variants = workload.get("compile_variants") or [{}]
    return {
        "profile": workload["profile"]["name"],
        "backends": tuple(workload["backends"]),
        "devices": tuple(workload["devices"]),
        "seeds": len(workload["seeds"]),
        "first_seed": (workload["seeds"] or [0])[0],
        "epochs": train["epochs"],
        "batch_sizes": tuple(workload["batch_sizes"]),
        "target_accuracy": workload["target_accuracy"],
        "jit_compile": _unique([train["jit_compile"], *(v["jit_compile"] for v in variants if "jit_compile" in v)]),
        "steps_per_execution": _unique(
            [train["steps_per_execution"], *(v["steps_per_execution"] for v in variants if "steps_per_execution" in v)]
        ),
        "learning_rate": train["learning_rate"],
        "unscaled_inputs": not train["scale_inputs"],
        # an explicit --timeout only when the run had one (else the profile's rule gives the same limit)
        "timeout": workload["profile"].get("timeout"),
        "precision": _unique([workload.get("precision", "fp32"), *(v["precision"] for v in variants if "precision" in v)]),
        "train_samples": train.get("train_samples") or profiles.MAX_TRAIN_SAMPLES,  # None in a run: all of them
        "implementations": tuple(workload.get("implementations", ["keras"])),
        "repeats": int(workload.get("repeats", 1)),  # older runs: one process per case
        # the open division's recipe book: the file the run raced (None: the package's); its
        # SHA-256 in the workload makes a changed file, or another --recipe, a refusal
        "recipe": (workload.get("recipes") or {}).get("file"),
        "seed_recipe_seeds": workload["profile"].get("seed_recipe_seeds") if workload["profile"].get("race") else None,
        **_data_parallel_arguments(variants),
    }


def _data_parallel_arguments(variants: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``--data-parallel N,...``, ``--scaling`` and ``--lr-rule`` as the run's variants hold them."""
    parallel = [v for v in variants if "data_parallel" in v]
    if not parallel:
        return {"data_parallel": None, "scaling": "strong", "lr_rule": "none"}
    return {
        "data_parallel": _unique([v["data_parallel"] for v in parallel]),
        "scaling": parallel[0].get("scaling", "strong"),
        "lr_rule": parallel[0].get("lr_rule", "none"),
    }


def options_for(run: Mapping[str, Any], run_dir: Path, given: Mapping[str, Any], data_dir: str | Path | None) -> Any:
    """``BenchOptions`` for the run's workload, with the options the user ``given`` on top.

    Whether those agree with the run is decided by comparing the workloads (``differences``).
    """
    from mnist_mlp.bench.options import options_from_args

    try:
        values = run_arguments(run)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ResultFileError(f"{run_dir}: its workload lacks {exc}; this version cannot resume it") from None
    recipe = values.get("recipe")
    if recipe and "recipe" not in given and not Path(recipe).is_file():
        raise UsageError(f"--resume {run_dir}: the recipe file the run raced, {recipe}, is not there any more; "
                         "put it back (its SHA-256 is in the run's workload) or start a new run")
    values.update(given)
    args = argparse.Namespace(**values, out=run_dir.parent, data_dir=data_dir)
    return options_from_args(args)


# ---------------------------------------------------------------- comparing setups


def differences(run: Mapping[str, Any], here: Mapping[str, Any]) -> dict[str, list[str]]:
    """What differs between the run and a new run here, by kind: ``{kind: ["key HERE vs RUN", ...]}``."""
    found: dict[str, list[str]] = {}
    sections = {"machine": "machine", "software": "software versions", "tool": "package version or commit"}
    for key, (in_run, now) in compare.machine_differences([run, here]):
        if not key.startswith(IGNORED_KEYS):
            found.setdefault(sections[key.split(".")[0]], []).append(f"{key} {now!r} vs {in_run!r}")
    for reason in compare.not_comparable_reasons(run, here):  # "<key> HERE vs RUN": the measured work first
        kind = {"dataset": "dataset", "schema_version": "package version or commit"}.get(reason.split(" ")[0], "workload")
        found.setdefault(kind, []).append(reason)
    for key, (in_run, now) in compare.setup_differences([run, here]):
        found.setdefault("workload", []).append(f"{key} {now!r} vs {in_run!r}")
    return {kind: found[kind] for kind in CATEGORIES if kind in found}


def refusal(run_dir: Path, found: Mapping[str, list[str]]) -> str:
    """The one line that says why a resume is refused, e.g.

    ``--resume R: the software versions differ from the run's (here vs the run): software.jax
    '0.10.2' vs '0.9.0'; numbers from two setups never share a run: start a new run``
    """
    kinds = list(found)
    names = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
    verb = "differs" if len(kinds) == 1 and not kinds[0].endswith("s") else "differ"
    parts = []
    for kind, items in found.items():
        more = f" (+{len(items) - SHOWN} more)" if len(items) > SHOWN else ""
        parts.append((f"{kind}: " if len(kinds) > 1 else "") + ", ".join(items[:SHOWN]) + more)
    return (
        f"--resume {run_dir}: the {names} {verb} from the run's (here vs the run): {'; '.join(parts)}; "
        "numbers from two setups never share a run: start a new run"
    )


# ---------------------------------------------------------------- resuming


@dataclass
class ResumeState:
    """A run being continued: what ``runner.run_benchmarks(options, resume=state)`` needs."""

    run: dict[str, Any]
    folder: rundir.RunFolder
    options: Any
    keep: dict[str, dict[str, Any]]  # case id -> its record, kept as it is
    rerun: dict[str, str]  # case id -> its status before ("missing", "not run", "failed", ...)
    replaced: list[dict[str, Any]] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    def begin(self, plans: Sequence[Any]) -> None:
        """Record the resume, drop the earlier tries of the cases to run, and save.

        Saved before anything is deleted, so the file never names a file that is gone: until
        the cases run again it holds the kept cases only (the others read as missing).
        """
        from mnist_mlp.bench.runner import utc_now

        self.run.setdefault("resumed", []).append({"at": utc_now(), "cases": list(self.rerun), "replaced": self.replaced})
        self.run["cases"] = [self.keep[plan.case_id] for plan in plans if plan.case_id in self.keep]
        self.run["status"] = "partial"
        self.run["gate"] = None  # the gate judges the finished run again
        results.save(self.run, self.run_dir)
        (self.run_dir / GATE_FILE).unlink(missing_ok=True)
        raw = self.run_dir / "raw"
        for case_id in self.rerun:
            raw_json = raw / f"{case_id}.json"
            for path in (raw_json, collect.training_side_path(raw_json), raw / f"{case_id}.log"):
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    raise OutputError(f"{path}: cannot remove the earlier try ({exc.strerror or exc})") from None


def prepare(
    run_dir: str | Path, *, given: Mapping[str, Any] | None = None, data_dir: str | Path | None = None,
    dataset: Mapping[str, Any] | None = None,
) -> ResumeState:
    """Hold the run, check that it may be continued here, and say what runs again.

    ``dataset`` (``{"sha256", "source"}``) skips loading MNIST (tests). Raises ``UsageError``
    (exit 2) when another process runs it now or the setups differ, ``ResultFileError`` for a
    folder without a valid results.json.
    """
    from mnist_mlp.bench.runner import new_run_record

    run_dir = Path(run_dir)
    if run_dir.name == results.RESULTS_FILE and run_dir.is_file():
        run_dir = run_dir.parent
    if not (run_dir / results.RESULTS_FILE).is_file():
        raise ResultFileError(f"--resume {run_dir}: not a run folder (no {results.RESULTS_FILE} in it)")
    folder = rundir.hold(run_dir)
    try:
        run = results.load(run_dir)
        options = options_for(run, run_dir, given or {}, data_dir)
        if dataset is None:
            from mnist_mlp.data import load_mnist

            data = load_mnist(options.data_dir)
            dataset = {"sha256": data.sha256, "source": data.source}
        peaks = run["machine"].get("peak_gflops") or {}
        here = new_run_record(options, run["run_id"], peaks.get("fallback"), dict(dataset))
        here = json.loads(json.dumps(results.sanitize(here)))  # as the run's file holds it: lists, not tuples
        found = differences(run, here)
        if found:
            raise UsageError(refusal(run_dir, found))
        try:
            rerun = to_run(run)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ResultFileError(f"{run_dir}: its workload cannot be planned ({exc})") from None
        planned = set(planned_ids(run))
        strays = [case["id"] for case in run["cases"] if case["id"] not in planned]
        if strays:
            raise ResultFileError(f"{run_dir}: results.json holds cases its workload does not plan: {', '.join(strays)}")
        keep = {case["id"]: case for case in run["cases"] if case["id"] not in rerun}
        replaced = [
            {"id": case["id"], "status": case["status"], "reason": case.get("reason")}
            for case in run["cases"] if case["id"] in rerun
        ]
    except BaseException:
        folder.release()
        raise
    return ResumeState(run=run, folder=folder, options=options, keep=keep, rerun=rerun, replaced=replaced)


def describe(state: ResumeState) -> str:
    """One line for the terminal: what is kept, what runs again."""
    kept = ", ".join(f"{case_id} ({record['status']})" for case_id, record in state.keep.items()) or "nothing"
    again = ", ".join(f"{case_id} ({status})" for case_id, status in state.rerun.items()) or "nothing"
    return f"resuming {state.run_dir}: keeping {kept}; running {again}"
