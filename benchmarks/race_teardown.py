"""Why a racer collects the previous seed's garbage before the next seed's clock (``Racer.release``).

    python benchmarks/race_teardown.py --backend jax --implementation native-fast --pairs 4 \\
        --out reports/open/teardown

Races one seed at a time (the package's recipe for the implementation) and, right after each
race, drops the racer and times reading the data files (``load_mnist``, as the next seed's clock
would), in two blocks of ``--pairs`` races: first as before ``release`` existed (nothing collects:
every trainer's reference cycles wait for the cyclic collector, which runs when allocations
trigger it, as during the next read), then as now (``gc.collect()`` before each read, timed apart).
Writes ``OUT/teardown.json`` and ``OUT/teardown.md``. Run it alone on the machine: it is a timing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="jax", choices=("jax", "tensorflow", "torch", "numpy"))
    parser.add_argument("--implementation", default="native-fast", choices=("native", "native-fast"))
    parser.add_argument("--pairs", type=int, default=4, help="races per way (default 4)")
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error("--pairs: 1 or more")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--out {args.out}: cannot create it ({exc.strerror or exc})")
    from mnist_mlp import backends
    from mnist_mlp.data import load_mnist
    from mnist_mlp.errors import DataError
    from mnist_mlp.race.recipe import load_recipes
    from mnist_mlp.race.runner import file_reader, racer_for

    try:
        load_mnist(args.data_dir)  # verified once, outside every timing
    except DataError as exc:
        print(f"race_teardown.py: {exc}", file=sys.stderr)
        return 1
    case_id = f"{args.backend}-cpu-{args.implementation}"
    recipe = load_recipes().for_case(case_id, args.implementation)
    sync = backends.get(args.backend).synchronize
    load = file_reader(args.data_dir)

    def timed_load() -> float:
        started = time.perf_counter()
        load()
        return time.perf_counter() - started

    native_racer = racer_for(args.implementation)

    class UncollectedRacer(native_racer):
        """The racer as it was before ``release``: the previous seed's garbage is left where it lies."""

        def release(self) -> None:
            for name in ("trainer", "x_train", "y_train", "x_test", "y_test"):
                self.__dict__.pop(name, None)

    rows = []
    for index in range(2 * args.pairs):
        collect = index >= args.pairs
        racer = (native_racer if collect else UncollectedRacer)(args.backend, args.implementation, recipe, 0.979, load, sync)
        run = racer.race(index)
        del racer  # the trainer is now garbage held only by its own cycles
        collected = None
        if collect:
            started = time.perf_counter()
            gc.collect()
            collected = time.perf_counter() - started
        rows.append({"seed": index, "way": "after gc.collect()" if collect else "as the garbage lies",
                     "race_seconds": run.seconds, "gc_seconds": collected, "load_seconds": timed_load()})
        print(f"{rows[-1]['way']:>20}: load {rows[-1]['load_seconds']:.3f} s"
              + (f" (gc.collect {collected:.3f} s)" if collected is not None else ""), flush=True)
    command = "python benchmarks/race_teardown.py " + " ".join(sys.argv[1:] if argv is None else argv)
    ways = {}
    for way in ("as the garbage lies", "after gc.collect()"):
        loads = [r["load_seconds"] for r in rows if r["way"] == way]
        ways[way] = {"loads": loads, "median": statistics.median(loads), "min": min(loads), "max": max(loads)}
    doc = {"command": command, "case": case_id, "recipe": recipe.to_dict(), "rows": rows, "ways": ways,
           "machine": {"host": platform.node(), "processor": platform.processor(), "cpus": os.cpu_count()},
           "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (args.out / "teardown.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    from tabulate import tabulate

    table = tabulate([[way, f"{w['median']:.3f}", f"{w['min']:.3f} to {w['max']:.3f}", len(w["loads"])] for way, w in ways.items()],
                     headers=["reading the data right after a race", "median s", "range s", "races"], tablefmt="github")
    (args.out / "teardown.md").write_text(
        f"# The previous seed's teardown\n\nMade by `{command}` on {doc['machine']['host']} ({doc['created_utc']}), "
        f"{case_id}, recipe {recipe.name}.\n\n{table}\n", encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
