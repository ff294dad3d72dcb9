"""``BenchOptions`` from the values of ``mnist-mlp bench``'s options, checked together.

Apart from the argument parsing (``cli/bench.py``) because ``bench --resume`` rebuilds a run's
options from its results.json the same way (``bench.resume``): one place decides what a
combination of options means, and which combinations are refused.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from mnist_mlp.backends import ALL as ALL_BACKENDS, RUNTIMES, get as get_backend
from mnist_mlp.bench.plan import BenchOptions
from mnist_mlp.bench.profiles import MAX_TRAIN_SAMPLES, get_profile, with_overrides
from mnist_mlp.config import DEVICES, TrainConfig
from mnist_mlp.errors import UsageError
from mnist_mlp.native.base import IMPLEMENTATIONS


def installed_runtimes() -> tuple[str, ...]:
    """The serving runtimes a run of every backend plans: every one installed."""
    return tuple(name for name in RUNTIMES if get_backend(name).is_installed())


def options_from_args(args: argparse.Namespace) -> BenchOptions:
    """Validated ``BenchOptions`` from parsed arguments (UsageError on a bad combination)."""
    backends, devices = args.backends or ALL_BACKENDS, args.devices or DEVICES
    # the serving runtimes plan as cases of their own after the frameworks: those named, else (a run
    # of every backend) every one installed, else (--backends chose some) none; a resumed run's
    # stored backends already hold its runtimes
    runtimes = getattr(args, "runtimes", None) or (() if args.backends else installed_runtimes())
    backends = tuple(dict.fromkeys((*backends, *(name for name in runtimes if name != "none"))))
    base = get_profile(args.profile or "full")
    profile = with_overrides(
        base, epochs=args.epochs, seeds=args.seeds, batch_sizes=args.batch_sizes,
        target_accuracy=args.target_accuracy, timeout=args.timeout,
        seed_recipe_seeds=getattr(args, "seed_recipe_seeds", None),
    )
    recipe_file = getattr(args, "recipe", None)
    if (recipe_file or getattr(args, "seed_recipe_seeds", None) is not None) and not profile.race:
        raise UsageError("--recipe/--seed-recipe-seeds: only with --profile open (the open division)")
    defaults = TrainConfig()
    if profile.race and (set(args.jit_compile or ()) - {defaults.jit_compile}
                         or set(args.steps_per_execution or ()) - {defaults.steps_per_execution}):
        raise UsageError("--jit-compile/--steps-per-execution: not with --profile open, where a recipe sets Keras' "
                         "steps per execution (its steps_per_execution field; --recipe FILE)")
    train_samples = args.train_samples if getattr(args, "train_samples", None) else profile.train_samples
    if train_samples == MAX_TRAIN_SAMPLES:
        train_samples = None  # all of them: the seed's workload, written as the full profile writes it
    profile = replace(profile, train_samples=train_samples)
    jits = args.jit_compile or (defaults.jit_compile,)
    steps = tuple(dict.fromkeys(args.steps_per_execution or (defaults.steps_per_execution,)))
    combos = [(jit, spe) for jit in jits for spe in steps]
    # the base workload is Keras' default compile when asked for, else the first combination;
    # every other combination becomes a case variant of its own (compile options as parameters)
    base_jit, base_spe = (defaults.jit_compile, defaults.steps_per_execution) if (
        (defaults.jit_compile, defaults.steps_per_execution) in combos) else combos[0]
    train = TrainConfig(
        epochs=profile.epochs,
        jit_compile=base_jit,
        steps_per_execution=base_spe,
        learning_rate=args.learning_rate or defaults.learning_rate,
        scale_inputs=not args.unscaled_inputs,
        train_samples=train_samples,
    )
    variants = tuple(
        tuple((name, value) for name, value, base_value in (
            ("jit_compile", jit, base_jit), ("steps_per_execution", spe, base_spe)) if value != base_value)
        for jit, spe in combos
    )
    precisions = args.precision or ("fp32",)
    base_precision = "fp32" if "fp32" in precisions else precisions[0]
    variants = tuple(
        variant + ((("precision", precision),) if precision != base_precision else ())
        for variant in variants for precision in precisions
    )
    variants = tuple(sorted(set(variants), key=lambda v: (len(v), str(v))))  # the base (no overrides) first
    # None: not given (so that --resume takes the run's own), which is strong scaling, no rule
    scaling, lr_rule = getattr(args, "scaling", None) or "strong", getattr(args, "lr_rule", None) or "none"
    if getattr(args, "data_parallel", None):  # a resumed run keeps its dp variants in compile_variants
        from mnist_mlp.parallel.plan import bench_variants

        variants += tuple(bench_variants(args.data_parallel, scaling, lr_rule))
    elif (scaling, lr_rule) != ("strong", "none"):
        raise UsageError("--scaling/--lr-rule: only with --data-parallel N[,N...]")
    changed = (
        profile.epochs != base.epochs or profile.batch_sizes != base.batch_sizes
        or train.replace(epochs=defaults.epochs, train_samples=None) != defaults or len(variants) > 1
        or base_precision != "fp32" or train_samples != base.train_samples
        or profile.seed_recipe_seeds != base.seed_recipe_seeds
    )
    if not any(device in get_backend(name).devices for name in backends for device in devices):
        raise UsageError(f"--backends {','.join(backends)} runs on the cpu only; add cpu to --devices")
    implementations = getattr(args, "implementations", None) or IMPLEMENTATIONS
    if profile.race:
        _check_recipes(recipe_file, backends, devices, implementations)
    return BenchOptions(
        profile=profile, profile_label="custom" if changed else base.name, train=train, variants=variants,
        precision=base_precision,
        backends=backends, devices=devices, out=args.out or Path("reports"),
        data_dir=str(args.data_dir) if args.data_dir else None,
        first_seed=getattr(args, "first_seed", None) or 0,
        implementations=implementations,
        repeats=getattr(args, "repeats", None) or 1,
        recipe_file=str(recipe_file) if recipe_file else None,
    )


def _check_recipes(recipe_file: str | Path | None, backends: tuple[str, ...], devices: tuple[str, ...],
                   implementations: tuple[str, ...]) -> None:
    """Refuse, in one line and before any case runs, a recipe book that is no book or gives a case a
    recipe it cannot race as written (``Recipe.execution_problem``)."""
    from mnist_mlp.bench.plan import plan_cases
    from mnist_mlp.race.recipe import load_recipes

    book = load_recipes(recipe_file)
    for plan in plan_cases(backends, devices, implementations=implementations, training_only=True):
        implementation = dict(plan.variant).get("implementation", "keras")
        problem = book.for_case(plan.case_id, implementation).execution_problem(
            plan.case_id, implementation, get_backend(plan.backend).keras_multi_step)
        if problem:
            raise UsageError(f"--recipe {book.path}: {problem}")
