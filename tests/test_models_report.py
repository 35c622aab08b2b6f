"""The comparison report: computed once, rendered as HTML / Markdown / JSON from the dict."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from models_synthetic import features_frame, report_of

from toolkit.models._train import train_models
from toolkit.reports.comparison import build_report, render, render_html, render_markdown

MODEL_NAMES = [
    "linear",
    "logistic",
    "tree",
    "xgboost",
    "bgnbd",
    "ensemble",
    "days_since_last_purchase",
    "repeat_purchases",
]


@pytest.mark.slow
def test_html_shows_every_model_and_embeds_every_chart() -> None:
    html = render_html(report_of())
    for name in MODEL_NAMES:
        assert name in html, name
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 7  # ROC, PR, calibration, confusion, gain/lift, SHAP bar, beeswarm
    assert all(len(i) > 1000 for i in images)
    assert "<script" not in html and "http://" not in html and "https://" not in html
    for section in (
        "Decision tree rules",
        "Linear regression (OLS",
        "p-value",
        "Verdict",
        "Calibration",
        "confusion",
        "BG/NBD",
    ):
        assert section.lower() in html.lower(), section


def test_markdown_has_the_comparison_table_with_intervals() -> None:
    md = render_markdown(report_of())
    rows = [ln for ln in md.splitlines() if ln.startswith("| ") and "[" in ln]
    assert len(rows) >= len(MODEL_NAMES)
    assert "(champion)" in md
    assert "R²" in md and "|---|" in md
    assert "```" in md  # tree rules


def test_report_dict_holds_the_curves_and_survives_json() -> None:
    rep = report_of()
    back = json.loads(json.dumps(rep))
    assert back == rep
    champ = rep["champion"]
    assert set(rep["curves"][champ]) >= {"roc", "pr", "calibration", "gain", "confusion"}
    assert render(back, ".md") == render_markdown(rep)
    assert rep["comparison"]["lead_over_runner_up"]["over"] != champ


@pytest.mark.slow
def test_text_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    train = features_frame(400, 51)
    train[evil] = np.random.default_rng(0).normal(size=len(train))
    ev = features_frame(300, 52)
    ev[evil] = 0.0
    res = train_models(train, ev, models=["linear"], refit=False, n_boot=20)
    html = render_html(build_report(res))
    assert evil not in html
    assert "&lt;script&gt;" in html
    assert isinstance(res.evaluation["frame"], pd.DataFrame)
