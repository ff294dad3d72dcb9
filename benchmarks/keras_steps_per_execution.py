"""How many training steps one compiled Keras call should run in the open division's race.

    python benchmarks/keras_steps_per_execution.py --backends tensorflow,jax --values 1,10,50,250 \\
        --repeats 3 --out reports/open/steps-per-execution --write-recipes mnist_mlp/race/recipes.json

Keras' ``compile(steps_per_execution=N)`` runs N training steps per call into the framework. It
changes no arithmetic (the same steps in the same order, ``race.recipe.Recipe``); it saves the
per-step call, which dominates a model this small: native-fast's one call per epoch is the same
idea written by hand. Keras on PyTorch allows only 1, so PyTorch is not measured.

For every backend and value, ``--repeats`` fresh processes each race the package book's Keras
recipe (its batch and Adam; ``--epochs`` epochs, the whole budget, under the open division's
clock) on a search seed. They are interleaved, value after value and backend after backend, and
each repeat starts one value later (``--rotate``; the first run of 2026-12-04 did not, so its
later values ran later in each repeat), after one untimed process per backend that warms the
file cache and the disk. A race's first epoch holds the compilation, its later ones are the
steady state; the predicted race is the first epoch plus ``--race-epochs - 1`` later ones, each
with its evaluation (``--race-epochs``, default 10: the chosen Keras recipe's mean epochs to the
target on its search seeds, 10.3 over 3 and 9.9 over 10 more, ``reports/open/search-keras-whole-batches``;
the first run used 9). The value chosen per backend has the lowest median predicted race.

Writes ``OUT/spe.json`` and ``OUT/spe.md``; ``--write-recipes`` writes, for each backend's CPU case
(``<backend>-cpu``), the Keras recipe with the chosen value, or with 1 removes the case's own
entry (so it races the ``keras`` entry). Run it alone on the machine: it is a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

#: the backends whose Keras accepts steps_per_execution above 1 (Keras on PyTorch refuses it)
BACKENDS = ("tensorflow", "jax")


def race_once(backend: str, value: int, epochs: int, seed: int, data_dir: str | None) -> dict:
    """In this (fresh) process: the book's Keras recipe with ``value`` steps per execution, raced
    for ``epochs`` epochs; the first epoch and the mean later epoch, each with its evaluation."""
    os.environ["KERAS_BACKEND"] = backend
    from mnist_mlp import backends
    from mnist_mlp.data import load_mnist
    from mnist_mlp.race.recipe import load_recipes
    from mnist_mlp.race.runner import KerasRacer, file_reader

    backends.select(backend, "cpu")
    load_mnist(data_dir)  # verified once, outside the clock

    recipe = replace(load_recipes().for_case(f"{backend}-cpu", "keras"), steps_per_execution=value, epochs=epochs)
    run = KerasRacer(backend, "keras", recipe, 1.01, file_reader(data_dir), backends.get(backend).synchronize).race(seed, stop_at_target=False)
    seconds = [point["seconds"] for point in run.curve]
    epoch_seconds = [b - a for a, b in zip([run.parts["data"] + run.parts["setup"]] + seconds, seconds)]
    return {"backend": backend, "value": value, "seed": seed, "recipe": recipe.name, "epoch_seconds": epoch_seconds,
            "first_epoch": epoch_seconds[0], "later_epoch": statistics.fmean(epoch_seconds[1:]),
            "test_accuracy": run.curve[-1]["test_accuracy"]}


def predicted(row: dict, race_epochs: int) -> float:
    return row["first_epoch"] + (race_epochs - 1) * row["later_epoch"]


def summarise(rows: list[dict], race_epochs: int) -> dict:
    """Per backend and value: the medians over repeats; per backend the value chosen (lowest
    median predicted race; the smaller value on a tie)."""
    table: dict[str, dict[int, dict]] = {}
    for row in rows:
        table.setdefault(row["backend"], {}).setdefault(row["value"], []).append(row)
    summary = {}
    for backend, by_value in table.items():
        cells = {value: {"repeats": len(runs),
                         "first_epoch": statistics.median(r["first_epoch"] for r in runs),
                         "later_epoch": statistics.median(r["later_epoch"] for r in runs),
                         "predicted_race": statistics.median(predicted(r, race_epochs) for r in runs)}
                 for value, runs in sorted(by_value.items())}
        chosen = min(cells, key=lambda value: (cells[value]["predicted_race"], value))
        summary[backend] = {"values": cells, "chosen": chosen}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--values", default="1,10,50,250", help="steps per execution to try (default 1,10,50,250)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per backend and value (default 3)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs each process races (default 4)")
    parser.add_argument("--race-epochs", type=int, default=10, help="epochs a race needs, for the prediction (default "
                        "10: the Keras recipe's mean over its search seeds)")
    parser.add_argument("--rotate", action="store_true", help="start each repeat one value later, after a warm-up process")
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--write-recipes", type=Path, help="write the chosen values into the recipe book here")
    parser.add_argument("--child", nargs=3, metavar=("BACKEND", "VALUE", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 2 or args.race_epochs < 1 or args.repeats < 1:
        parser.error("--epochs: at least 2 (a first and a later epoch); --race-epochs, --repeats: at least 1")
    if args.child:
        backend, value, seed = args.child
        print(json.dumps(race_once(backend, int(value), args.epochs, int(seed), args.data_dir)))
        return 0
    chosen_backends = [b for b in args.backends.split(",") if b]
    wrong = [b for b in chosen_backends if b not in BACKENDS]
    if wrong or not chosen_backends:
        parser.error(f"--backends: from {', '.join(BACKENDS)} (Keras on PyTorch allows only 1 step per execution), got {args.backends!r}")
    try:
        values = [int(v) for v in args.values.split(",")]
    except ValueError:
        parser.error(f"--values: whole numbers separated by commas, got {args.values!r}")
    if not values or min(values) < 1:
        parser.error(f"--values: each at least 1, got {args.values!r}")
    if args.out is None:
        parser.error("--out is required")
    from mnist_mlp.race.rules import SEARCH_SEED_BASE
    try:  # before any measurement: a folder that cannot be written would lose them all at the end
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--out {args.out}: cannot create it ({exc.strerror or exc})")
    from mnist_mlp.data import load_mnist
    from mnist_mlp.errors import DataError

    try:
        load_mnist(args.data_dir)  # the data checked once, before any child reads it
    except DataError as exc:
        print(f"keras_steps_per_execution.py: {exc}", file=sys.stderr)
        return 1

    def race(backend: str, value: int, seed: int) -> dict | None:
        command = [sys.executable, __file__, "--child", backend, str(value), str(seed),
                   "--epochs", str(args.epochs)] + (["--data-dir", args.data_dir] if args.data_dir else [])
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"keras_steps_per_execution.py: {backend} at {value} steps per execution failed: {last}", file=sys.stderr)
            return None
        return json.loads(done.stdout.strip().splitlines()[-1])

    started, rows = time.perf_counter(), []
    if args.rotate:  # one untimed process per backend: the first process of a session pays cold caches
        for backend in chosen_backends:
            if race(backend, values[0], SEARCH_SEED_BASE) is None:
                return 1
    for repeat in range(args.repeats):
        shift = repeat % len(values) if args.rotate else 0
        for backend in chosen_backends:
            for value in values[shift:] + values[:shift]:
                row = race(backend, value, SEARCH_SEED_BASE + repeat)
                if row is None:
                    return 1
                rows.append(row)
                print(f"repeat {repeat + 1}: {backend:>10} {value:>4} steps per execution: first epoch "
                      f"{row['first_epoch']:.3f} s, later {row['later_epoch']:.3f} s", flush=True)
    summary = summarise(rows, args.race_epochs)
    command = "python benchmarks/keras_steps_per_execution.py " + " ".join(sys.argv[1:] if argv is None else argv)
    doc = {"command": command, "machine": {"host": platform.node(), "processor": platform.processor(), "cpus": os.cpu_count()},
           "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": time.perf_counter() - started,
           "epochs": args.epochs, "race_epochs": args.race_epochs, "rows": rows, "summary": summary}
    (args.out / "spe.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    from tabulate import tabulate

    table = tabulate([[backend, value, cell["repeats"], f"{cell['first_epoch']:.3f}", f"{cell['later_epoch']:.3f}",
                       f"{cell['predicted_race']:.2f}", "chosen" if value == found["chosen"] else ""]
                      for backend, found in summary.items() for value, cell in found["values"].items()],
                     headers=["backend", "steps per execution", "processes", "first epoch s (median)",
                              "later epoch s (median)", f"first + {args.race_epochs - 1} later s (median)", ""],
                     tablefmt="github")
    (args.out / "spe.md").write_text(
        f"# Keras' steps per execution in the open division's race\n\nMade by `{command}` on {doc['machine']['host']} "
        f"({doc['created_utc']}, {doc['seconds']:.0f} s). Each row: fresh processes racing the book's Keras recipe for "
        f"{args.epochs} epochs on search seeds; an epoch's seconds include its evaluation on the test set.\n\n{table}\n",
        encoding="utf-8")
    print((args.out / "spe.md").read_text(encoding="utf-8"))
    if args.write_recipes:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from open_search import write_book

        from mnist_mlp.race.recipe import load_recipes

        for backend, found in summary.items():
            base = load_recipes().for_case(f"{backend}-cpu", "keras")
            recipe = replace(base, name=f"{base.name.split('-spe')[0]}-spe{found['chosen']}", steps_per_execution=found["chosen"])
            body = {k: v for k, v in recipe.to_dict().items() if k != "name"}
            refused = write_book(args.write_recipes, recipe.name if found["chosen"] > 1 else None, body, f"{backend}-cpu",
                                 f"{command} -> {args.out / 'spe.json'}")
            if refused:
                print(f"keras_steps_per_execution.py: --write-recipes {args.write_recipes}: {refused}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
