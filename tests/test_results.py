"""Result files given to compare, report or gate: anything unusable is a ResultFileError naming
the file and the field, never a traceback or a silently wrong comparison."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from mnist_mlp import results
from mnist_mlp.errors import EXIT_BAD_INPUT, ResultFileError


def good_run() -> dict:
    stats = results.stats
    seed = {
        "seed": 0, "wall_seconds": 10.0, "first_epoch_seconds": 2.0, "steady_epoch_seconds": 1.0,
        "steady_ms_per_step": 0.5, "time_to_target_seconds": 6.0, "epochs_to_target": 5,
        "test_accuracy": 0.97, "history": {"loss": [0.3, 0.2]},
    }
    training = {
        "steps_per_epoch": 1500, "per_seed": [seed],
        "wall_seconds": stats([10.0]), "first_epoch_seconds": stats([2.0]), "steady_epoch_seconds": stats([1.0]),
        "steady_ms_per_step": stats([0.5]), "time_to_target_seconds": stats([6.0]), "test_accuracy": stats([0.97]),
        "gflops": 1.0, "percent_of_peak": None,
    }
    case = {
        "id": "jax-cpu", "backend": "jax", "device": "cpu", "status": "ok", "reason": None, "stderr_tail": None,
        "duration_s": 12.5, "raw_benchmark_json": None, "training": training,
        "inference": [{"path": "predict", "batch_size": 32, "seconds_per_batch": stats([0.01, 0.02]),
                       "samples_per_second": 2000.0, "gflops": 1.0, "percent_of_peak": None}],
        "latency_ms": {}, "agreement": None, "confusion_matrix": None,
    }
    return {
        "schema": "mnist-mlp/results", "schema_version": 1, "run_id": "20261127T040000Z_host",
        "created_utc": "2026-11-27T04:00:00Z", "status": "complete",
        "tool": {"name": "mnist-mlp", "version": "0.1.0", "commit": None, "dirty": None}, "profile": "quick",
        "machine": {"host": "host"}, "software": {"keras": "3.15.1"}, "dataset": {"sha256": "0" * 64, "source": "x"},
        "workload": {"seeds": [0]}, "cases": [case], "gate": None,
    }


def write(tmp_path: Path, text: str, name: str = "results.json") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path, problem: str) -> str:
    with pytest.raises(ResultFileError) as info:
        results.load(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: "), message
    assert re.fullmatch(problem, message[len(f"{path}: "):]), message
    assert info.value.exit_code == EXIT_BAD_INPUT
    return message


def edited(edit) -> str:
    run = copy.deepcopy(good_run())
    edit(run)
    return json.dumps(run, indent=2)


def test_good_file_round_trips(tmp_path):
    results.save(good_run(), tmp_path)
    assert results.load(tmp_path) == good_run()  # a run directory works as well as the file


def test_missing_file(tmp_path):
    refused(tmp_path / "results.json", r"results file not found")


@pytest.mark.parametrize("cut", [1, 200, -2])
def test_truncated_json(tmp_path, cut):
    text = json.dumps(good_run(), indent=2)
    refused(write(tmp_path, text[:cut]), r"not valid JSON, truncated or damaged \(.*line \d+ column \d+.*\)")


def test_empty_file(tmp_path):
    refused(write(tmp_path, ""), r"not valid JSON, truncated or damaged \(Expecting value: line 1 column 1 \(char 0\)\)")


def test_binary_garbage(tmp_path):
    path = tmp_path / "results.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    refused(path, r"unreadable \('utf-8' codec can't decode .*\)")


def test_deeply_nested_json(tmp_path):
    refused(write(tmp_path, "[" * 100_000 + "]" * 100_000), r"not an mnist-mlp results file \(JSON nested too deeply\)")


@pytest.mark.parametrize(
    "name, text",
    [
        # what pytest-benchmark --benchmark-json writes
        ("pytest-benchmark.json", json.dumps({
            "machine_info": {"node": "host"}, "commit_info": {"id": "abc"},
            "benchmarks": [{"name": "test_fit", "stats": {"mean": 0.1, "min": 0.09}}],
            "datetime": "2026-11-27T04:00:00", "version": "4.0.0"})),
        ("package.json", json.dumps({"name": "left-pad", "version": "1.3.0"})),
        ("list.json", "[1, 2, 3]"),
        ("number.json", "42"),
        ("other-schema.json", edited(lambda r: r.update(schema="someone-else/results"))),
    ],
)
def test_json_from_another_tool(tmp_path, name, text):
    refused(write(tmp_path, text, name), r'not an mnist-mlp results file \(no "schema": "mnist-mlp/results"\)')


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda r: r.pop("schema_version"), r"missing or invalid schema_version"),
        (lambda r: r.update(schema_version="1"), r"missing or invalid schema_version"),
        (lambda r: r.update(schema_version=True), r"missing or invalid schema_version"),
        (lambda r: r.update(schema_version=0), r"schema_version 0 is not a valid version"),
        (lambda r: r.update(schema_version=3), r"schema_version 3 is newer than this mnist-mlp understands \(2\); upgrade"),
    ],
    ids=["missing", "string", "bool", "zero", "newer"],
)
def test_schema_version(tmp_path, edit, problem):
    refused(write(tmp_path, edited(edit)), problem)


def case(run: dict) -> dict:
    return run["cases"][0]


def seed(run: dict) -> dict:
    return case(run)["training"]["per_seed"][0]


@pytest.mark.parametrize(
    "edit, problem",
    [
        # wrong types
        (lambda r: r.update(cases={}), r"cases should be list, got dict"),
        (lambda r: r.update(run_id=7), r"run_id should be str, got int"),
        (lambda r: r.pop("machine"), r"missing field 'machine'"),
        (lambda r: r.update(status="done"), r"status is 'done', expected one of complete, partial, interrupted"),
        (lambda r: r["cases"].append("jax-gpu"), r"cases\[1\] is not an object"),
        (lambda r: case(r).pop("id"), r"cases\[0\]: missing field 'id'"),
        # a case id names files (raw/<id>.json) and table rows: it must not escape the run directory
        (lambda r: case(r).update(id="../../etc/jax-cpu"), r"cases\[0\]\.id '\.\./\.\./etc/jax-cpu' may hold only letters, digits, '\.', '_' and '-' \(it names files and table rows\)"),
        (lambda r: case(r).update(id="/tmp/x"), r"cases\[0\]\.id '/tmp/x' may hold only .*"),
        (lambda r: case(r).update(id="jax|cpu\n"), r"cases\[0\]\.id 'jax\|cpu\\n' may hold only .*"),
        (lambda r: case(r).update(id=""), r"cases\[0\]\.id '' may hold only .*"),
        (lambda r: case(r).update(status="fine"), r"cases\[0\]\.status is 'fine', expected one of ok, skipped, failed, timeout, interrupted, running"),
        (lambda r: case(r).update(duration_s="12.5"), r"cases\[0\]\.duration_s should be a number, got str"),
        (lambda r: case(r).update(duration_s=True), r"cases\[0\]\.duration_s should be a number, got bool"),
        (lambda r: case(r)["inference"][0].update(batch_size=32.0), r"cases\[0\]\.inference\[0\]\.batch_size should be int, got float"),
        (lambda r: case(r)["inference"][0].update(batch_size=0), r"cases\[0\]\.inference\[0\]\.batch_size must be at least 1, got 0"),
        (lambda r: case(r)["training"].update(wall_seconds=[10.0]), r"cases\[0\]\.training\.wall_seconds should be a statistics object"),
        # fields compare reads (a list or text there was a traceback)
        (lambda r: case(r).update(latency_ms=[1.0]), r"cases\[0\]\.latency_ms should map each path to an object of percentiles"),
        (lambda r: case(r).update(latency_ms={"direct": {"p50": "fast"}}), r"cases\[0\]\.latency_ms\.direct\.p50 should be a number, got str"),
        (lambda r: case(r).update(machine_flags=[3]), r"cases\[0\]\.machine_flags should be a list of text"),
        (lambda r: r["machine"].update(cpu="EPYC"), r"machine\.cpu should be an object"),
        (lambda r: r["machine"].update(gpus=["H200"]), r"machine\.gpus should be a list of objects"),
        # negative times
        (lambda r: case(r).update(duration_s=-1), r"cases\[0\]\.duration_s is negative \(-1\)"),
        (lambda r: seed(r).update(wall_seconds=-10.0), r"cases\[0\]\.training\.per_seed\[0\]\.wall_seconds is negative \(-10\.0\)"),
        (lambda r: seed(r).update(time_to_target_seconds=-6.0), r"cases\[0\]\.training\.per_seed\[0\]\.time_to_target_seconds is negative \(-6\.0\)"),
        (lambda r: case(r)["training"]["steady_epoch_seconds"].update(mean=-1.0), r"cases\[0\]\.training\.steady_epoch_seconds\.mean is negative \(-1\.0\)"),
        (lambda r: case(r)["training"]["time_to_target_seconds"]["samples"].append(-3.0), r"cases\[0\]\.training\.time_to_target_seconds\.samples\[1\] is negative \(-3\.0\)"),
        (lambda r: case(r)["inference"][0]["seconds_per_batch"]["samples"].append(-0.1), r"cases\[0\]\.inference\[0\]\.seconds_per_batch\.samples\[2\] is negative \(-0\.1\)"),
        (lambda r: case(r)["inference"][0].update(samples_per_second=-5), r"cases\[0\]\.inference\[0\]\.samples_per_second is negative \(-5\)"),
        # accuracies above 1 (or a percentage where a fraction belongs)
        (lambda r: seed(r).update(test_accuracy=1.5), r"cases\[0\]\.training\.per_seed\[0\]\.test_accuracy is 1\.5, outside \[0, 1\]"),
        (lambda r: seed(r).update(test_accuracy=97.0), r"cases\[0\]\.training\.per_seed\[0\]\.test_accuracy is 97\.0, outside \[0, 1\]"),
        (lambda r: seed(r).update(test_accuracy=-0.1), r"cases\[0\]\.training\.per_seed\[0\]\.test_accuracy is -0\.1, outside \[0, 1\]"),
        (lambda r: case(r)["training"]["test_accuracy"].update(mean=97.0), r"cases\[0\]\.training\.test_accuracy\.mean is 97\.0, outside \[0, 1\]"),
        (lambda r: case(r)["training"]["test_accuracy"]["samples"].append(1.01), r"cases\[0\]\.training\.test_accuracy\.samples\[1\] is 1\.01, outside \[0, 1\]"),
        # a serving case's check and a cold start (rendered by the report's Serving section)
        (lambda r: case(r).update(serving=[1]), r"cases\[0\]\.serving should be an object, got list"),
        (lambda r: case(r).update(serving={"max_abs_diff": "tiny", "reduced": False, "ok": True}), r"cases\[0\]\.serving\.max_abs_diff should be a number, got str"),
        (lambda r: case(r).update(serving={"max_abs_diff": 1e-7, "test_accuracy": 98.0, "reduced": False, "ok": True}), r"cases\[0\]\.serving\.test_accuracy is 98\.0, outside \[0, 1\]"),
        (lambda r: case(r).update(serving={"max_abs_diff": 1e-7, "reduced": "no", "ok": True}), r"cases\[0\]\.serving\.reduced should be true or false, got 'no'"),
        (lambda r: case(r).update(cold_start={"total_s": -1.0}), r"cases\[0\]\.cold_start\.total_s is negative \(-1\.0\)"),
    ],
    ids=lambda v: "" if callable(v) else re.sub(r"\W+", "-", v)[:60],
)
def test_impossible_values(tmp_path, edit, problem):
    refused(write(tmp_path, edited(edit)), problem)


@pytest.mark.parametrize(
    "old, new, problem",
    [
        ('"test_accuracy": 0.97,', '"test_accuracy": NaN,', r"cases\[0\]\.training\.per_seed\[0\]\.test_accuracy is NaN"),
        ('"duration_s": 12.5', '"duration_s": Infinity', r"cases\[0\]\.duration_s is Infinity"),
        ('"samples_per_second": 2000.0', '"samples_per_second": -Infinity', r"cases\[0\]\.inference\[0\]\.samples_per_second is -Infinity"),
        ('"duration_s": 12.5', '"duration_s": 1e999', r"cases\[0\]\.duration_s is Infinity"),
        # even where the schema does not look: a history curve
        ("0.2\n", "NaN\n", r"cases\[0\]\.training\.per_seed\[0\]\.history\.loss\[1\] is NaN"),
    ],    ids=["NaN", "Infinity", "-Infinity", "1e999", "NaN-in-history"],
)
def test_nan_and_infinity_tokens(tmp_path, old, new, problem):
    text = json.dumps(good_run(), indent=2)
    assert text.count(old) >= 1
    text = text.replace(old, new, 1)
    refused(write(tmp_path, text), problem + r", not allowed in a results file \(a missing number is stored as null\)")


def test_save_refuses_an_invalid_run_and_keeps_the_previous_file(tmp_path):
    results.save(good_run(), tmp_path)
    before = (tmp_path / "results.json").read_bytes()
    bad = good_run()
    seed(bad)["test_accuracy"] = 2.0
    with pytest.raises(ResultFileError, match=r"test_accuracy is 2\.0, outside \[0, 1\]"):
        results.save(bad, tmp_path)
    assert (tmp_path / "results.json").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
