"""compare on repeats (``bench --repeats N``: each a fresh process) and the noise band's scope.

Each repeat's figures are a sample of the figure across processes, so two runs with repeats are
judged on their own samples (Welch on the log scale), a single-process run against a run with
repeats by the repeats' prediction interval, and the noise band only judges two single values
where it measured that very case, on both runs' machine and workload.
"""

from __future__ import annotations

import math
import random

import pytest

from fixtures.compare.runfactory import band, case, make_run, workload, write_run
from mnist_mlp import compare
from mnist_mlp.compare.measures import case_metrics

#: run-to-run spread of one process's figures on the log scale (about 8%, as measured on the VM)
SPREAD = 0.08


def repeated(backend: str, slower: float, repeats: int, rng: random.Random) -> dict:
    """A case of ``repeats`` processes whose figures wander by ``SPREAD`` and are ``slower`` times the base."""
    entries = []
    for index in range(repeats):
        factor = slower * math.exp(rng.gauss(0.0, SPREAD))
        one = case(backend, walls=tuple(60.0 * factor * w for w in (1.0, 0.98, 0.99)), seconds_per_batch=0.001 * factor,
                   seed=rng.randrange(10_000))
        for seed in one["training"]["per_seed"]:
            seed["steady_ms_per_step"] = 1.2 * factor
        entries.append({"repeat": index + 1, **{key: one.get(key) for key in (
            "status", "reason", "training", "inference", "latency_ms", "peak")}})
    first = dict(case(backend, seed=1))
    first.update({key: entries[0][key] for key in ("training", "inference", "latency_ms", "peak")})
    first["repeats"] = entries
    return first


def _pair(tmp_path, slower_jax: float, repeats=(5, 5), seed: int = 0, **other):
    rng = random.Random(seed)
    a = make_run([repeated("jax", 1.0, repeats[0], rng), repeated("torch", 1.0, repeats[0], rng)])
    b = make_run([repeated("jax", slower_jax, repeats[1], rng), repeated("torch", 1.0, repeats[1], rng)],
                 run_id="20261128T040000Z_hostA", **other)
    return compare.compare(compare.load_runs([write_run(tmp_path, a), write_run(tmp_path, b)]),
                           band=compare.NoiseBand({"profiles": {}}))


def _verdicts(result, case_id: str) -> dict:
    return {row.metric.key: row.verdicts[1] for row in result.rows if row.case == case_id and row.metric.kind != "machine"}


def test_repeats_are_the_samples_of_each_metric():
    entry = repeated("jax", 1.0, 4, random.Random(1))
    measures = case_metrics(entry)
    wall = measures[next(m for m in measures if m.key == "inference.direct.128")]
    per_repeat = [r["inference"][1]["samples_per_second"] for r in entry["repeats"]]
    assert wall.samples == pytest.approx(per_repeat) and wall.independent and wall.source == "repeats"
    assert wall.value == pytest.approx(math.exp(sum(math.log(v) for v in per_repeat) / 4))  # the geometric mean
    assert len(wall.peaks) == 4


def test_two_runs_of_one_commit_with_repeats_flag_nothing(tmp_path):
    result = _pair(tmp_path, 1.0)
    tested = [v for case_id in ("jax-cpu", "torch-cpu") for v in _verdicts(result, case_id).values()]
    assert tested and all(v.test in compare.REPEAT_TESTS for v in tested if v.kind != "accuracy")
    assert {v.label for v in tested} <= {"within noise"}
    assert result.tests["B"].repeats >= 8 and result.tests["B"].not_tested == 0


def test_a_2x_slowdown_of_one_framework_is_flagged_on_its_rows_only(tmp_path):
    result = _pair(tmp_path, 2.0)
    jax = _verdicts(result, "jax-cpu")
    slower = {key for key, v in jax.items() if v.label == "slower"}
    assert {"training.steady_ms_per_step", "training.wall_seconds.cold", "inference.direct.128",
            "latency.direct.p50"} <= slower
    assert all(jax[key].test == compare.REPEATS for key in slower)
    assert {v.label for v in _verdicts(result, "torch-cpu").values()} <= {"within noise"}
    assert any("slower" in line for line in result.regressions(slower_pct=10))


def test_one_process_against_repeats_is_judged_by_the_prediction_interval(tmp_path):
    far = _pair(tmp_path, 2.0, repeats=(5, 1))
    assert _verdicts(far, "jax-cpu")["inference.direct.128"].test == compare.ONE_AGAINST_REPEATS
    assert _verdicts(far, "jax-cpu")["inference.direct.128"].label == "slower"
    near = _pair(tmp_path / "near", 1.0, repeats=(5, 1))
    assert {v.label for v in _verdicts(near, "jax-cpu").values()} <= {"within noise"}


def test_prediction_p_by_hand():
    from scipy import stats as scipy_stats

    from mnist_mlp.stats import prediction_p

    sample = [1.0, 1.2, 0.9, 1.1]
    mean, sd = sum(sample) / 4, (sum((x - 1.05) ** 2 for x in sample) / 3) ** 0.5
    expected = 2 * scipy_stats.t.sf(abs(1.6 - mean) / (sd * math.sqrt(1 + 1 / 4)), 3)
    assert prediction_p(1.6, sample) == pytest.approx(expected)
    assert prediction_p(1.6, [1.0]) is None and prediction_p(1.6, [1.0, 1.0]) is None


# ---------------------------------------------------------------------- the band's scope


def _single(tmp_path, base_kwargs, other_kwargs, band_of=None, cases=("jax",)):
    a = make_run([case(b) for b in cases], **base_kwargs)
    b = make_run([case(b, seconds_per_batch=0.0015, seed=7) for b in cases], run_id="20261128T040000Z_x", **other_kwargs)
    noise = band([band_of or a], sd=0.05)
    return compare.compare(compare.load_runs([write_run(tmp_path, a), write_run(tmp_path, b)]), band=noise)


def test_band_judges_single_values_on_its_own_machine_and_workload(tmp_path):
    result = _single(tmp_path, {}, {})
    verdict = _verdicts(result, "jax-cpu")["inference.direct.128"]
    assert verdict.test == compare.BAND and verdict.label == "slower"


def test_band_of_another_cpu_under_one_host_name_judges_nothing(tmp_path):
    """The VM kept its host name and moved from an AMD EPYC to an Intel Xeon: the band does not hold."""
    result = _single(tmp_path, {}, {"cpu": "Intel Xeon"})
    verdict = _verdicts(result, "jax-cpu")["inference.direct.128"]
    assert verdict.label == "not tested" and verdict.p_value is None
    assert "Intel Xeon" in verdict.describe() and "noise band was measured on hostA / Test CPU 3000" in verdict.describe()


def test_band_of_another_workload_judges_nothing(tmp_path):
    quick = workload(epochs=1, train_samples=10_000)
    result = _single(tmp_path, {"workload": quick}, {"workload": quick},
                     band_of=make_run([case()]))  # the band measured 25 epochs on every image
    verdict = _verdicts(result, "jax-cpu")["inference.direct.128"]
    assert verdict.label == "not tested" and "another workload" in verdict.describe()


def test_band_covers_only_the_cases_it_measured(tmp_path):
    """Once the widest spread of any case stood in for cases the band never ran (GPU cases)."""
    result = _single(tmp_path, {}, {}, band_of=make_run([case("jax")]), cases=("jax", "torch"))
    assert _verdicts(result, "jax-cpu")["inference.direct.128"].test == compare.BAND
    torch = _verdicts(result, "torch-cpu")["inference.direct.128"]
    assert torch.label == "not tested" and "no noise band measured for this case" in torch.describe()
