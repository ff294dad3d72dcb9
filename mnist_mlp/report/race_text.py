"""The open division in the report: "Time to 97.9%" (the table, the rules, the recipes) and the
classic time-to-accuracy figure (test accuracy against wall-clock seconds, the target as a line).

Reads ``cases[].race`` (``bench.collect.race_record``) only; the score and the misses rule are
``race.rules``' and were decided when the run was collected.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from mnist_mlp.race.runner import PARTS
from mnist_mlp.report import plots
from mnist_mlp.stats import is_number


def race_cases(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [case for case in run.get("cases") or [] if case.get("race")]


def section_name(run: dict[str, Any]) -> str:
    targets = {case["race"].get("target_accuracy") for case in race_cases(run)}
    target = next(iter(targets)) if len(targets) == 1 else None
    return f"Time to {target * 100:.1f}%" if target else "Time to the target"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _seed_recipe(race: dict[str, Any]) -> tuple[float | None, float | None]:
    """The seed recipe's mean time to the target (over seeds that reached it) and its 25-epoch time."""
    seeds = (race.get("seed_recipe") or {}).get("per_seed") or []
    to_target = [s["seconds"] for s in seeds if s.get("reached")]
    budget = [s["budget_seconds"] for s in seeds if s.get("budget_seconds") is not None]
    return (statistics.fmean(to_target) if to_target else None, statistics.fmean(budget) if budget else None)


def table(run: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = ["case", "recipe", "seeds at target", "epochs (mean)", "score s (olympic mean)", "kept seeds s",
               "FLOP floor s", "score / floor", "seed recipe: to target s", "seed recipe: 25 epochs s",
               "25 epochs / score", "recipe proof"]
    rows = []
    for case in sorted(race_cases(run), key=lambda c: (c["race"]["score"].get("seconds") is None, c["race"]["score"].get("seconds") or 0)):
        race = case["race"]
        score = race["score"]
        seed_target, seed_budget = _seed_recipe(race)
        check = race.get("recipe_check") or {}
        proof = "skipped" if "skipped" in check else ("ok" if check.get("ok") else ("FAILED" if check else "–"))
        rows.append([
            case["id"], race.get("recipe_line") or "–", f"{score['reached']} of {score['seeds']}",
            "–" if race.get("epochs_mean") is None else f"{race['epochs_mean']:.1f}",
            _seconds(score.get("seconds")) if score.get("seconds") is not None else f"no score: {score.get('why')}",
            "–" if score.get("low") is None else f"{score['low']:.2f} to {score['high']:.2f}",
            _seconds(race.get("flop_floor_seconds")),
            "–" if race.get("score_over_floor") is None else f"{race['score_over_floor']:.1f}x",
            _seconds(seed_target), _seconds(seed_budget),
            "–" if not (seed_budget and score.get("seconds")) else f"{seed_budget / score['seconds']:.1f}x",
            proof,
        ])
    return headers, rows


def keras_cost_rows(run: dict[str, Any]) -> list[list[str]]:
    """Per backend and device: Keras' score to the target beside its native ones (the race's row of
    "What Keras costs"): each as seconds and as a fraction of Keras'."""
    from mnist_mlp.native.cases import implementation_of

    groups: dict[str, dict[str, float | None]] = {}
    for case in race_cases(run):
        implementation = implementation_of(case)
        base = f"{case['backend']}-{case['device']}"
        groups.setdefault(base, {})[implementation] = case["race"]["score"].get("seconds")
    rows = []
    for base, scores in sorted(groups.items()):
        keras = scores.get("keras")
        if keras is None or not any(k != "keras" for k in scores):
            continue
        cells = [base, _seconds(keras)]
        for implementation in ("native", "native-fast"):
            value = scores.get(implementation)
            cells.append("–" if value is None else f"{_seconds(value)} ({value / keras:.2f})")
        rows.append(cells)
    return rows


def _median(values: list[float]) -> str:
    # + 0.0: a median that rounds to zero from below prints as 0.000, not -0.000
    return f"{round(statistics.median(values), 3) + 0.0:.3f}" if values else "–"


def parts_rows(run: dict[str, Any]) -> list[list[str]]:
    """Where each case's race time goes: medians over its seeds of the clock's parts (``race.runner``),
    the later epochs and evaluations per epoch. The first epoch's excess over a later one is what
    compilation and warm-up cost: a fixed price per race that no recipe's fewer epochs remove."""
    rows = []
    for case in race_cases(run):
        seeds = [s for s in case["race"].get("per_seed") or [] if _timed(s)]
        if not seeds:
            continue
        parts = [s["parts"] for s in seeds]
        # (first epoch, a later one) of each seed that had a later epoch
        epochs = [(s["parts"]["first_epoch"], s["parts"]["later_epochs"] / (s["epochs"] - 1)) for s in seeds if s["epochs"] > 1]
        rows.append([case["id"], _median([p["data"] for p in parts]), _median([p["setup"] for p in parts]),
                     _median([p["first_epoch"] for p in parts]), _median([later for _, later in epochs]),
                     _median([first - later for first, later in epochs]),
                     _median([s["parts"]["evaluation"] / s["epochs"] for s in seeds]), _median([s["seconds"] for s in seeds])])
    return rows


def _timed(seed: Any) -> bool:
    """A seed whose clock parts, time and epochs are numbers (a results.json from elsewhere may
    lack them or hold other types: such a seed is left out of the table, never a crash)."""
    parts = seed.get("parts") if isinstance(seed, dict) else None
    epochs = seed.get("epochs") if isinstance(seed, dict) else None
    return (isinstance(parts, dict) and all(is_number(parts.get(k)) for k in PARTS if k != "other")
            and is_number(seed.get("seconds")) and isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 1)


PARTS_HEADERS = ["case", "data s", "set-up s", "first epoch s", "a later epoch s", "first over a later s",
                 "an evaluation s", "race s"]


def notes(run: dict[str, Any]) -> str:
    """The rules the run was raced under, the recipes and the search that chose them."""
    from tabulate import tabulate

    cases = race_cases(run)
    if not cases:
        return ""
    first = cases[0]["race"]
    rules = (first.get("rules") or {}).get("text") or []
    lines = [f"Rules (version {(first.get('rules') or {}).get('version', '–')}), the open division's, adapted from MLPerf's:", ""]
    lines += [f"{index}. {text}" for index, text in enumerate(rules, start=1)]
    sources = sorted({(c["race"].get("recipe_source") or "–", c["race"].get("chosen_by") or "–") for c in cases})
    lines += ["", "Recipes from " + "; ".join(f"`{source}` (chosen by {chosen})" for source, chosen in sources) + "."]
    cost = keras_cost_rows(run)
    if cost:
        lines += ["", "What Keras costs to the target (the score, s; in brackets the native one over Keras'):", "",
                  tabulate(cost, headers=["backend", "keras", "native", "native-fast"], tablefmt="github", disable_numparse=True)]
    parts = parts_rows(run)
    if parts:
        lines += ["", "Where the race's time goes (medians over each case's seeds of the clock's parts, `per_seed[].parts`; "
                  "a later epoch and an evaluation each; the first epoch's excess over a later one is its compilation "
                  "and warm-up, paid once a race; a seed that missed the target counts to the end of its budget):", "",
                  tabulate(parts, headers=PARTS_HEADERS, tablefmt="github", disable_numparse=True)]
    lines += ["", "The score is the mean time to the target over the seeds after dropping the fastest and the slowest; "
              "the FLOP floor is the training and evaluation FLOPs of the epochs the case needed on average, at the "
              "case's own measured matmul peak; the seed recipe (batch 32, Adam 1e-3, 25 epochs) ran in the same "
              "process, under the same rules, to its full 25 epochs. Each seed's final weights are in "
              "`raw/<case>.seed<N>.npz` (w1, b1, w2, b2, w3, b3: kernels (fan_in, fan_out), Keras' layout)."]
    return "\n".join(lines)


def plot(run: dict[str, Any], path: str | Path) -> Path:
    """Test accuracy against seconds on the race's clock, every seed of every case, the target dashed."""
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    target = None
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, case in enumerate(race_cases(run)):
        race = case["race"]
        target = race.get("target_accuracy") or target
        for number, seed in enumerate(race.get("per_seed") or []):
            curve = seed.get("curve") or []
            ax.plot([p["seconds"] for p in curve], [p["test_accuracy"] * 100 for p in curve], marker=".",
                    color=colors[index % len(colors)], alpha=0.7, linewidth=1, label=case["id"] if number == 0 else None)
    if target:
        ax.axhline(target * 100, color="black", linestyle="--", linewidth=1, label=f"target {target * 100:.1f}%")
    ax.set_xscale("log")
    ax.set_ylim(96.0, 98.8)
    ax.set_xlabel("seconds since the clock started (log; data loading included)")
    ax.set_ylabel("test accuracy after each epoch (%)")
    ax.set_title("Time to accuracy: every seed of every case")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    return plots.save_figure(fig, path)
