"""The open division (``--profile open``): the race to the target accuracy, one round per seed.

A round is one seed's race under the rules (``mnist_mlp.race.rules``): the clock starts before
the data files are read (the cache is cleared, so every seed reads them) and stops when the
evaluation that reaches the target returns (``mnist_mlp.race.runner``). pytest-benchmark times the
round around it; the race's own clock, its parts, the test-accuracy curve and the learning rate of
every epoch go into ``extra_info``, and each seed's final weights into ``raw/<case>.seed<N>.npz``
(the six arrays in Keras' layout), so anyone can recompute its test accuracy without the project.

After the timed seeds: the seed's own recipe raced once on the same machine in the same process
(``case.race["seed_recipe_seeds"]``), to its full 25 epochs, for the ratio the report prints; and
the recipe's per-step proof against NumPy (``verify_training`` with the recipe's batch, Adam and
learning rates, a few steps in each of three short epochs).
"""

from __future__ import annotations

import pytest

from mnist_mlp.bench import suite


def _write_side(case, benchmark, machine_info) -> None:
    suite.write_training(case, benchmark.stats.as_dict(include_data=True), machine_info)


def test_race(benchmark, case, mnist, progress, machine_info, device_facts):
    if not case.trains:
        pytest.skip("the NumPy reference serves weights and trains nothing; numpy-cpu-native races for NumPy")
    from mnist_mlp import backends
    from mnist_mlp.flops import FlopModel
    from mnist_mlp.race.recipe import SEED_RECIPE, Recipe
    from mnist_mlp.race.rules import olympic_score, rules_record
    from mnist_mlp.race.runner import file_reader, racer_for

    race = case.race or {}
    recipe = Recipe.from_dict(race["recipe"], "the case's recipe")
    target = case.target_accuracy
    sync = backends.get(case.backend).synchronize
    load = file_reader(case.data_dir)  # inside the clock: the files are read again for every seed
    racer = racer_for(case.implementation)(case.backend, case.implementation, recipe, target, load, sync)
    seeds = iter(enumerate(case.seeds))
    runs = []

    def setup():
        index, seed = next(seeds)
        progress.phase("race", seed=seed, seed_index=index, seeds=len(case.seeds), epoch=0, epochs=recipe.epochs)
        return (seed,), {}

    def run_seed(seed):
        runs.append(racer.race(seed))

    benchmark.pedantic(run_seed, setup=setup, rounds=len(case.seeds), iterations=1, warmup_rounds=0)
    for run in runs:
        suite.save_weights(suite.race_weights_path(case, run.seed), run.weights)
    device_facts["flops"] = FlopModel.from_weights(runs[0].weights).to_dict()
    score = olympic_score([run.seconds if run.reached else None for run in runs])
    benchmark.extra_info.update(
        kind="race", recipe=recipe.to_dict(), recipe_line=recipe.line(), recipe_source=race.get("source"),
        chosen_by=race.get("chosen_by"), rules=rules_record(), target_accuracy=target,
        train_samples=len(mnist.x_train), test_samples=len(mnist.x_test), flops=device_facts["flops"],
        per_seed=[run.to_dict() for run in runs], score=score.to_dict(),
        round_seconds=list(benchmark.stats.stats.data),
    )
    _write_side(case, benchmark, machine_info)

    seed_runs = []
    for index in range(int(race.get("seed_recipe_seeds", 0))):
        progress.phase("race", detail="the seed's own recipe, 25 epochs", seed=index, seed_index=index,
                       seeds=int(race["seed_recipe_seeds"]), epoch=0, epochs=SEED_RECIPE.epochs)
        seed_racer = racer_for(case.implementation)(case.backend, case.implementation, SEED_RECIPE, target, load, sync)
        seed_runs.append(seed_racer.race(case.seeds[index % len(case.seeds)], stop_at_target=False).to_dict())
    benchmark.extra_info["seed_recipe"] = {"recipe": SEED_RECIPE.to_dict(), "per_seed": seed_runs}
    _write_side(case, benchmark, machine_info)

    progress.phase("agreement", detail="the recipe's steps against the NumPy training reference")
    benchmark.extra_info["recipe_check"] = _recipe_check(case, recipe, mnist)
    _write_side(case, benchmark, machine_info)


#: the per-step proof of a recipe: three short epochs, each at its own learning rate
CHECK_EPOCHS, CHECK_STEPS_PER_EPOCH = 3, 3


def _recipe_check(case, recipe, mnist) -> dict:
    """``verify_training`` with the recipe's batch, Adam and its first epochs' learning rates."""
    from mnist_mlp.config import TrainConfig
    from mnist_mlp.race.proof import check_recipe

    return check_recipe(case.backend, case.implementation, recipe, mnist.x_train, mnist.y_train,
                        epochs=CHECK_EPOCHS, steps_per_epoch=CHECK_STEPS_PER_EPOCH, config=TrainConfig(batch_size=recipe.batch_size))
