"""The index of runs: newest first, invalid folders skipped with a warning, written atomically."""

from __future__ import annotations

import json

from fixtures.compare.runfactory import case, make_run, write_run
from mnist_mlp import runs
from mnist_mlp.cli.main import main


def _reports(tmp_path):
    write_run(tmp_path, make_run([case()], run_id="old", created="2026-01-01T00:00:00Z"), "20260101T000000Z_a")
    write_run(tmp_path, make_run([case(), case("torch", "gpu")], run_id="new", created="2026-03-01T00:00:00Z", host="gpu-box"),
              "20260301T000000Z_b")
    write_run(tmp_path, make_run([case(status="failed")], run_id="mid", created="2026-02-01T00:00:00Z"), "20260201T000000Z_c")
    broken = tmp_path / "20260401T000000Z_broken"
    broken.mkdir()
    (broken / "results.json").write_text("{not json")
    (tmp_path / "compare-20260101").mkdir()  # not a run: no results.json
    return tmp_path


def test_newest_first_and_invalid_skipped(tmp_path, caplog):
    entries, skipped = runs.scan(_reports(tmp_path))
    assert [e.run["run_id"] for e in entries] == ["new", "mid", "old"]
    assert list(skipped) == ["20260401T000000Z_broken"]
    assert "skipped" in caplog.text and "broken" in caplog.text
    row = entries[0].row()
    assert row["cases"] == ["jax-cpu", "torch-gpu"] and row["host"] == "gpu-box"
    assert row["headline"][0].startswith("jax-cpu 60.5 s 97.60%")
    assert entries[1].row()["cases"] == ["jax-cpu (failed)"]


def test_open_division_headline_is_the_race_score():
    """An open run's case has no training figures: its headline is the time to the target."""
    scored = case("jax", "cpu", accuracies=None)
    scored["race"] = {"target_accuracy": 0.979, "score": {"seconds": 2.0912, "reached": 9, "seeds": 10}, "per_seed": []}
    missed = case("tensorflow", "cpu", accuracies=None)
    missed["race"] = {"target_accuracy": 0.979, "score": {"seconds": None, "reached": 8, "seeds": 10}, "per_seed": []}
    row = runs.RunEntry("r", make_run([scored, missed])).row()
    assert row["headline"] == ["jax-cpu 2.09 s to 97.9% (9/10)", "tensorflow-cpu no score to 97.9% (8/10)"]


def test_write_index_rewrites_markdown(tmp_path):
    path = runs.write_index(_reports(tmp_path))
    text = path.read_text()
    assert path.name == "index.md"
    assert text.index("new") < text.index("mid") < text.index("old")
    assert "Skipped" in text and "20260401T000000Z_broken" in text
    assert not list(tmp_path.glob(".index.md.*"))  # no temporary file left behind


def test_cli_runs_json_and_empty_folder(tmp_path, capsys):
    _reports(tmp_path)
    assert main(["runs", "--reports", str(tmp_path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in payload["runs"]] == ["new", "mid", "old"]
    assert "20260401T000000Z_broken" in payload["skipped"]
    empty = tmp_path / "empty"
    assert main(["runs", "--reports", str(empty)]) == 0
    assert "No runs yet." in (empty / "index.md").read_text()


def test_committed_runs_in_subfolders_are_listed_by_relative_path(tmp_path, capsys):
    _reports(tmp_path)
    write_run(tmp_path / "reference", make_run([case()], run_id="ref", created="2026-02-15T00:00:00Z"), "20260215T000000Z_ref")
    write_run(tmp_path / "calibration", make_run([case()], run_id="cal", created="2026-01-15T00:00:00Z"), "20260115T000000Z_cal")
    write_run(tmp_path / "regressions", make_run([case()], run_id="20260310T000000Z_lr100", created="2026-03-10T00:00:00Z"),
              "20260310T000000Z_lr100")
    (tmp_path / "calibration" / "thresholds.json").write_text("{}")  # calibration notes, not a run
    (tmp_path / "regressions" / "20260310T000000Z_lr100" / "raw").mkdir()  # inside a run: not searched
    deep = tmp_path / "a" / "b" / "too-deep"
    write_run(deep.parent, make_run([case()], run_id="too-deep"), deep.name)
    broken = tmp_path / "reference" / "broken"
    broken.mkdir()
    (broken / "results.json").write_text("[]")

    entries, skipped = runs.scan(tmp_path)
    assert [(e.folder, e.run["run_id"]) for e in entries] == [
        ("regressions/20260310T000000Z_lr100", "20260310T000000Z_lr100"),
        ("20260301T000000Z_b", "new"),
        ("reference/20260215T000000Z_ref", "ref"),
        ("20260201T000000Z_c", "mid"),
        ("calibration/20260115T000000Z_cal", "cal"),
        ("20260101T000000Z_a", "old"),
    ]
    assert sorted(skipped) == ["20260401T000000Z_broken", "reference/broken"]
    text = runs.write_index(tmp_path).read_text()
    assert "[regressions/20260310T000000Z_lr100](regressions/20260310T000000Z_lr100/)" in text
    assert "[reference/20260215T000000Z_ref (ref)](reference/20260215T000000Z_ref/)" in text
    assert "too-deep" not in text
    assert main(["runs", "--reports", str(tmp_path), "--json"]) == 0
    assert [r["folder"] for r in json.loads(capsys.readouterr().out)["runs"]][:3] == [
        "regressions/20260310T000000Z_lr100", "20260301T000000Z_b", "reference/20260215T000000Z_ref"]
