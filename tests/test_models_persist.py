"""The model directory: round trip, manifest checks, refusal of tampering and pickles."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from models_synthetic import features_frame, trained_result

from toolkit.errors import InputError, UnsafeModelError
from toolkit.models._persist import ModelBundle, load_model_dir, save_model_dir
from toolkit.models.estimators._base import Batch


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    save_model_dir(trained_result(), tmp_path / "M", fingerprint={"kind": "test"})
    return tmp_path / "M"


def test_round_trip_gives_identical_probabilities(model_dir: Path) -> None:
    res = trained_result()
    loaded = load_model_dir(model_dir)
    frame = features_frame(300, 21)
    b = Batch(frame, res.schema)
    assert set(loaded.scorers) == set(res.scorers)
    for name, scorer in res.scorers.items():
        np.testing.assert_array_equal(
            loaded.scorers[name].predict_proba(b), scorer.predict_proba(b)
        )
    assert loaded.champion == res.champion
    assert loaded.schema.features == res.schema.features


def test_manifest_records_what_the_issue_asks(model_dir: Path) -> None:
    m = json.loads((model_dir / "manifest.json").read_text())
    for key in (
        "toolkit_version",
        "libraries",
        "features",
        "cutoff",
        "horizon",
        "time_unit",
        "data_fingerprint",
        "metrics",
        "champion",
        "files",
    ):
        assert key in m, key
    assert m["features"]["dtypes"]["recency_days"] == "int64"
    assert {"numpy", "xgboost", "scikit-learn"} <= set(m["libraries"])
    assert "models/xgboost.booster.json" in m["files"]
    assert all(len(h) == 64 for h in m["files"].values())
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["champion"] == m["champion"]
    assert "roc_auc" in metrics["models"]["xgboost"]


def test_no_pickle_is_written(model_dir: Path) -> None:
    for p in model_dir.rglob("*"):
        if p.is_file():
            head = p.read_bytes()[:2]
            assert not (head[:1] == b"\x80"), p
            assert p.suffix in (".json", ".html", ".md"), p


def test_a_changed_file_is_refused(model_dir: Path) -> None:
    path = model_dir / "models" / "logistic.json"
    state = json.loads(path.read_text())
    state["intercept"] += 1.0
    path.write_text(json.dumps(state))
    with pytest.raises(UnsafeModelError, match="logistic.json does not match its SHA-256"):
        load_model_dir(model_dir)


@pytest.mark.parametrize("name", ["model.pkl", "extra.joblib", "models/innocent.json"])
def test_a_pickle_is_refused(model_dir: Path, name: str) -> None:
    (model_dir / name).write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(UnsafeModelError, match="pickle"):
        load_model_dir(model_dir)


def test_an_unknown_file_is_refused(model_dir: Path) -> None:
    (model_dir / "notes.txt").write_text("hello")
    with pytest.raises(UnsafeModelError, match="does not list"):
        load_model_dir(model_dir)


def test_a_missing_file_is_refused(model_dir: Path) -> None:
    (model_dir / "models" / "tree.json").unlink()
    with pytest.raises(UnsafeModelError, match="lacks"):
        load_model_dir(model_dir)


def test_a_link_is_refused(model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere.json").write_text("{}")
    (model_dir / "link.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(UnsafeModelError, match="link"):
        load_model_dir(model_dir)


def test_not_a_model_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a model directory"):
        load_model_dir(tmp_path)


def test_saving_over_a_foreign_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    with pytest.raises(InputError, match="not a model directory"):
        save_model_dir(trained_result(), tmp_path / "mine")
    assert (tmp_path / "mine" / "thesis.txt").read_text() == "precious"


def test_saving_again_replaces_a_model_directory(model_dir: Path) -> None:
    save_model_dir(trained_result(), model_dir)
    assert isinstance(load_model_dir(model_dir), ModelBundle)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["recency_days"]), r"missing \['recency_days'\]"),
        (lambda f: f.assign(shoe_size=42), r"unexpected \['shoe_size'\]"),
        (lambda f: f.assign(frequency=f["frequency"].astype(str)), "must be numeric"),
    ],
    ids=["missing", "extra", "wrong-type"],
)
def test_features_that_do_not_match_are_refused(model_dir: Path, change, message: str) -> None:
    bundle = load_model_dir(model_dir)
    with pytest.raises(InputError, match=message):
        bundle.batch(change(features_frame(50, 5)))


def test_a_segmenter_travels_with_the_model(tmp_path: Path) -> None:
    from toolkit.models.action._churnlist import churn_list
    from toolkit.segments import Segmenter

    frame = features_frame(300, 61)
    seg = Segmenter(k=3, n_bootstrap=0).fit(frame[["recency_days", "frequency"]])
    save_model_dir(trained_result(), tmp_path / "S", segmenter=seg)
    m = json.loads((tmp_path / "S" / "manifest.json").read_text())
    assert m["segmenter"] == "segmenter"
    assert any(f.startswith("segmenter/") for f in m["files"])
    loaded = load_model_dir(tmp_path / "S")
    out = churn_list(loaded, frame)
    assert set(out["segment"]) <= set(seg.predict_names(frame))


def test_write_model_dir_fingerprints_the_frame_and_writes_the_reports(tmp_path: Path) -> None:
    from toolkit.models._persist import fingerprint_frame
    from toolkit.reports.model_dir import write_model_dir

    frame = features_frame(100, 62)
    bundle = write_model_dir(trained_result(), tmp_path / "W", frame=frame)
    assert bundle.manifest["data_fingerprint"]["sha256"] == fingerprint_frame(frame)
    assert fingerprint_frame(frame) != fingerprint_frame(frame.iloc[:-1])
    for name in ("report.html", "report.md", "report.json"):
        assert name in bundle.manifest["files"]
    assert load_model_dir(tmp_path / "W").report is not None


def _edit_manifest(model_dir: Path, edit) -> None:
    path = model_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(champion="nope"), "'champion' 'nope' is not one of the models"),
        (lambda m: m.pop("champion"), "'champion' None is not one of the models"),
        (lambda m: m.update(models=[]), "'models' must be a non-empty list"),
        (lambda m: m.update(models="logistic"), "'models' must be a non-empty list"),
        (lambda m: m.update(settings=[]), "'settings' must be an object"),
        (lambda m: m.update(horizon="abc"), "'horizon' must be a whole number of days > 0"),
        (lambda m: m.update(horizon=-5), "'horizon' must be a whole number of days > 0"),
        (lambda m: m.update(cutoff="notadate"), "'cutoff' must be a date"),
        (lambda m: m["settings"].update(time_unit="years"), "'time_unit' must be 'days' or"),
    ],
    ids=[
        "unknown-champion",
        "no-champion",
        "no-models",
        "models-not-a-list",
        "settings-not-an-object",
        "horizon-text",
        "horizon-negative",
        "cutoff",
        "time-unit",
    ],
)
def test_a_manifest_edited_by_hand_is_refused(model_dir: Path, edit, message: str) -> None:
    # the files' hashes vouch for the files; the manifest's own fields are checked
    _edit_manifest(model_dir, edit)
    with pytest.raises(UnsafeModelError, match="manifest was changed after training") as exc:
        load_model_dir(model_dir)
    assert message in str(exc.value)


def test_a_model_state_rewritten_and_rehashed_is_refused_not_a_crash(model_dir: Path) -> None:
    from toolkit._digest import sha256_file

    path = model_dir / "models" / "logistic.json"
    path.write_text(json.dumps({"learner": 1}))
    _edit_manifest(
        model_dir, lambda m: m["files"].update({"models/logistic.json": sha256_file(path)})
    )
    with pytest.raises(UnsafeModelError, match="is malformed"):
        load_model_dir(model_dir)


def test_a_model_directory_gets_a_plain_directory_mode(tmp_path: Path) -> None:
    import os

    save_model_dir(trained_result(), tmp_path / "M", fingerprint={"kind": "test"})
    plain = tmp_path / "plain"
    plain.mkdir()
    assert (tmp_path / "M").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    assert os.access(tmp_path / "M", os.R_OK)
