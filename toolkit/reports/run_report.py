"""The report of ``toolkit run``: the whole story in one page, computed once, rendered many ways.

:func:`build_run_report` reads the files a run wrote (validation.json, features.parquet,
correlations/, segments/, clv/, model/, churn_list.csv) and computes one JSON-ready dict;
:func:`render_html` and :func:`render_markdown` only read that dict (and embed the PNG charts the
steps already drew, by their paths in it), and ``summary.json`` is the dict itself. Nothing here
fits a model or recomputes a step.

Every section is always in the dict, in the order of :data:`SECTIONS`; a section that does not
apply to this data (a customer table has no purchase history, so no CLV, models or churn list)
says why instead of being left out silently.
"""

from __future__ import annotations

import base64
import json
import math
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from toolkit._version import __version__
from toolkit.features._correlate import definitional
from toolkit.io import write_atomic
from toolkit.reports._run_template import TEMPLATE
from toolkit.reports.comparison import _fig, _png, _pval, _value_deciles_png, _verdict

#: (id, heading) of every section, in the order of the report
SECTIONS = (
    ("data", "Data"),
    ("features", "Features"),
    ("segments", "Segments"),
    ("clv", "Customer lifetime value"),
    ("models", "Churn models"),
    ("churn", "Churn list"),
    ("method", "How this was computed"),
)
#: the features whose distributions are drawn, when the features are a log's
MAIN_FEATURES = (
    "recency_days",
    "frequency",
    "lifetime_spend",
    "avg_order_value",
    "tenure_days",
    "p_alive",
)
TOP_PAIRS = 10
TOP_CHURN = 20
HIST_BINS = 30


def build_run_report(out: str | Path, run: dict[str, Any]) -> dict[str, Any]:
    """Compute the run's report once from the files of the run in ``out``.

    Parameters
    ----------
    out : path
        The run's directory (``toolkit run --out DIR``).
    run : dict
        What ran: ``steps`` (name -> ran / reused / skipped), ``skipped`` (name -> reason),
        ``seconds``, ``options``, ``data``, ``kind``.

    Returns
    -------
    dict
        JSON-ready; every section of :data:`SECTIONS` under ``sections``, each with ``available``
        and, when it is not, ``absent_reason``; ``currency`` (``options["currency"]``, else the
        sign the log's amounts are written with) is shown with every money figure.
    """
    currency = (run.get("options") or {}).get("currency") or _currency_in_data(Path(out))
    with _in_currency(currency):
        report = _build_run_report(Path(out), run)
    report["currency"] = currency
    return report


def _currency_in_data(out: Path) -> str:
    """The currency sign the log's amounts are written with (validation.json), or ''."""
    path = out / "validation.json"
    if not path.exists():
        return ""
    return str(_read_json(path).get("currency") or "")


def _build_run_report(out: Path, run: dict[str, Any]) -> dict[str, Any]:
    skipped = run.get("skipped", {})
    sections: dict[str, dict[str, Any]] = {}
    builders = {
        "data": lambda: _data(out),
        "features": lambda: _features(out),
        "segments": lambda: _segments(out),
        "clv": lambda: _clv(out),
        "models": lambda: _models(out),
        "churn": lambda: _churn(out),
    }
    needs = {"clv": "clv", "models": "train", "churn": "predict"}
    for sid, title in SECTIONS:
        if sid == "method":
            continue
        step = needs.get(sid)
        if step and step in skipped:
            sections[sid] = {"title": title, "available": False, "absent_reason": skipped[step]}
            continue
        body = builders[sid]()
        sections[sid] = {"title": title, "available": True, **body}
    sections["method"] = {"title": "How this was computed", "available": True, **_method(run)}
    report = {
        "title": "Retention analysis",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "toolkit_version": __version__,
        "data_file": run.get("data"),
        "kind": run.get("kind"),
        "headline": _headline(sections),
        "sections": sections,
    }
    return _jsonable(report)


# --- sections ------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _data(out: Path) -> dict[str, Any]:
    v = _read_json(out / "validation.json")
    problems = [
        {
            "description": p.get("description", p.get("code")),
            "count": int(p.get("count", 0)),
            "treatment": p.get("treatment", ""),
        }
        for p in v.get("problems", [])
    ]
    if v.get("kind") == "customer_table":
        return {
            "kind": "customer_table",
            "rows": v["rows"],
            "customers": v.get("customers"),
            "id_column": v.get("id_column"),
            "columns": v.get("columns", {}),
            "problems": problems,
        }
    return {
        "kind": "transactions",
        "rows": v.get("rows"),
        "customers": v.get("customers"),
        "first_date": str(v.get("purchase_first_date") or v.get("first_date"))[:10],
        "last_date": str(v.get("purchase_last_date") or v.get("last_date"))[:10],
        "purchase_rows": v.get("purchase_rows"),
        "purchase_customers": v.get("purchase_customers"),
        "purchase_amount": v.get("purchase_amount"),
        "return_rows": v.get("return_rows"),
        "columns": v.get("columns", {}),
        "notes": v.get("notes", []),
        "problems": problems,
    }


def _histogram(values: Any, column: str) -> dict[str, Any] | None:
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0 or np.ptp(x) == 0:
        return None
    # money and counts are skewed: a log axis shows their shape, a linear one a single bar
    scale = max(float(np.median(x)), 1e-9)
    log = bool(x.min() >= 0 and (np.quantile(x, 0.99) > 20 * scale or x.max() > 50 * scale))
    edges = np.histogram_bin_edges(np.log1p(x) if log else x, bins=HIST_BINS)
    counts, _ = np.histogram(np.log1p(x) if log else x, bins=edges)
    return {
        "column": column,
        "log1p": log,
        "edges": edges.tolist(),
        "counts": counts.tolist(),
        "n": int(len(x)),
        "median": float(np.median(x)),
        "mean": float(np.mean(x)),
        "p90": float(np.quantile(x, 0.9)),
    }


def _features(out: Path) -> dict[str, Any]:
    import pandas as pd

    df = pd.read_parquet(out / "features.parquet")
    numeric = [
        c
        for c in df.columns
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
    ]
    main = [c for c in MAIN_FEATURES if c in numeric] or [
        c for c in numeric if df[c].nunique() > 2 and "id" not in c.lower()
    ][:6]
    hists = [h for c in main if (h := _histogram(df[c], c)) is not None]
    body: dict[str, Any] = {
        "customers": int(len(df)),
        "columns": int(df.shape[1]),
        "distributions": hists,
    }
    if "repeat_purchase" in df.columns:
        body["repeat_rate"] = float(df["repeat_purchase"].mean())
    corr_dir = out / "correlations"
    if (corr_dir / "correlations.csv").exists():
        pairs = pd.read_csv(corr_dir / "correlations.csv")
        summary = _read_json(corr_dir / "summary.json")
        keep = [
            not definitional(str(a), str(b), float(r))
            for a, b, r in zip(pairs["var_1"], pairs["var_2"], pairs["r"], strict=True)
        ]
        shown = pairs[keep]
        shown = shown[shown["q_value"] < summary.get("alpha", 0.05)].head(TOP_PAIRS)
        body["correlations"] = {
            "method": summary.get("method"),
            "n_pairs": summary.get("n_pairs"),
            "n_significant": summary.get("n_significant"),
            "definitional_left_out": int(len(pairs) - sum(keep)),
            "pairs": [
                {
                    "var_1": str(row.var_1),
                    "var_2": str(row.var_2),
                    "r": float(row.r),
                    "q_value": float(row.q_value),
                    "n": int(row.n),
                    "sentence": _pair_sentence(str(row.var_1), str(row.var_2), float(row.r)),
                }
                for row in shown.itertuples()
            ],
            "heatmap": "correlations/heatmap.png",
        }
    return body


def _pair_sentence(a: str, b: str, r: float) -> str:
    """'Customers with a higher frequency tend to have a higher lifetime_spend (strong).'"""
    strength = "strong" if abs(r) >= 0.5 else "moderate" if abs(r) >= 0.3 else "weak"
    direction = "higher" if r > 0 else "lower"
    return f"Customers with a higher {a} tend to have a {direction} {b} ({strength}, r = {r:+.2f})."


def _segments(out: Path) -> dict[str, Any]:
    import pandas as pd

    seg = out / "segments"
    metrics = _read_json(seg / "metrics.json")
    table = pd.read_csv(seg / "actions.csv") if (seg / "actions.csv").exists() else None
    if table is None:
        table = pd.read_csv(seg / "profiles.csv")
    cols = [
        c
        for c in (
            "segment_name",
            "size",
            "share",
            "rule",
            "action",
            "churn_probability_mean",
            "value_at_risk_total",
            "value_at_risk_mean",
            "at_risk",
        )
        if c in table.columns
    ]
    rows = table[cols].to_dict(orient="records")
    method = metrics.get("methods", {}).get(metrics.get("method"), {})
    images = {
        name: f"segments/{file}"
        for name, file in (
            ("profile_heatmap", "profiles_heatmap.png"),
            ("scatter", "scatter.png"),
        )
        if (seg / file).exists()
    }
    return {
        "method": metrics.get("method"),
        "k": metrics.get("k"),
        "silhouette": metrics.get("silhouette"),
        "stability_ari": metrics.get("stability_ari"),
        "why": method.get("reason"),
        "columns": metrics.get("data", {}).get("columns", []),
        # a history too short to tell loyalty: why the names are neutral
        "naming_note": (metrics.get("naming") or {}).get("reason"),
        "rows": rows,
        "images": images,
    }


def _clv(out: Path) -> dict[str, Any]:
    import pandas as pd

    params = _read_json(out / "clv" / "params.json")
    customers = pd.read_csv(out / "clv" / "customers.csv")
    bg = params.get("bgnbd", {})
    gg = params.get("gamma_gamma", {})
    pred = params.get("prediction", {})
    value = customers["clv"] if "clv" in customers else pd.Series(dtype=float)
    p_alive = customers["p_alive"] if "p_alive" in customers else pd.Series(dtype=float)
    return {
        "horizon": pred.get("horizon"),
        "time_unit": pred.get("time_unit"),
        "discount_rate": pred.get("discount_rate"),
        "customers": int(len(customers)),
        "total_value": float(value.sum()),
        "median_value": float(value.median()) if len(value) else None,
        "top_decile_share": _top_share(value.to_numpy(dtype=float)),
        "p_alive_median": float(p_alive.median()) if len(p_alive) else None,
        "p_alive_below_half": float((p_alive < 0.5).mean()) if len(p_alive) else None,
        "value_distribution": _histogram(value, "clv"),
        "bgnbd": {k: bg.get(k) for k in ("r", "alpha", "a", "b", "log_likelihood", "n_customers")},
        "bgnbd_standard_errors": bg.get("standard_errors") or {},
        "flags": list(bg.get("flags") or []),
        "warnings": list(bg.get("warnings") or []),
        "gamma_gamma": {k: gg.get(k) for k in ("p", "q", "v", "n_customers")},
        "value_forecast": _value_forecast(out),
        "images": {"p_alive_matrix": "clv/p_alive_matrix.png"}
        if (out / "clv" / "p_alive_matrix.png").exists()
        else {},
    }


def _value_forecast(out: Path) -> dict[str, Any] | None:
    """Which value forecast the churn model uses, and how each did out of time (the model
    directory's value model), so that the CLV section and the churn list tell one story."""
    path = out / "model" / "value_model.json"
    if not path.exists():
        return None
    vm = _read_json(path)
    ev = vm.get("evaluation") or {}
    if not ev.get("candidates"):
        return None
    return {
        "used": ev.get("used") or ev.get("champion"),
        "title": ev["candidates"].get(ev.get("champion"), {}).get("title"),
        "origin": ev.get("origin"),
        "out_of_time": ev.get("out_of_time"),
        "gini": {k: c["normalised_gini"]["value"] for k, c in ev["candidates"].items()},
        "candidates": ev["candidates"],
    }


def _top_share(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    total = values.sum()
    if len(values) == 0 or total <= 0:
        return None
    top = np.sort(values)[::-1][: max(1, len(values) // 10)]
    return float(top.sum() / total)


def _models(out: Path) -> dict[str, Any]:

    rep = _read_json(out / "model" / "report.json")
    table = [
        {
            "name": row["name"],
            "title": row.get("title", row["name"]),
            "role": row.get("role", "model"),
            "champion": bool(row.get("champion")),
            **{
                m: row["metrics"].get(m)
                for m in ("roc_auc", "pr_auc", "top_decile_lift", "brier")
                if m in row["metrics"]
            },
        }
        for row in rep.get("table", [])
    ]
    settings = rep.get("settings", {})
    value_model = rep.get("value_model", {})
    bg = rep.get("models", {}).get("bgnbd", {})
    return {
        "champion": rep.get("champion"),
        "verdict": _verdict(rep),
        "table": table,
        "positive_class": settings.get("positive_class"),
        "churn_probability": settings.get("churn_probability"),
        "evaluation": settings.get("evaluation", {}),
        "notes": rep.get("notes", []),
        "flags": list(bg.get("flags") or value_model.get("bgnbd_flags") or []),
        "report": "model/report.html",
    }


def _churn(out: Path) -> dict[str, Any]:
    import pandas as pd

    churn = pd.read_csv(out / "churn_list.csv", dtype={"customer_id": str})
    cols = [
        c
        for c in (
            "priority_rank",
            "customer_id",
            "churn_probability",
            "risk_band",
            "segment",
            "expected_value",
            "value_at_risk",
            "reason_1",
            "reason_2",
            "reason_3",
        )
        if c in churn.columns
    ]
    top = churn[cols].head(TOP_CHURN).astype(object).where(churn[cols].head(TOP_CHURN).notna())
    body: dict[str, Any] = {
        "file": "churn_list.csv",
        "customers": int(len(churn)),
        "columns": cols,
        "top": top.to_dict(orient="records"),
    }
    if "expected_value" in churn:
        body["expected_value_total"] = float(churn["expected_value"].sum())
    if "value_at_risk" in churn:
        body["value_at_risk_total"] = float(churn["value_at_risk"].sum())
        body["value_at_risk_top_share"] = _top_share(churn["value_at_risk"].to_numpy(float))
    if "risk_band" in churn:
        body["bands"] = {str(k): int(v) for k, v in churn["risk_band"].value_counts().items()}
    body["mean_churn_probability"] = float(churn["churn_probability"].mean())
    return body


def _method(run: dict[str, Any]) -> dict[str, Any]:
    import importlib.metadata as md

    versions = {"python": platform.python_version(), "toolkit": __version__}
    for pkg in ("duckdb", "pandas", "numpy", "scikit-learn", "statsmodels", "xgboost-cpu", "shap"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return {
        "data": run.get("data"),
        "kind": run.get("kind"),
        "options": run.get("options", {}),
        "steps": run.get("steps", {}),
        "skipped": run.get("skipped", {}),
        # a reused step shows the time it took when it was computed
        "seconds": run.get("seconds_when_computed") or run.get("seconds", {}),
        "versions": versions,
    }


def _headline(sections: dict[str, dict[str, Any]]) -> list[str]:
    """The few sentences a manager reads first."""
    lines = []
    d = sections["data"]
    if d.get("kind") == "transactions":
        lines.append(
            f"{_n(d.get('purchase_customers') or d.get('customers'))} customers bought between "
            f"{d['first_date']} and {d['last_date']} ({_n(d.get('rows'))} rows)."
        )
    else:
        lines.append(f"A customer table of {_n(d.get('rows'))} customers.")
    s = sections["segments"]
    if s.get("available") and s.get("rows"):
        # names may hold commas ("high income, low spending"): semicolons between them
        names = "; ".join(f"{r['segment_name']} ({_n(r.get('size'))})" for r in s["rows"])
        lines.append(f"{len(s['rows'])} segments: {names}.")
    c = sections["churn"]
    # a total of value at risk values customers: only when the CLV could (else its reason below)
    valued = sections["clv"]["available"]
    if valued and c.get("available") and c.get("value_at_risk_total") is not None:
        lines.append(
            f"Value at risk over the horizon: {_money(c['value_at_risk_total'])} across "
            f"{_n(c['customers'])} customers; the riskiest 10% hold "
            f"{_pct(c.get('value_at_risk_top_share'))} of it."
        )
    m = sections["models"]
    if m.get("available") and m.get("verdict"):
        lines.append(m["verdict"][0])
    said: set[str] = set()
    for sid in ("clv", "models", "churn"):
        sec = sections[sid]
        if sid == "churn" and not sections["models"]["available"]:
            continue  # no models, no list: said once
        if not sec["available"] and sec["absent_reason"] not in said:
            said.add(sec["absent_reason"])
            lines.append(f"No {sec['title'].lower()}: {sec['absent_reason']}.")
    return lines


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    return str(obj)


# --- rendering ----------------------------------------------------------------------------------


def _n(v: Any) -> str:
    return "–" if v is None else f"{int(v):,}"


def _pct(v: Any) -> str:
    return "–" if v is None else f"{float(v):.1%}"


#: the currency of the run's money figures (``toolkit run --currency``), while one report is built
#: or rendered; empty: plain numbers
_CURRENCY: ContextVar[str] = ContextVar("currency", default="")


def with_currency(amount: str, currency: str) -> str:
    """``amount`` with ``currency`` before it: a symbol joined (£1,234), a code spaced (EUR 1,234).

    Examples
    --------
    >>> with_currency("1,234", "£"), with_currency("1,234", "EUR"), with_currency("1,234", "")
    ('£1,234', 'EUR 1,234', '1,234')
    """
    if not currency:
        return amount
    return f"{currency} {amount}" if currency[-1].isalnum() else f"{currency}{amount}"


def _money(v: Any) -> str:
    return "–" if v is None else with_currency(f"{float(v):,.0f}", _CURRENCY.get())


@contextmanager
def _in_currency(currency: str | None) -> Iterator[None]:
    token = _CURRENCY.set(currency or "")
    try:
        yield
    finally:
        _CURRENCY.reset(token)


def _num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}" if abs(v) < 1 else f"{v:,.{digits - 1}f}"
    return str(v)


def _metric(m: Any) -> str:
    if not m:
        return "–"
    return f"{m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"


def charts(report: dict[str, Any], base: Path | None) -> dict[str, str]:
    """Every image of the report as base64 PNG: the steps' PNGs (read from ``base``) and the
    distributions, drawn from the dict."""

    out: dict[str, str] = {}
    s = report["sections"]
    if base is not None:
        for sid in ("segments", "clv"):
            for name, rel in (s[sid].get("images") or {}).items():
                if (base / rel).exists():
                    out[f"{sid}.{name}"] = base64.b64encode((base / rel).read_bytes()).decode()
        heat = (s["features"].get("correlations") or {}).get("heatmap")
        if heat and (base / heat).exists():
            out["features.heatmap"] = base64.b64encode((base / heat).read_bytes()).decode()
    hists = s["features"].get("distributions") or []
    if hists:
        ncols = min(3, len(hists))
        nrows = math.ceil(len(hists) / ncols)
        fig, axes = _fig(3.4 * ncols, 2.6 * nrows, ncols)
        fig.clear()
        for i, h in enumerate(hists):
            ax = fig.add_subplot(nrows, ncols, i + 1)
            _draw_hist(ax, h)
        out["features.distributions"] = _png(fig)
    vf = s["clv"].get("value_forecast") if s["clv"].get("available") else None
    if vf and vf.get("candidates"):
        out["clv.value_deciles"] = _value_deciles_png(vf)
    v = s["clv"].get("value_distribution") if s["clv"].get("available") else None
    if v:
        fig, ax = _fig(6.4, 3.2)
        _draw_hist(ax, v, title="expected value per customer over the horizon")
        out["clv.value_distribution"] = _png(fig)
    return out


def _draw_hist(ax: Any, h: dict[str, Any], title: str | None = None) -> None:
    edges = np.asarray(h["edges"])
    if h["log1p"]:
        edges = np.expm1(edges)
        ax.set_xscale("symlog", linthresh=1)
    ax.stairs(h["counts"], edges, fill=True, color="#3b75af", alpha=0.85)
    ax.axvline(h["median"], color="#c0392b", lw=1, ls="--")
    ax.set_title(title or h["column"], fontsize=9)
    ax.set_ylabel("customers", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.text(
        0.98,
        0.92,
        f"median {_num(h['median'])}",
        transform=ax.transAxes,
        ha="right",
        fontsize=7,
        color="#c0392b",
    )


def render_html(report: dict[str, Any], base: str | Path | None = None) -> str:
    """One self-contained HTML page (charts embedded, text escaped, no network)."""
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters.update(n=_n, pct=_pct, money=_money, num=_num, metric=_metric, pval=_pval)
    with _in_currency(report.get("currency")):
        return env.from_string(TEMPLATE).render(
            r=report,
            s=report["sections"],
            order=[sid for sid, _ in SECTIONS],
            img=charts(report, Path(base) if base is not None else None),
        )


def _md_cell(v: Any) -> str:
    return str(_num(v) if not isinstance(v, str) else v).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown (charts linked by their paths in the run's directory)."""
    with _in_currency(report.get("currency")):
        return _render_markdown(report)


def _render_markdown(report: dict[str, Any]) -> str:
    s = report["sections"]
    lines = [f"# {report['title']}", ""]
    lines += [f"- {t}" for t in report["headline"]] + [""]
    for sid, title in SECTIONS:
        sec = s[sid]
        lines += [f"## {title}", ""]
        if not sec["available"]:
            lines += [f"Not computed: {sec['absent_reason']}.", ""]
            continue
        lines += _MD[sid](sec)
    return "\n".join(lines) + "\n"


def _md_data(d: dict[str, Any]) -> list[str]:
    if d["kind"] == "customer_table":
        lines = [f"A customer table: {_n(d['rows'])} rows, id column `{d.get('id_column')}`.", ""]
    else:
        lines = [
            f"{_n(d['rows'])} rows, {_n(d['customers'])} customers, {d['first_date']} to "
            f"{d['last_date']}; {_n(d['purchase_rows'])} purchase rows from "
            f"{_n(d['purchase_customers'])} customers.",
            "",
        ]
    if d["problems"]:
        lines += _md_table(
            ["problem", "rows", "treatment"],
            [[p["description"], p["count"], p["treatment"]] for p in d["problems"]],
        )
    else:
        lines += ["No validation problems.", ""]
    return lines


def _md_features(f: dict[str, Any]) -> list[str]:
    lines = [f"{_n(f['customers'])} customers, {f['columns']} columns.", ""]
    if f.get("distributions"):
        lines += _md_table(
            ["feature", "median", "mean", "90th percentile"],
            [[h["column"], h["median"], h["mean"], h["p90"]] for h in f["distributions"]],
        )
    c = f.get("correlations")
    if c:
        lines += [
            f"Correlations ({c['method']}): {c['n_significant']} of {c['n_pairs']} pairs with "
            f"q < 0.05; {c['definitional_left_out']} pairs true by definition left out. "
            f"Heatmap: `{c['heatmap']}`.",
            "",
        ]
        lines += [
            f"- {p['sentence']} q = {_pval(p['q_value'])}, n = {p['n']:,}" for p in c["pairs"]
        ]
        lines.append("")
    return lines


def _md_segments(s: dict[str, Any]) -> list[str]:
    lines = [
        f"{s['method']}, k = {s['k']}, silhouette {_num(s['silhouette'])}. {s.get('why') or ''}",
        "",
    ]
    if s.get("naming_note"):
        lines += [f"Names: {s['naming_note']}.", ""]
    header = [k for k in s["rows"][0]] if s["rows"] else []
    money = {"value_at_risk_total", "value_at_risk_mean"}
    rows = [[_money(r[k]) if k in money else r[k] for k in header] for r in s["rows"]]
    lines += _md_table(header, rows)
    lines += [f"![{k}]({v})" for k, v in s["images"].items()] + [""]
    return lines


def _md_clv(c: dict[str, Any]) -> list[str]:
    bg = c["bgnbd"]
    lines = [
        f"BG/NBD x Gamma-Gamma CLV over {_num(c['horizon'])} {c['time_unit']} (discounted "
        f"{_pct(c.get('discount_rate'))} a month): total "
        f"{_money(c['total_value'])}, median {_num(c['median_value'])}; the top 10% of "
        f"customers hold {_pct(c['top_decile_share'])}. Median P(alive) "
        f"{_num(c['p_alive_median'])}.",
        "",
        *_md_value_story(c),
        "BG/NBD: " + ", ".join(f"{k} = {_num(bg.get(k))}" for k in ("r", "alpha", "a", "b")),
        "",
    ]
    lines += [f"- flag: {f}" for f in c["flags"]] + [""]
    lines += [f"![{k}]({v})" for k, v in c["images"].items()] + [""]
    return lines


def _md_value_story(c: dict[str, Any]) -> list[str]:
    vf = c.get("value_forecast")
    lines = [
        "P(alive) is the chance that a customer has not left for good; the churn list's churn "
        "probability is the chance of no purchase in the horizon, which also counts customers "
        "still active who buy less often than that, so it is the higher of the two.",
        "",
    ]
    if vf:
        ginis = ", ".join(f"{k} {v:.3f}" for k, v in vf["gini"].items())
        lines += [
            f"The churn list's expected value is the {vf['used']} forecast of net spend, the "
            f"best of the value forecasts compared out of time at {vf['origin']} (normalised "
            f"Gini: {ginis}); the total above is BG/NBD x Gamma-Gamma's, discounted.",
            "",
        ]
    return lines


def _md_models(m: dict[str, Any]) -> list[str]:
    lines = [f"- {v}" for v in m["verdict"]] + [""]
    lines += _md_table(
        ["model", "ROC-AUC", "PR-AUC", "top-decile lift"],
        [
            [
                r["name"] + (" (champion)" if r["champion"] else ""),
                _metric(r.get("roc_auc")),
                _metric(r.get("pr_auc")),
                _metric(r.get("top_decile_lift")),
            ]
            for r in m["table"]
        ],
    )
    lines += [f"- flag: {f}" for f in m["flags"]]
    return lines + [f"Full model report: `{m['report']}`.", ""]


def _md_churn(c: dict[str, Any]) -> list[str]:
    lines = [
        f"{_n(c['customers'])} customers in `{c['file']}`, money at risk first"
        + (
            f"; expected value if retained {_money(c['expected_value_total'])}, of which at "
            f"risk {_money(c.get('value_at_risk_total'))}"
            if c.get("expected_value_total") is not None
            else ""
        )
        + f". The top {len(c['top'])}:",
        "",
    ]
    money = {"expected_value", "value_at_risk"}
    rows = [[_money(r.get(k)) if k in money else r.get(k) for k in c["columns"]] for r in c["top"]]
    return lines + _md_table(c["columns"], rows)


def _md_method(m: dict[str, Any]) -> list[str]:
    lines = [f"Data: `{m['data']}` ({m['kind']})."]
    lines += ["", "Options: " + ", ".join(f"{k} = {v}" for k, v in m["options"].items()), ""]
    lines += _md_table(
        ["step", "status", "seconds"],
        [[k, v, m["seconds"].get(k)] for k, v in m["steps"].items()],
    )
    lines += ["Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()), ""]
    return lines


_MD = {
    "data": _md_data,
    "features": _md_features,
    "segments": _md_segments,
    "clv": _md_clv,
    "models": _md_models,
    "churn": _md_churn,
    "method": _md_method,
}


def write_run_report(out: str | Path, run: dict[str, Any]) -> dict[str, Any]:
    """Compute the report of the run in ``out`` and write report.html, report.md, summary.json
    (each atomically); ``run`` as for :func:`build_run_report`."""

    out = Path(out)
    report = build_run_report(out, run)
    for name, text in (
        ("summary.json", json.dumps(report, indent=2)),
        ("report.md", render_markdown(report)),
        ("report.html", render_html(report, out)),
    ):
        with write_atomic(out / name) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return report
