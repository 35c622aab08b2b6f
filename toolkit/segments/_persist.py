"""Save and load a fitted :class:`~toolkit.segments.Segmenter` without pickle.

A segmenter directory holds ``segmenter.json`` (parameters, preprocessing, names, metrics and
the SHA-256 of every array file) and one ``.npy`` file per array, written with
``allow_pickle=False``. Loading reads JSON and ``np.load(..., allow_pickle=False)`` only, checks
every hash, and refuses any file it does not expect: loading never runs code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from toolkit._digest import sha256_file
from toolkit._json import jsonable
from toolkit._version import __version__
from toolkit.errors import InputError, UnsafeModelError
from toolkit.segments._io import write_atomic, write_text
from toolkit.segments._models import MODEL_KINDS
from toolkit.segments._prep import Preprocessor

if TYPE_CHECKING:
    from toolkit.segments._segmenter import Segmenter

FORMAT = "toolkit.segmenter"
FORMAT_VERSION = 1
MANIFEST = "segmenter.json"


def save_segmenter(seg: Segmenter, directory: Path) -> Path:
    """Write ``seg`` into ``directory`` (created if needed); returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays = dict(seg.model_.arrays())
    arrays["segment_of_raw"] = seg.segment_of_raw_
    files: dict[str, str] = {}
    for name, arr in arrays.items():
        path = directory / f"{name}.npy"
        with write_atomic(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
        files[path.name] = sha256_file(path)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "toolkit_version": __version__,
        "params": seg.get_params(deep=False),
        "model_kind": seg.model_.kind,
        "model_meta": seg.model_.meta(),
        "preprocessor": seg.preprocessor_.to_dict(),
        "n_features_in": seg.n_features_in_,
        "feature_names_in": list(getattr(seg, "feature_names_in_", [])) or None,
        "n_segments": seg.n_segments_,
        "names": {str(k): v for k, v in seg.names_.items()},
        "actions": {str(k): list(v) for k, v in getattr(seg, "actions_", {}).items()},
        "fitted_params": seg.params_,
        "metrics": seg.metrics_,
        "profiles": seg.profiles_.to_dict(orient="list"),
        "distinctiveness": {
            "index": [int(i) for i in seg.distinctiveness_.index],
            "columns": list(seg.distinctiveness_.columns),
            "values": seg.distinctiveness_.to_numpy().tolist(),
        },
        "files": files,
    }
    write_text(json.dumps(jsonable(manifest), indent=1, allow_nan=False), directory / MANIFEST)
    for stale in directory.glob("*.npy"):  # arrays of an earlier segmenter saved here
        if stale.name not in files:
            stale.unlink()
    return directory


def load_segmenter(cls: type[Segmenter], directory: Path) -> Segmenter:
    """Rebuild a fitted segmenter from ``directory``; see the module docstring for the checks."""
    if (directory / "segmenter" / MANIFEST).is_file() and not (directory / MANIFEST).exists():
        directory = directory / "segmenter"  # an output directory of `toolkit segment`
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise InputError(
            f"{str(directory)!r} is not a saved segmenter: {MANIFEST} not found "
            "(give the directory written by Segmenter.save or toolkit segment's DIR/segmenter)"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnsafeModelError(f"cannot read {str(manifest_path)!r} as JSON: {exc}") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise UnsafeModelError(
            f"{str(manifest_path)!r} is not a {FORMAT} v{FORMAT_VERSION} manifest "
            f"(format {manifest.get('format')!r}, version {manifest.get('format_version')!r})"
        )
    files: dict[str, str] = manifest.get("files", {})
    expected = set(files) | {MANIFEST}
    unexpected = sorted(
        p.name for p in directory.iterdir() if p.name not in expected and not p.name.startswith(".")
    )
    if unexpected:
        raise UnsafeModelError(
            f"segmenter directory {str(directory)!r} holds unexpected files {unexpected!r}; "
            "only segmenter.json and the .npy arrays it lists are allowed"
        )
    arrays: dict[str, np.ndarray] = {}
    for name, digest in files.items():
        path = directory / name
        if path.is_symlink():  # as the model directory: a link could point anywhere
            raise UnsafeModelError(f"segmenter file {str(path)!r} is a link; refused")
        if Path(name).name != name or not name.endswith(".npy") or not path.is_file():
            raise UnsafeModelError(f"segmenter file {name!r} is missing or not a .npy file")
        if sha256_file(path) != digest:
            raise UnsafeModelError(
                f"segmenter file {str(path)!r} does not match its SHA-256 in {MANIFEST}: "
                "it was changed after saving"
            )
        try:
            arrays[name[:-4]] = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise UnsafeModelError(f"cannot load {str(path)!r} without pickle: {exc}") from None
    try:
        return _rebuild(cls, manifest, arrays)
    except UnsafeModelError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # segmenter.json edited by hand: a refusal naming it, not a crash
        raise UnsafeModelError(
            f"{str(manifest_path)!r} is malformed ({type(exc).__name__}: {exc}); "
            "segment the data again"
        ) from None


def _rebuild(
    cls: type[Segmenter], manifest: dict[str, Any], arrays: dict[str, np.ndarray]
) -> Segmenter:
    kind = MODEL_KINDS.get(manifest["model_kind"])
    if kind is None:
        raise UnsafeModelError(f"unknown segmenter model kind {manifest['model_kind']!r}")
    params = manifest["params"]
    if isinstance(params.get("k_range"), list):
        params["k_range"] = tuple(params["k_range"])
    seg = cls(**params)
    seg.model_ = kind.from_parts(arrays, manifest.get("model_meta", {}))
    seg.segment_of_raw_ = arrays["segment_of_raw"].astype(np.int64)
    seg.preprocessor_ = Preprocessor.from_dict(manifest["preprocessor"])
    seg.n_features_in_ = int(manifest["n_features_in"])
    if manifest.get("feature_names_in"):
        seg.feature_names_in_ = np.asarray(manifest["feature_names_in"], dtype=object)
    seg.n_segments_ = int(manifest["n_segments"])
    seg.names_ = {int(k): str(v) for k, v in manifest["names"].items()}
    seg.actions_ = {
        int(k): (str(v[0]), str(v[1]), str(v[2])) for k, v in manifest.get("actions", {}).items()
    }
    seg.params_ = manifest.get("fitted_params", {})
    seg.metrics_ = manifest.get("metrics", {})
    seg.profiles_ = pd.DataFrame(manifest.get("profiles", {}))
    dist = manifest.get("distinctiveness")
    if dist:
        seg.distinctiveness_ = pd.DataFrame(
            dist["values"], index=dist["index"], columns=dist["columns"]
        )
    seg.selection_ = pd.DataFrame(seg.metrics_.get("selection", []))
    seg.extra_ = {}
    return seg
