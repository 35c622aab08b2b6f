"""A trained result saved as a model directory with its comparison report.

Saving stores and rendering renders: :func:`toolkit.models._persist.save_model_dir` writes the
models and their manifest, :mod:`toolkit.reports.comparison` computes and renders the report;
this composes the two for ``toolkit train`` and the Python API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.models._persist import ModelBundle, data_fingerprint, save_model_dir
from toolkit.reports.comparison import build_report, render_html, render_markdown

if TYPE_CHECKING:
    import os

    import pandas as pd

    from toolkit.models.training._train import TrainResult


def report_files(result: TrainResult) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The report dict and the files rendered from it: report.html, report.md and, with a
    decision tree, tree_rules.txt."""
    report = build_report(result, seed=result.settings.seed)
    rendered = {
        "report.html": render_html(report).encode("utf-8"),
        "report.md": render_markdown(report).encode("utf-8"),
    }
    tree = report.get("models", {}).get("tree") or {}
    if tree.get("rules"):
        rendered["tree_rules.txt"] = (
            "Decision tree rules (class 1 = "
            + (result.settings.label or "the positive class")
            + " = 1; see report.html for the leaves with their churn rates)\n\n"
            + str(tree["rules"])
        ).encode("utf-8")
    return report, rendered


def write_model_dir(
    result: TrainResult,
    directory: str | os.PathLike[str],
    *,
    source: str | os.PathLike[str] | None = None,
    frame: pd.DataFrame | None = None,
    segmenter: Any = None,
) -> ModelBundle:
    """Compute the comparison report once and save everything: models, metrics, report files.

    The data fingerprint is the SHA-256 of ``source`` (the input file) when given, else of
    ``frame``. This is what ``toolkit train`` (and the pipeline) call.

    Examples
    --------
    >>> # see tests/test_models_persist.py
    """
    report, rendered = report_files(result)
    return save_model_dir(
        result,
        directory,
        report=report,
        rendered=rendered,
        segmenter=segmenter,
        fingerprint=data_fingerprint(source, frame),
    )
