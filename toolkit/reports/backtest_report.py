# ruff: noqa: E501  (HTML template lines)
"""The back-test's outputs: backtest.csv, backtest.json, report.html and report.md.

Compute once, render many: :func:`toolkit.models.action.backtest_transactions` returns one
JSON-ready summary; the CSV, the JSON, the charts and both reports read only that dict
(:func:`render_html`, :func:`render_markdown`), so a report can be drawn again from
``backtest.json`` alone. The HTML is one self-contained page (PNG charts as base64), rendered
by Jinja2 with autoescaping on.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit._json import jsonable
from toolkit._version import __version__
from toolkit.io import staged_outputs, write_frame
from toolkit.models.action._backtest import NAIVE_CHURN, backtest_rows
from toolkit.models.action._explain import new_figure

if TYPE_CHECKING:
    from toolkit.models.action._backtest import BacktestResult

#: what :func:`write_backtest_outputs` writes, in the order it names them
BACKTEST_FILES = ("backtest.csv", "backtest.json", "report.html", "report.md")


def write_backtest_outputs(result: BacktestResult, out: Path) -> list[Path]:
    """Write the four outputs of a back-test into ``out``, all together or none of them;
    returns their paths."""
    summary = result.summary
    with staged_outputs(out) as stage:
        write_frame(backtest_rows(summary), stage / BACKTEST_FILES[0])
        (stage / BACKTEST_FILES[1]).write_text(
            json.dumps(jsonable(summary), indent=1) + "\n", encoding="utf-8"
        )
        (stage / BACKTEST_FILES[2]).write_text(render_html(summary), encoding="utf-8")
        (stage / BACKTEST_FILES[3]).write_text(render_markdown(summary), encoding="utf-8")
    return [out / name for name in BACKTEST_FILES]


# --- what every renderer shows ---------------------------------------------------------------


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if v == v and abs(v) != float("inf") else "–"
    return str(v)


def _cell(m: dict[str, Any] | None, digits: int = 3) -> str:
    """``0.781 [0.762, 0.799]`` from a measure with its interval."""
    if not m:
        return "–"
    return f"{_fmt(m.get('value'), digits)} [{_fmt(m.get('ci_low'), digits)}, {_fmt(m.get('ci_high'), digits)}]"


def table_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per cutoff, as the reports and the command show it (text cells).

    Examples
    --------
    >>> table_rows({"cutoffs": [{"cutoff": "2011-01-01", "status": "skipped", "reason": "short"}]})
    [{'cutoff': '2011-01-01', 'skipped': 'short'}]
    """
    rows: list[dict[str, Any]] = []
    for r in summary["cutoffs"]:
        if r["status"] != "ok":
            rows.append({"cutoff": r["cutoff"], "skipped": r.get("reason", "")})
            continue
        champ = r["churn"][r["champion"]]
        naive = r["churn"][NAIVE_CHURN]
        value = r.get("value") or {}
        cands = value.get("candidates", {})
        used = cands.get(value.get("used"), {})
        others = {k: c for k, c in cands.items() if k != value.get("used")}
        rows.append(
            {
                "cutoff": r["cutoff"],
                "customers": f"{r['customers']:,}",
                "churn_rate": f"{100 * r['churn_rate']:.1f} %",
                "champion": r["champion"],
                "roc_auc": _cell(champ["roc_auc"]),
                "pr_auc": _cell(champ["pr_auc"]),
                "naive_roc_auc": _cell(naive["roc_auc"]),
                "naive_pr_auc": _cell(naive["pr_auc"]),
                "value_used": value.get("used", "–"),
                "value_gini": _cell(used.get("normalised_gini")),
                "value_total_ratio": _fmt((used.get("total_ratio") or {}).get("value"), 2),
                "other_values": "; ".join(
                    f"{k} {_fmt(c['normalised_gini']['value'])} / {_fmt(c['total_ratio']['value'], 2)}"
                    for k, c in others.items()
                ),
            }
        )
    return rows


def _verdict(summary: dict[str, Any]) -> list[str]:
    o = summary.get("overall") or {}
    if not o:
        return []
    lines = [
        f"Over {o['cutoffs_run']} cutoff(s), the churn champion's ROC-AUC averages "
        f"{_fmt(o['champion_roc_auc'])} against {_fmt(o['naive_roc_auc'])} for the naive ranking "
        f"by days since the last purchase (PR-AUC {_fmt(o['champion_pr_auc'])} against "
        f"{_fmt(o['naive_pr_auc'])})."
    ]
    if o.get("value_gini") is not None:
        lines.append(
            f"The value the toolkit uses orders real net spend with a normalised Gini of "
            f"{_fmt(o['value_gini'])} on average; its total is {_fmt(o['value_total_ratio'], 2)} "
            "times the real total."
        )
    return lines


def _setting_lines(summary: dict[str, Any]) -> list[str]:
    return [
        f"Data: {summary['source']}, {summary['data_first_day']} to {summary['data_last_day']}.",
        f"{summary['n_cutoffs']} cutoff(s), {summary['horizon']} days apart, each judged on the "
        f"{summary['horizon']} days after it (fully observed); the models are those of "
        "toolkit train, fitted on the history before each cutoff only.",
        "Churned = did not buy in [cutoff, cutoff + horizon); value = net spend (purchases less "
        "returns) there. Intervals: 95 % bootstrap "
        f"({summary['n_boot']} resamples, seed {summary['seed']}).",
    ]


# --- charts ----------------------------------------------------------------------------------


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def charts(summary: dict[str, Any]) -> dict[str, str]:
    """Every chart as base64 PNG, drawn from the summary only."""
    import numpy as np

    out: dict[str, str] = {}
    bt = summary.get("btyd")
    if bt:
        rows = bt["by_frequency"]
        fig, ax = new_figure(6.4, 4.2)
        xs = np.arange(len(rows))
        ax.plot(xs, [r["mean_real"] for r in rows], "o-", color="#c0392b", label="real")
        ax.plot(xs, [r["mean_forecast"] for r in rows], "s--", color="#1f4e79",
                label="BG/NBD forecast")  # fmt: skip
        ax.set_xticks(xs)
        ax.set_xticklabels([r["frequency"] for r in rows])
        ax.set_xlabel(f"repeat purchases before {bt['cutoff']} (calibration)")
        ax.set_ylabel(f"mean purchases in the {bt['horizon']} days after")
        ax.set_title("Holdout purchases by calibration purchases")
        ax.legend(fontsize=8)
        out["by_frequency"] = _png(fig)

        cum = bt["cumulative"]
        fig, ax = new_figure(8, 4.2)
        t = np.arange(len(cum["days"]))
        ax.plot(t, cum["real"], color="#c0392b", label="real")
        ax.plot(t, cum["forecast"], "--", color="#1f4e79", label="BG/NBD forecast")
        ax.axvline(
            cum["cutoff_index"], color="#777777", ls=":", lw=1, label=f"cutoff {bt['cutoff']}"
        )
        step = max(len(t) // 6, 1)
        ax.set_xticks(t[::step])
        ax.set_xticklabels([cum["days"][i] for i in t[::step]], fontsize=7)
        ax.set_xlabel("day")
        ax.set_ylabel("cumulative repeat purchase days")
        ax.set_title("Cumulative repeat purchases: calibration, then holdout")
        ax.legend(fontsize=8)
        out["cumulative"] = _png(fig)

    ok = [r for r in summary["cutoffs"] if r["status"] == "ok"]
    if ok:
        fig, (ax1, ax2) = new_figure(10, 3.8, 2)
        xs = np.arange(len(ok))
        labels = [r["cutoff"] for r in ok]
        ax1.plot(xs, [r["churn"][r["champion"]]["roc_auc"]["value"] for r in ok], "o-",
                 color="#1f4e79", label="champion")  # fmt: skip
        ax1.plot(xs, [r["churn"][NAIVE_CHURN]["roc_auc"]["value"] for r in ok], "s--",
                 color="#999999", label="days since last purchase")  # fmt: skip
        ax1.set_title("Churn list: ROC-AUC by cutoff")
        names = sorted({k for r in ok for k in (r.get("value") or {}).get("candidates", {})})
        for name in names:
            g = [
                ((r.get("value") or {}).get("candidates", {}).get(name) or {})
                .get("normalised_gini", {})
                .get("value", np.nan)
                for r in ok
            ]
            ax2.plot(xs, [np.nan if v is None else v for v in g], "o-", label=name)
        ax2.set_title("Value: normalised Gini by cutoff")
        for ax in (ax1, ax2):
            ax.set_xticks(xs)
            ax.set_xticklabels(labels, fontsize=7)
            ax.legend(fontsize=7)
        out["by_cutoff"] = _png(fig)
    return out


# --- rendering -------------------------------------------------------------------------------

_COLUMNS = [
    ("cutoff", "cutoff"),
    ("customers", "customers"),
    ("churn_rate", "churned"),
    ("champion", "champion"),
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC"),
    ("naive_roc_auc", "naive ROC-AUC"),
    ("naive_pr_auc", "naive PR-AUC"),
    ("value_used", "value used"),
    ("value_gini", "value Gini"),
    ("value_total_ratio", "total forecast / real"),
    ("other_values", "other values (Gini / total ratio)"),
]

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Back-test: {{ s.source }}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
h1, h2 { color: #1a3d5c; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.84em; }
th, td { border: 1px solid #ccd; padding: 4px 7px; text-align: right; }
th { background: #eef2f7; }
td.name, th.name { text-align: left; }
tr.skipped td { color: #777; font-style: italic; }
.verdict { background: #eef7ee; border-left: 4px solid #3a8f3a; padding: 0.5em 1em; }
img { max-width: 100%; border: 1px solid #e3e3e3; }
</style>
</head>
<body>
<h1>Back-test: {{ s.source }}</h1>
<ul>{% for line in settings %}<li>{{ line }}</li>{% endfor %}</ul>

<h2>Verdict</h2>
<div class="verdict">{% for line in verdict %}<p>{{ line }}</p>{% endfor %}</div>

<h2>Per cutoff</h2>
<p>At each cutoff the churn champion's churn probability and the value the toolkit uses, set
against what the customers known at the cutoff really did in the horizon after it; beside them
the naive churn ranking (the longest since the last purchase first) and the other value
forecasts. Each measure: value [95 % interval].</p>
<table id="cutoffs">
<thead><tr>{% for key, label in columns %}<th class="name">{{ label }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in rows %}{% if row.skipped is defined %}
<tr class="skipped"><td class="name">{{ row.cutoff }}</td><td class="name" colspan="{{ columns|length - 1 }}">skipped: {{ row.skipped }}</td></tr>
{% else %}<tr>{% for key, label in columns %}<td class="name">{{ row[key] }}</td>{% endfor %}</tr>
{% endif %}{% endfor %}
</tbody>
</table>
{% if img.by_cutoff %}<img alt="measures by cutoff" src="data:image/png;base64,{{ img.by_cutoff }}">{% endif %}

{% if s.btyd %}
<h2>BG/NBD: holdout purchases by calibration purchases</h2>
<p>At {{ s.btyd.cutoff }}: the customers grouped by their repeat purchases (purchase days after
the first) before the cutoff; the mean number of purchase days each group really had in the
{{ s.btyd.horizon }} days after, and BG/NBD's forecast for them (lifetimes'
plot_calibration_purchases_vs_holdout_purchases).</p>
<img alt="holdout purchases by calibration purchases" src="data:image/png;base64,{{ img.by_frequency }}">
<table id="by-frequency">
<thead><tr><th>repeat purchases before</th><th>customers</th><th>real mean after</th><th>forecast mean after</th></tr></thead>
<tbody>{% for r in s.btyd.by_frequency %}<tr><td>{{ r.frequency }}</td><td>{{ r.customers }}</td><td>{{ r.mean_real|fmt }}</td><td>{{ r.mean_forecast|fmt }}</td></tr>{% endfor %}</tbody>
</table>

<h2>BG/NBD: cumulative repeat purchases</h2>
<p>Day by day from {{ s.btyd.cumulative.start }}: the repeat purchase days of the
{{ s.btyd.cumulative.customers }} customers known at {{ s.btyd.cutoff }}, and BG/NBD's forecast
(the sum over customers of the purchases it expects by each one's age that day), through the
calibration period and the holdout (lifetimes' plot_cumulative_transactions).</p>
<img alt="cumulative repeat purchases" src="data:image/png;base64,{{ img.cumulative }}">
<p>BG/NBD at {{ s.btyd.cutoff }}: {% for k in ['r', 'alpha', 'a', 'b'] %}{{ k }} = {{ s.btyd.params[k]|fmt }}{% if not loop.last %}, {% endif %}{% endfor %}.</p>
{% endif %}

{% if s.notes %}<h2>Notes</h2>
<ul>{% for n in s.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
<p style="color:#777;font-size:0.8em">toolkit {{ version }}</p>
</body>
</html>
"""


def render_html(summary: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (charts embedded, text escaped)."""
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["fmt"] = _fmt
    return env.from_string(_TEMPLATE).render(
        s=summary,
        settings=_setting_lines(summary),
        verdict=_verdict(summary),
        columns=_COLUMNS,
        rows=table_rows(summary),
        img=charts(summary),
        version=__version__,
    )


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(summary: dict[str, Any]) -> str:
    """The report as Markdown (tables, no charts)."""
    lines = [f"# Back-test: {_md(summary['source'])}", ""]
    lines += [f"- {_md(s)}" for s in _setting_lines(summary)]
    lines += ["", "## Verdict", "", *_verdict(summary), "", "## Per cutoff", ""]
    lines.append("| " + " | ".join(label for _, label in _COLUMNS) + " |")
    lines.append("|" + "---|" * len(_COLUMNS))
    for row in table_rows(summary):
        if "skipped" in row:
            cells = [row["cutoff"], f"skipped: {_md(row['skipped'])}"] + [""] * (len(_COLUMNS) - 2)
        else:
            cells = [_md(row[key]) for key, _ in _COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    bt = summary.get("btyd")
    if bt:
        lines += [
            "",
            "## BG/NBD: holdout purchases by calibration purchases",
            "",
            f"At {bt['cutoff']}, horizon {bt['horizon']} days.",
            "",
            "| repeat purchases before | customers | real mean after | forecast mean after |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['frequency']} | {r['customers']} | {_fmt(r['mean_real'])} | {_fmt(r['mean_forecast'])} |"
            for r in bt["by_frequency"]
        ]
        cum = bt["cumulative"]
        i = cum["cutoff_index"]
        lines += [
            "",
            "## BG/NBD: cumulative repeat purchases",
            "",
            f"{cum['customers']:,} customers known at {bt['cutoff']}, from {cum['start']}.",
            "",
            "| day | real | forecast |",
            "|---|---|---|",
        ]
        for j in sorted({max(i - 1, 0), len(cum["days"]) - 1}):
            lines.append(f"| {cum['days'][j]} | {cum['real'][j]:,} | {cum['forecast'][j]:,.1f} |")
    if summary.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {_md(n)}" for n in summary["notes"]]
    return "\n".join(lines) + "\n"
