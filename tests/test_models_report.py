"""The comparison report: computed once, rendered as HTML / Markdown / JSON from the dict."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from models_synthetic import features_frame, report_of

from toolkit.models.training._train import train_models
from toolkit.reports.comparison import build_report, render, render_html, render_markdown

MODEL_NAMES = [
    "linear",
    "logistic",
    "tree",
    "xgboost",
    "bgnbd",
    "bgnbd_expected",
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
        "Decision tree: who churns",
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
    assert "| customers who ... | share of customers | churn rate |" in md  # tree leaves


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
    assert isinstance(res.evaluation.frame, pd.DataFrame)


class _Page(HTMLParser):
    """The text of each table's header and body cells, and every heading, of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.headings: list[str] = []
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("h1", "h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._heading is not None:
            self._heading.append(data)


@pytest.mark.slow
def test_the_report_speaks_of_churners() -> None:
    """Positive class = churned: the metrics, the matrix, the curves and the tree say so."""
    rep = report_of()
    html = render_html(rep)
    page = _Page()
    page.feed(html)
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "positive class: churned" in text.lower()
    assert "Precision = share of the customers predicted to churn who did" in text
    # the tree's leaves, as a table with churn rates, largest first
    tree = next(
        t
        for t in page.tables
        if t and t[0][:3] == ["customers who ...", "share of customers", "churn rate"]
    )
    shares = [float(row[1].rstrip("%")) for row in tree[1:]]
    assert shares == sorted(shares, reverse=True) and len(tree) > 1
    assert all(0 <= float(row[2].rstrip("%")) <= 100 for row in tree[1:])
    assert "Decision tree: who churns" in page.headings
    # the linear tables list the largest coefficients first
    lin = next(t for t in page.tables if t and t[0][:2] == ["term", "coefficient"])
    coefs = [abs(float(r[1])) for r in lin[1:] if r[0].lower() not in ("const", "intercept")]
    assert coefs == sorted(coefs, reverse=True)
    # the metrics are the churners': the churn rate is the PR curve's base rate
    champ = rep["champion"]
    churn_rate = rep["curves"][champ]["pr"]["base_rate"]
    assert churn_rate == pytest.approx(rep["settings"]["evaluation_positive_rate"])
    cm = rep["curves"][champ]["confusion"]
    n = cm["tn"] + cm["fp"] + cm["fn"] + cm["tp"]
    assert (cm["fn"] + cm["tp"]) / n == pytest.approx(churn_rate)


def test_confusion_matrix_and_gain_speak_in_words() -> None:
    md = render_markdown(report_of())
    assert "| | predicted to stay | predicted to churn |" in md
    assert "| stayed |" in md and "| churned |" in md
    assert "share of churners found" in md
    assert "actual 0" not in md and "predicted 1" not in md


def test_shap_lists_only_features_the_champion_uses() -> None:
    rep = report_of()
    assert all(r["mean_abs_contribution"] > 0 for r in rep["shap"]["importance"])
    assert all(any(c != 0 for c in f["contribution"]) for f in rep["shap"]["beeswarm"]["features"])
