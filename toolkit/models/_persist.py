"""The model directory: plain JSON (and XGBoost's own JSON), a manifest, checked on load.

Layout::

    MODEL_DIR/
      manifest.json          versions, features, settings, fingerprint, metrics, SHA-256 per file
      metrics.json           per model metrics with 95 % bootstrap intervals, the champion
      models/<name>.json     parameters of each model and its calibrator (plain numbers)
      models/xgboost.booster.json   XGBoost's own JSON model
      value_model.json       BG/NBD + Gamma-Gamma parameters (or the spend-rate fallback)
      report.json / report.html / report.md
      segmenter/             optional: a saved toolkit.segments.Segmenter

No file is ever unpickled. Loading refuses (``UnsafeModelError``, exit code 2) a directory with a
file whose SHA-256 differs from the manifest, a file the manifest does not list, a missing file,
a symbolic link, or anything that looks like a pickle (``.pkl``/``.pickle``/``.joblib``, or
content starting with the pickle protocol bytes).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit._digest import sha256_file
from toolkit._json import jsonable
from toolkit._version import __version__
from toolkit.errors import InputError, UnsafeModelError
from toolkit.io._read import parquet_files
from toolkit.io._remote import as_url, remote_fingerprint
from toolkit.io._write import make_temp_dir
from toolkit.models.estimators._base import Batch, Scorer
from toolkit.models.estimators._boost import XGBoostModel
from toolkit.models.estimators._data import FeatureSchema
from toolkit.models.estimators._linear import LinearProbabilityModel, LogisticModel
from toolkit.models.estimators._reference import (
    BGNBDExpected,
    BGNBDScorer,
    DaysSinceLastPurchase,
    EnsembleModel,
    RepeatPurchases,
)
from toolkit.models.estimators._tree import DecisionTreeModel
from toolkit.models.training._settings import TrainSettings

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.models.training._train import TrainResult

FORMAT = "toolkit.model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pck", ".pt", ".pth", ".sav", ".dill")
SEGMENTER_DIR = "segmenter"
LIBRARIES = ("numpy", "pandas", "scikit-learn", "xgboost", "statsmodels", "shap", "scipy")


def dumps(obj: Any) -> bytes:
    return json.dumps(jsonable(obj), indent=1, sort_keys=False, allow_nan=False).encode("utf-8")


def fingerprint_frame(df: pd.DataFrame) -> str:
    """SHA-256 of a frame's contents (values, column names and order)."""
    import pandas as pd

    h = hashlib.sha256()
    h.update("\x1f".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        for dist in (lib, f"{lib}-cpu"):
            try:
                out[lib] = version(dist)
                break
            except PackageNotFoundError:
                continue
    return out


class ModelBundle:
    """A trained set of models, as saved in (and loaded from) a model directory.

    Attributes
    ----------
    schema : FeatureSchema
    scorers : dict
        Model name -> fitted scorer (the champion among them).
    champion : str
    settings : TrainSettings
        Mode, label, cutoff, horizon, time unit, what churn probability means, ...
    metrics, comparison : dict
        The evaluation (``metrics.json``).
    value_model : dict
        The basis of ``value_at_risk``.
    report : dict or None
        The computed comparison report (``report.json``).
    segmenter : Segmenter or None
    manifest : dict
        As written / read.
    """

    def __init__(
        self,
        *,
        schema: FeatureSchema,
        scorers: dict[str, Scorer],
        champion: str,
        settings: TrainSettings,
        metrics: dict[str, Any],
        comparison: dict[str, Any],
        value_model: dict[str, Any],
        notes: list[str] | None = None,
        report: dict[str, Any] | None = None,
        segmenter: Any = None,
        fingerprint: dict[str, Any] | None = None,
        manifest: dict[str, Any] | None = None,
    ) -> None:
        self.schema = schema
        self.scorers = scorers
        self.champion = champion
        self.settings = settings
        self.metrics = metrics
        self.comparison = comparison
        self.value_model = value_model
        self.notes = notes or []
        self.report = report
        self.segmenter = segmenter
        self.fingerprint = fingerprint or {}
        self.manifest = manifest or {}

    @classmethod
    def from_result(
        cls,
        result: TrainResult,
        *,
        report: dict[str, Any] | None = None,
        segmenter: Any = None,
        fingerprint: dict[str, Any] | None = None,
    ) -> ModelBundle:
        return cls(
            schema=result.schema,
            scorers=result.scorers,
            champion=result.champion,
            settings=result.settings,
            metrics=result.metrics,
            comparison=result.comparison,
            value_model=result.value_model,
            notes=result.notes,
            report=report,
            segmenter=segmenter,
            fingerprint=fingerprint,
        )

    # -- scoring

    @property
    def champion_scorer(self) -> Scorer:
        return self.scorers[self.champion]

    def batch(self, df: pd.DataFrame, *, source: str = "the data") -> Batch:
        """Check ``df`` against the features the models were trained on; wrap it for scoring."""
        self.schema.check(df, source=source)
        return Batch(df.reset_index(drop=True), self.schema)

    def churn_probability(self, batch: Batch, model: str | None = None) -> np.ndarray:
        """Churn probability from the champion (or ``model``)."""
        p = self.scorers[model or self.champion].predict_proba(batch)
        return p if self.settings.churn_is_positive else 1.0 - p

    def metrics_document(self) -> dict[str, Any]:
        return {
            "champion": self.champion,
            "positive_class": self.settings.positive_class,
            "churn_probability": self.settings.churn_probability,
            "evaluation": self.settings.evaluation,
            **({"long_horizon": self.settings.long_horizon} if self.settings.long_horizon else {}),
            "interval": "95% percentile bootstrap, "
            f"{self.settings.n_boot} resamples of the evaluation customers "
            f"(seed {self.settings.seed})",
            "threshold_rule": "calibrated probability maximising Youden's J (TPR - FPR) on "
            "the validation split",
            "models": {
                name: {
                    "title": self.scorers[name].title if name in self.scorers else name,
                    "role": self.scorers[name].role if name in self.scorers else "model",
                    "threshold": getattr(self.scorers.get(name), "threshold_", None),
                    **m,
                }
                for name, m in self.metrics.items()
            },
            "comparison": self.comparison,
            **(
                {"value_forecast": self.value_model["evaluation"]}
                if self.value_model.get("evaluation")
                else {}
            ),
        }

    # -- saving

    def save(
        self, directory: str | os.PathLike[str], *, extra_files: dict[str, bytes] | None = None
    ) -> Path:
        """Write the model directory (replacing an earlier model directory at that path).

        The directory is written beside the target and moved into place at the end, so a failed
        save never leaves a half-written model.
        """
        target = Path(directory)
        if target.exists() and not target.is_dir():
            raise InputError(f"`out` {str(target)!r} exists and is not a directory")
        if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).exists():
            raise InputError(
                f"`out` {str(target)!r} exists, is not empty and is not a model directory; "
                "choose a new or empty directory"
            )
        target.parent.mkdir(parents=True, exist_ok=True)

        # not mkdtemp: its 0700 would become the model directory's mode
        tmp = make_temp_dir(target.parent, f".{target.name}.")
        try:
            self._write(tmp, extra_files or {})
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
                os.replace(target, old / "m")
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return target

    def _write(self, root: Path, extra_files: dict[str, bytes]) -> None:
        files: dict[str, bytes] = {}
        for name, scorer in self.scorers.items():
            state, blobs = scorer.state()
            state["title"] = scorer.title
            state["role"] = scorer.role
            state["raw_scale"] = scorer.raw_scale
            state["files"] = {}
            for fname, blob in blobs.items():
                rel = f"models/{name}.{fname.replace('.json', '')}.json"
                if not fname.endswith(".json"):
                    rel = f"models/{name}.{fname}"
                files[rel] = blob
                state["files"][fname] = rel
            files[f"models/{name}.json"] = dumps(state)
        files["value_model.json"] = dumps(self.value_model)
        files["metrics.json"] = dumps(self.metrics_document())
        if self.report is not None:
            files["report.json"] = dumps(self.report)
        files.update(extra_files)
        for rel, blob in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)
        if self.segmenter is not None:
            self.segmenter.save(root / SEGMENTER_DIR)
        hashes = {
            p.relative_to(root).as_posix(): sha256_file(p)
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != MANIFEST
        }
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "toolkit_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "libraries": library_versions(),
            "features": {
                "names": self.schema.features,
                "dtypes": {k: self.schema.dtypes.get(k, "") for k in self.schema.features},
            },
            "schema": self.schema.to_dict(),
            "settings": self.settings.to_dict(),
            "cutoff": self.settings.cutoff,
            "horizon": self.settings.horizon,
            "time_unit": self.settings.time_unit,
            "data_fingerprint": self.fingerprint,
            "champion": self.champion,
            "models": list(self.scorers),
            "metrics": self.metrics,
            "comparison": self.comparison,
            "notes": self.notes,
            "segmenter": SEGMENTER_DIR if self.segmenter is not None else None,
            "files": hashes,
        }
        (root / MANIFEST).write_bytes(dumps(manifest))
        self.manifest = jsonable(manifest)

    # -- loading

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ModelBundle:
        """Load a model directory after checking every file against the manifest.

        Raises
        ------
        UnsafeModelError
            Hash mismatch, unknown or missing file, link, or a pickle.
        InputError
            Not a model directory.
        """
        root = Path(directory)
        manifest = verify_directory(root)
        _check_manifest(manifest, root / MANIFEST)
        try:
            return cls._from_verified(root, manifest)
        except UnsafeModelError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # a manifest edited by hand and re-hashed files: a refusal, not a crash (XGBoost's
            # errors are ValueErrors; only their first line is a message)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise UnsafeModelError(
                f"model directory {str(root)!r} is malformed ({type(exc).__name__}: {first}); "
                "train the model again"
            ) from None

    @classmethod
    def _from_verified(cls, root: Path, manifest: dict[str, Any]) -> ModelBundle:
        schema = FeatureSchema.from_dict(manifest["schema"])
        scorers: dict[str, Scorer] = {}
        for name in manifest["models"]:
            state = _read_json(root / "models" / f"{name}.json")
            blobs = {
                fname: (root / rel).read_bytes() for fname, rel in state.get("files", {}).items()
            }
            scorers[name] = _scorer_class(name).from_state(schema, state, blobs)
        for scorer in scorers.values():
            names = getattr(scorer, "member_names_", None)
            if names is not None:
                scorer.members_ = [scorers[n] for n in names]  # type: ignore[attr-defined]
        report = _read_json(root / "report.json") if (root / "report.json").exists() else None
        segmenter = None
        if manifest.get("segmenter"):
            from toolkit.segments import Segmenter

            segmenter = Segmenter.load(root / manifest["segmenter"])
        return cls(
            schema=schema,
            scorers=scorers,
            champion=manifest["champion"],
            settings=TrainSettings.from_dict(manifest["settings"]),
            metrics=manifest["metrics"],
            comparison=manifest["comparison"],
            value_model=_read_json(root / "value_model.json"),
            notes=manifest.get("notes", []),
            report=report,
            segmenter=segmenter,
            fingerprint=manifest.get("data_fingerprint", {}),
            manifest=manifest,
        )


def _check_manifest(manifest: dict[str, Any], mpath: Path) -> None:
    """The fields a model directory is used by must have their types: the files' hashes vouch
    for the files, but the manifest itself is plain JSON anyone can edit."""
    from datetime import date

    def bad(what: str) -> UnsafeModelError:
        return UnsafeModelError(f"{mpath}: {what}; the manifest was changed after training")

    models = manifest.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise bad(f"'models' must be a non-empty list of model names, found {models!r}")
    if manifest.get("champion") not in models:
        raise bad(f"'champion' {manifest.get('champion')!r} is not one of the models {models}")
    for key in ("schema", "settings", "metrics", "comparison"):
        if not isinstance(manifest.get(key), dict):
            raise bad(f"{key!r} must be an object, found {type(manifest.get(key)).__name__}")
    for where in (manifest, manifest["settings"]):
        horizon, cutoff, unit = where.get("horizon"), where.get("cutoff"), where.get("time_unit")
        if horizon is not None and not (
            isinstance(horizon, int) and not isinstance(horizon, bool) and horizon > 0
        ):
            raise bad(f"'horizon' must be a whole number of days > 0, found {horizon!r}")
        if cutoff is not None:
            try:
                date.fromisoformat(str(cutoff))
            except ValueError:
                raise bad(f"'cutoff' must be a date, found {cutoff!r}") from None
        if unit not in (None, "days", "weeks"):
            raise bad(f"'time_unit' must be 'days' or 'weeks', found {unit!r}")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnsafeModelError(f"{path}: not a readable JSON file ({exc})") from None


def _looks_pickled(path: Path) -> bool:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    with open(path, "rb") as fh:
        head = fh.read(2)
    # protocols 2-5 start with PROTO (0x80) and the protocol number
    return len(head) == 2 and head[0] == 0x80 and 1 <= head[1] <= 5


def verify_directory(root: Path) -> dict[str, Any]:
    """Check a model directory against its manifest; returns the manifest.

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     verify_directory(Path(tempfile.mkdtemp()))
    ... except InputError as e:
    ...     print(type(e).__name__)
    InputError
    """
    if not root.is_dir():
        raise InputError(f"model directory {str(root)!r} does not exist or is not a directory")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise InputError(
            f"{str(root)!r} is not a model directory (no {MANIFEST}); train one with toolkit train"
        )
    present = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            raise UnsafeModelError(f"model directory {str(root)!r}: {rel} is a link; refused")
        if p.is_file():
            if _looks_pickled(p):
                raise UnsafeModelError(
                    f"model directory {str(root)!r} contains {rel}, which is (or looks like) a "
                    "pickle; toolkit never loads pickles, since loading one can run any code"
                )
            present[rel] = p
    manifest = _read_json(mpath)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UnsafeModelError(f"{mpath}: not a toolkit model manifest")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise InputError(
            f"{mpath}: written by a newer toolkit (format {manifest.get('format_version')}); "
            "upgrade toolkit to load it"
        )
    listed: dict[str, str] = manifest.get("files", {})
    unknown = sorted(set(present) - set(listed) - {MANIFEST})
    if unknown:
        raise UnsafeModelError(
            f"model directory {str(root)!r} holds files the manifest does not list: {unknown}"
        )
    missing = sorted(set(listed) - set(present))
    if missing:
        raise UnsafeModelError(f"model directory {str(root)!r} lacks files: {missing}")
    for rel, digest in listed.items():
        if sha256_file(present[rel]) != digest:
            raise UnsafeModelError(
                f"model directory {str(root)!r}: {rel} does not match its SHA-256 in the "
                "manifest (changed after training); refused"
            )
    return manifest


def _scorer_class(name: str) -> type[Scorer]:

    classes: dict[str, type[Scorer]] = {
        c.name: c
        for c in (
            LinearProbabilityModel,
            LogisticModel,
            DecisionTreeModel,
            XGBoostModel,
            BGNBDScorer,
            BGNBDExpected,
            DaysSinceLastPurchase,
            RepeatPurchases,
            EnsembleModel,
        )
    }
    if name not in classes:
        raise UnsafeModelError(f"unknown model {name!r} in the manifest")
    return classes[name]


def save_model_dir(
    result: TrainResult,
    directory: str | os.PathLike[str],
    *,
    report: dict[str, Any] | None = None,
    rendered: dict[str, bytes] | None = None,
    segmenter: Any = None,
    fingerprint: dict[str, Any] | None = None,
) -> ModelBundle:
    """Save a training result as a model directory; returns the bundle (with its manifest)."""
    bundle = ModelBundle.from_result(
        result, report=report, segmenter=segmenter, fingerprint=fingerprint
    )
    bundle.save(directory, extra_files=rendered)
    return bundle


def load_model_dir(directory: str | os.PathLike[str]) -> ModelBundle:
    """Load (and verify) a model directory: :meth:`ModelBundle.load`."""
    return ModelBundle.load(directory)


def data_fingerprint(
    source: str | os.PathLike[str] | None = None, frame: pd.DataFrame | None = None
) -> dict[str, Any]:
    """What the manifest records of the training data: the SHA-256 of the input file (of the
    files' paths and sizes for a directory or glob of Parquet files, a data set too large to
    read twice), else of the features frame, else nothing. A URL (object storage) is pinned by
    its files' URLs, sizes and versions, without reading them."""

    url = as_url(source) if source is not None else None
    if url is not None:
        return {
            "kind": "sha256 of the input files' URLs, sizes and versions",
            "file": url,
            "sha256": remote_fingerprint(url),
        }
    files = _source_files(source)
    if source is not None and files is not None:
        listing = "\n".join(f"{f}\t{f.stat().st_size}" for f in files)
        return {
            "kind": "sha256 of the input files' paths and sizes",
            "file": Path(source).name,
            "files": len(files),
            "sha256": hashlib.sha256(listing.encode("utf-8")).hexdigest(),
        }
    if source is not None:
        path = Path(source)
        return {"kind": "sha256 of the input file", "file": path.name, "sha256": sha256_file(path)}
    if frame is not None:
        return {"kind": "sha256 of the features frame", "sha256": fingerprint_frame(frame)}
    return {"kind": "none"}


def _source_files(source: str | os.PathLike[str] | None) -> list[Path] | None:
    """The Parquet files of a directory or glob ``source``; None for one file (or none)."""
    if source is None:
        return None

    try:
        return parquet_files(source)
    except InputError:  # gone meanwhile: fingerprinted as a file, which says so
        return None
