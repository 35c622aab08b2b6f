"""The model comparison report: computed once into a dict, rendered as HTML, Markdown or JSON.

:func:`build_report` reads a training result (never a model directory's files) and stores
everything the renderers need, curves included, in a plain JSON-ready dict; :func:`render_html`
and :func:`render_markdown` only read that dict, so ``toolkit report MODEL_DIR`` re-renders from
``report.json`` without touching a model. The HTML is one self-contained file (PNG charts embedded
as base64) produced by Jinja2 with autoescaping on.
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit._json import jsonable
from toolkit._version import __version__
from toolkit.models.action._explain import Explanation, beeswarm_data, new_figure, plot_beeswarm
from toolkit.models.estimators._base import Batch, probability_contributions
from toolkit.models.training._evaluate import curves
from toolkit.reports._comparison_template import TEMPLATE

if TYPE_CHECKING:
    from toolkit.models.training._train import TrainResult

METRIC_LABELS = {
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "brier": "Brier",
    "log_loss": "Log-loss",
    "top_decile_lift": "Top-decile lift",
    "r2": "R²",
}
SHAP_ROWS = 2000


def build_report(result: TrainResult, *, seed: int = 0) -> dict[str, Any]:
    """Compute the comparison report once: tables, curves, explanations, rules, coefficients.

    Parameters
    ----------
    result : TrainResult
        From :func:`toolkit.models.train_models` (or the transaction / table variants).

    Returns
    -------
    dict
        JSON-ready; see :func:`render_html` / :func:`render_markdown`.
    """

    ev = result.evaluation
    y = np.asarray(ev.y)
    scorers = result.scorers
    table: list[dict[str, Any]] = []
    for name, m in result.metrics.items():
        s = scorers.get(name) or ev.scorers.get(name)
        table.append(
            {
                "name": name,
                "title": s.title if s is not None else name,
                "role": s.role if s is not None else "model",
                "champion": name == result.champion,
                "metrics": m,
            }
        )
    table.sort(key=lambda r: -r["metrics"]["roc_auc"]["value"])
    curve_data = {
        name: curves(y, ev.probs[name], float(np.mean(ev.thresholds[name])))
        for name in result.metrics
    }
    # SHAP summary of the final champion on (a sample of) the evaluation customers
    frame = ev.frame
    assert frame is not None, "the evaluation rows are needed for the report"
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(frame), size=min(SHAP_ROWS, len(frame)), replace=False))
    batch = Batch(frame.iloc[rows].reset_index(drop=True), result.schema)
    champ = scorers[result.champion]
    C, p0, p = probability_contributions(champ, batch)
    churn_pos = result.settings.churn_is_positive
    expl = Explanation(
        values=C if churn_pos else -C,
        base=p0 if churn_pos else 1 - p0,
        churn=p if churn_pos else 1 - p,
        features=list(result.schema.features),
        data=batch.df,
        model=result.champion,
    )
    importance = expl.importance()
    # only the features the champion uses (BG/NBD uses three of them)
    importance = importance[importance["mean_abs_contribution"] > 0]
    models: dict[str, dict[str, Any]] = {
        name: {"title": s.title, "role": s.role, **s.describe()} for name, s in scorers.items()
    }
    if "tree" in models:
        tree = models["tree"]
        tree["leaves"] = [
            {
                "rule": leaf["rule"],
                "support": leaf["support"],
                "churn_rate": leaf["positive_rate"] if churn_pos else 1.0 - leaf["positive_rate"],
            }
            for leaf in tree.get("leaves", [])
        ]
    for name in ("linear", "logistic"):
        described = models.get(name) or {}
        if described.get("ols"):
            described["ols"]["coefficients"] = _by_size(described["ols"]["coefficients"])
        if described.get("coefficients"):
            described["coefficients"] = _by_size(described["coefficients"])
    for name, s in scorers.items():
        models[name]["calibration"] = s.calibration_
        models[name]["threshold"] = s.threshold_
    report = {
        "title": "Model comparison",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "toolkit_version": __version__,
        "settings": result.settings.to_dict(),
        "notes": result.notes,
        "champion": result.champion,
        "champion_title": champ.title,
        "comparison": result.comparison,
        "table": table,
        "curves": curve_data,
        "shap": {
            "model": result.champion,
            "rows": int(len(rows)),
            "importance": importance.to_dict(orient="records"),
            "beeswarm": beeswarm_data(expl, seed=seed),
            "base_churn_probability": float(np.mean(expl.base)),
        },
        "models": models,
        # the spend model's booster stays in value_model.json; the comparison has its own key
        "value_model": _public_value_model(result.value_model),
        "value_forecast": result.value_comparison,
        "features": list(result.schema.features),
    }
    return jsonable(report)


def _public_value_model(vm: dict[str, Any]) -> dict[str, Any]:
    """The value model as the report shows it: no booster (it stays in value_model.json) and no
    comparison (the report has its own key for it)."""
    out = {k: v for k, v in vm.items() if k not in ("spend_model", "evaluation", "members")}
    if vm.get("members"):
        out["members"] = [_public_value_model(m) for m in vm["members"]]
    return out


def _value_deciles_png(vf: dict[str, Any]) -> str:
    """Mean forecast against mean real net spend per decile of each value forecast."""
    names = list(vf["candidates"])
    fig, axes = _fig(3.4 * len(names), 3.4, ncols=len(names))
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names, strict=True):
        c = vf["candidates"][name]
        d = [row["decile"] for row in c["deciles"]]
        ax.bar(d, [row["mean_real"] for row in c["deciles"]], color="#c8d6e5", label="real")
        ax.plot(d, [row["mean_forecast"] for row in c["deciles"]], "o-", color="#1f4e79",
                label="forecast")  # fmt: skip
        gini = c["normalised_gini"]["value"]
        ax.set_title(f"{c['title']}\nnormalised Gini {gini:.3f}", fontsize=8)
        ax.set_xlabel("decile of the forecast (1 = highest)", fontsize=7)
        ax.set_xticks(d)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("mean net spend per customer", fontsize=7)
    axes[0].legend(fontsize=7)
    return _png(fig)


def _by_size(coefficients: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Coefficients largest |coefficient| first, the intercept last."""

    def key(c: dict[str, Any]) -> tuple[bool, float]:
        intercept = str(c.get("term", "")).lower() in ("intercept", "const", "(intercept)")
        return (intercept, -abs(float(c.get("coef") or 0.0)))

    return sorted(coefficients, key=key)


#: leaves of the decision tree shown in the report (all of them are in tree_rules.txt)
TREE_LEAVES = 12


# --- charts -------------------------------------------------------------------------------------


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _fig(w: float, h: float, ncols: int = 1) -> tuple[Any, Any]:
    return new_figure(w, h, ncols)


def _style(name: str, report: dict[str, Any]) -> dict[str, Any]:
    role = next((r["role"] for r in report["table"] if r["name"] == name), "model")
    if name == report["champion"]:
        return {"lw": 2.4, "ls": "-", "zorder": 5}
    if role == "reference":
        return {"lw": 1.0, "ls": ":", "zorder": 2}
    return {"lw": 1.2, "ls": "-", "zorder": 3}


def charts(report: dict[str, Any]) -> dict[str, str]:
    """Every chart of the report as base64 PNG, drawn from the report dict only."""

    out: dict[str, str] = {}
    cv = report["curves"]
    names = [r["name"] for r in report["table"]]

    fig, ax = _fig(6.4, 5)
    for n in names:
        auc = next(r for r in report["table"] if r["name"] == n)["metrics"]["roc_auc"]["value"]
        ax.plot(
            cv[n]["roc"]["fpr"], cv[n]["roc"]["tpr"], label=f"{n} ({auc:.3f})", **_style(n, report)
        )
    ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls="--", label="chance")
    ax.set_xlabel("false positive rate (stayed, predicted to churn)")
    ax.set_ylabel("true positive rate (churners found)")
    ax.set_title("ROC curves (evaluation data)")
    ax.legend(fontsize=7, loc="lower right")
    out["roc"] = _png(fig)
    vf = report.get("value_forecast")
    if vf and vf.get("candidates"):
        out["value_deciles"] = _value_deciles_png(vf)

    fig, ax = _fig(6.4, 5)
    for n in names:
        ax.plot(cv[n]["pr"]["recall"], cv[n]["pr"]["precision"], label=n, **_style(n, report))
    base = cv[names[0]]["pr"]["base_rate"]
    ax.axhline(base, color="#999999", lw=0.8, ls="--", label=f"churn rate ({base:.2f})")
    ax.set_xlabel("recall (share of churners found)")
    ax.set_ylabel("precision (share of flagged customers who churned)")
    ax.set_title("Precision-recall curves (churners)")
    ax.legend(fontsize=7)
    out["pr"] = _png(fig)

    fig, ax = _fig(6.4, 5)
    for n in names:
        c = cv[n]["calibration"]
        ax.plot(c["predicted"], c["observed"], marker="o", ms=3, label=n, **_style(n, report))
    ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls="--", label="perfect calibration")
    ax.set_xlabel("predicted churn probability (decile bins)")
    ax.set_ylabel("observed share who churned")
    ax.set_title("Calibration")
    ax.legend(fontsize=7)
    out["calibration"] = _png(fig)

    fig, (ax1, ax2) = _fig(10, 4.2, 2)
    for n in names:
        g = cv[n]["gain"]
        ax1.plot([0, *g["share"]], [0, *g["gain"]], label=n, **_style(n, report))
        ax2.plot(g["share"], g["lift"], label=n, **_style(n, report))
    ax1.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls="--", label="random order")
    ax1.set_xlabel("share of customers (highest churn probability first)")
    ax1.set_ylabel("share of churners found")
    ax1.set_title("Cumulative gain")
    ax1.legend(fontsize=7, loc="lower right")
    ax2.axhline(1, color="#999999", lw=0.8, ls="--", label="random order")
    ax2.set_xlabel("share of customers (highest churn probability first)")
    ax2.set_ylabel("lift (churn rate / overall churn rate)")
    ax2.set_title("Lift")
    ax2.legend(fontsize=7)
    out["gain"] = _png(fig)

    champ = report["champion"]
    cm = cv[champ]["confusion"]
    fig, ax = _fig(4.2, 3.8)
    mat = np.array([[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]])
    ax.imshow(mat, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(
                j,
                i,
                f"{mat[i, j]:,}",
                ha="center",
                va="center",
                color="white" if mat[i, j] > mat.max() / 2 else "black",
            )
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["predicted to stay", "predicted to churn"])
    ax.set_yticks([0, 1])
    ax.set_yticklabels(["stayed", "churned"])
    ax.set_title(f"{champ}: churn probability >= {cv[champ]['threshold']:.3f}")
    out["confusion"] = _png(fig)

    imp = report["shap"]["importance"][:20][::-1]
    fig, ax = _fig(6.4, 0.3 * len(imp) + 1.3)
    ax.barh(
        [r["feature"] for r in imp],
        [r["mean_abs_contribution"] for r in imp],
        color="#3b75af",
        label="mean |contribution| over the evaluation customers",
    )
    ax.legend(fontsize=7, loc="lower right")
    ax.set_xlabel("mean |contribution to churn probability|")
    ax.set_title(f"SHAP importance ({champ})")
    out["shap_bar"] = _png(fig)

    buf = io.BytesIO()
    plot_beeswarm(report["shap"]["beeswarm"], buf, title=f"SHAP summary ({champ})")
    out["shap_beeswarm"] = base64.b64encode(buf.getvalue()).decode("ascii")
    return out


# --- rendering ----------------------------------------------------------------------------------


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if not np.isfinite(v):
            return "–"
        return f"{v:.{digits}f}"
    return str(v)


def _cell(m: dict[str, Any] | None) -> str:
    if not m:
        return "–"
    return f"{_fmt(m['value'])} [{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]"


def _metric_names(report: dict[str, Any]) -> list[str]:
    names = list(METRIC_LABELS)
    if not any("r2" in r["metrics"] for r in report["table"]):
        names.remove("r2")
    return names


def _verdict(report: dict[str, Any]) -> list[str]:
    comp = report.get("comparison", {})
    long = (report.get("settings") or {}).get("long_horizon")
    if long:
        how = (
            "a BG/NBD score, refitted at the asked horizon (it needs no labels)"
            if str(report["champion"]).startswith("bgnbd")
            else "its probability of buying carried from there to the asked horizon"
        )
        out = [
            f"Champion: {report['champion']} ({report.get('champion_title', '')}) at the asked "
            f"horizon of {long['asked_days']} days: it ranked churn best at "
            f"{long['label_days']} days, the longest horizon the history before the cutoff has "
            f"labels for, where the comparison below is made; {how}."
        ]
        return out
    out = [
        f"Champion: {report['champion']} ({report.get('champion_title', '')}), "
        "the highest ROC-AUC on the evaluation data."
    ]
    if comp.get("naive_champion"):
        out.append(
            f"Note: {comp['naive_champion']}, so the churn list is that rule's order; the models "
            "add nothing here that the evaluation could see."
        )
    lead = comp.get("lead_over_runner_up")
    if lead:
        sig = "larger than" if lead["significant"] else "within"
        out.append(
            f"Its lead over the runner-up, {lead['over']}, is {lead['roc_auc_difference']:+.4f} "
            f"ROC-AUC (paired bootstrap 95% interval [{lead['ci_low']:+.4f}, "
            f"{lead['ci_high']:+.4f}]): {sig} the uncertainty"
            + ("." if lead["significant"] else "; the two are not distinguishable on this data.")
        )
    naive = comp.get("lead_over_best_naive")
    if naive:
        out.append(
            f"Against the best naive rule ({naive['over']}): {naive['roc_auc_difference']:+.4f} "
            f"[{naive['ci_low']:+.4f}, {naive['ci_high']:+.4f}]"
            + (", significant." if naive["significant"] else ", not significant.")
        )
    return out


def _setting_lines(report: dict[str, Any]) -> list[str]:
    s = report["settings"]
    lines = [
        f"Positive class of the metrics: {s.get('positive_class')}. Precision, recall and lift "
        "are those of the churners: precision = share of the customers predicted to churn who "
        "did, recall = share of the churners found.",
        f"Churn probability in the churn list: {s.get('churn_probability')}.",
    ]
    ev = s.get("evaluation") or {}
    if s.get("mode") == "transactions":
        lines.append(
            f"Cutoff {s.get('cutoff')}, horizon {s.get('horizon')} days, time unit "
            f"{s.get('time_unit')}. Final models trained on origins "
            f"{', '.join((s.get('training') or {}).get('origins', []))} "
            f"({(s.get('training') or {}).get('labels', '')})."
        )
        lines.append(
            ("Out-of-time evaluation" if ev.get("out_of_time") else "Evaluation (NOT out of time)")
            + f": {ev.get('customers')} customers at {ev.get('origin')}, labels from "
            f"{ev.get('label_window')}, judged by models trained on origins "
            f"{', '.join(ev.get('trained_on_origins', []))}; "
            f"{100 * ev.get('positive_rate', float('nan')):.1f}% churned (did not buy again)."
        )
    elif ev:
        lines.append(
            f"Evaluation: {ev.get('method', '')}, {ev.get('customers')} customers, "
            f"{100 * ev.get('positive_rate', float('nan')):.1f}% churned."
        )
    lines.append(
        "Intervals: 95% percentile bootstrap over the evaluation customers "
        f"({s.get('n_boot', 200)} resamples, seed {s.get('seed', 0)}). Threshold metrics use each "
        "model's calibrated-probability threshold that maximises Youden's J on its validation "
        "split. Probabilities are calibrated (Platt or isotonic, chosen by cross-validated "
        "log-loss on the validation split)."
    )
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown (tables and text; the charts are in the HTML report)."""
    lines = [f"# {report['title']}", ""]
    lines += [f"- {t}" for t in _setting_lines(report)]
    lines += ["", "## Verdict", ""] + [f"- {t}" for t in _verdict(report)]
    lines += _md_comparison(report)
    lines += _md_champion(report)
    lines += _md_models(report)
    lines += _md_value_forecast(report)
    lines += _md_value_at_risk(report)
    if report.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {_md(n)}" for n in report["notes"]]
    lines += [
        "",
        f"_Generated {report['generated']} by toolkit {report['toolkit_version']}; "
        "the charts (ROC, precision-recall, calibration, gain/lift, confusion matrix, SHAP) are in "
        "report.html._",
        "",
    ]
    return "\n".join(lines)


def _md_comparison(report: dict[str, Any]) -> list[str]:
    """Every model and naive rule side by side, with intervals."""
    lines: list[str] = []
    metric_names = _metric_names(report)
    lines += ["", "## Comparison (value [95% interval])", ""]
    lines.append("| model | kind | " + " | ".join(METRIC_LABELS[m] for m in metric_names) + " |")
    lines.append("|---|---|" + "---|" * len(metric_names))
    for r in report["table"]:
        name = f"**{r['name']}** (champion)" if r["champion"] else r["name"]
        kind = "naive rule" if r["role"] == "reference" else "model"
        cells = [_cell(r["metrics"].get(m)) for m in metric_names]
        lines.append(f"| {_md(name)} | {kind} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Models: " + "; ".join(f"{r['name']} = {_md(r['title'])}" for r in report["table"]),
    ]
    return lines


def _md_champion(report: dict[str, Any]) -> list[str]:
    """The champion's confusion matrix, cumulative gain and SHAP importance."""
    lines: list[str] = []
    champ = report["champion"]
    cm = report["curves"][champ]["confusion"]
    lines += [
        "",
        f"## Confusion matrix of {champ} (predicted to churn: churn probability >= "
        f"{report['curves'][champ]['threshold']:.3f})",
        "",
        "| | predicted to stay | predicted to churn |",
        "|---|---|---|",
        f"| stayed | {cm['tn']} | {cm['fp']} |",
        f"| churned | {cm['fn']} | {cm['tp']} |",
        "",
        f"## Cumulative gain of {champ}",
        "",
        "| top share of customers (highest churn probability) | share of churners found | lift |",
        "|---|---|---|",
    ]
    g = report["curves"][champ]["gain"]
    for q in (0.05, 0.1, 0.2, 0.3, 0.5):
        i = int(round(q * 100)) - 1
        lines.append(f"| {q:.0%} | {g['gain'][i]:.3f} | {g['lift'][i]:.2f} |")
    lines += [
        "",
        f"## What drives the champion ({report['shap']['model']}, SHAP on "
        f"{report['shap']['rows']} evaluation customers)",
        "",
        "| feature | mean abs contribution to churn probability | share |",
        "|---|---|---|",
    ]
    for r in report["shap"]["importance"][:15]:
        lines.append(
            f"| {_md(r['feature'])} | {r['mean_abs_contribution']:.4f} | {r['share']:.1%} |"
        )
    return lines


def _md_models(report: dict[str, Any]) -> list[str]:
    """What each model learnt: coefficients, the tree's leaves, hyperparameters, BG/NBD."""
    lines: list[str] = []
    models = report["models"]
    if "linear" in models and models["linear"].get("ols"):
        ols = models["linear"]["ols"]
        lines += [
            "",
            f"## Linear regression (OLS on the 0/1 label): R² = {ols['r2']:.4f} "
            f"(adjusted {ols['r2_adjusted']:.4f}, n = {ols['n']})",
            "",
            _md(ols.get("note", "")),
            "",
            "| term | coefficient | std. error | p-value |",
            "|---|---|---|---|",
        ]
        for c in ols["coefficients"]:
            cells = [_md(c["term"]), f"{c['coef']:.4f}", f"{c['std_err']:.4f}", _pval(c["p_value"])]
            lines.append("| " + " | ".join(cells) + " |")
    if "logistic" in models:
        lg = models["logistic"]
        lines += [
            "",
            f"## Logistic regression (C = {lg.get('hyperparameters', {}).get('C')})",
            "",
            _md(lg.get("preparation", "")),
            "",
            "| term | coefficient (log-odds per SD) |",
            "|---|---|",
        ]
        for c in lg.get("coefficients", []):
            lines.append(f"| {_md(c['term'])} | {c['coef']:.4f} |")
    if "tree" in models:
        t = models["tree"]
        lines += [
            "",
            f"## Decision tree: the {min(TREE_LEAVES, t.get('n_leaves', 0))} largest of its "
            f"{t.get('n_leaves')} leaves (max_depth {t['hyperparameters'].get('max_depth')}, "
            f"min_samples_leaf {t['hyperparameters'].get('min_samples_leaf')}; every rule in "
            "tree_rules.txt)",
            "",
            "| customers who ... | share of customers | churn rate |",
            "|---|---|---|",
        ]
        for leaf in t.get("leaves", [])[:TREE_LEAVES]:
            lines.append(
                f"| {_md(leaf['rule'])} | {leaf['support']:.1%} | {leaf['churn_rate']:.1%} |"
            )
    if "xgboost" in models:
        h = models["xgboost"].get("hyperparameters", {})
        lines += ["", "## XGBoost", "", ", ".join(f"{k} = {_fmt(v, 4)}" for k, v in h.items())]
    if "bgnbd" in models:
        b = models["bgnbd"]
        lines += [
            "",
            "## BG/NBD",
            "",
            "Parameters: " + ", ".join(f"{k} = {v:.4g}" for k, v in b.get("params", {}).items()),
        ]
        lines += [f"- **flag**: {_md(n)}" for n in b.get("flags", [])]
        lines += [f"- {_md(n)}" for n in b.get("notes", []) if n not in b.get("flags", [])]
    return lines


def _md_value_forecast(report: dict[str, Any]) -> list[str]:
    """The value forecasts compared with what customers really spent."""
    vf = report.get("value_forecast")
    if not vf or not vf.get("candidates"):
        return []
    where = "out of time" if vf.get("out_of_time") else "on held-out customers (not out of time)"
    at = f" at {vf['compared_at_days']} days" if vf.get("compared_at_days") else ""
    lines = [
        "",
        "## Value forecast (net spend, forecast against what happened)",
        "",
        f"Each forecast of {_md(vf['target'])}{at}, made at {vf.get('origin')} from what was "
        f"known then, against what {vf['customers']:,} customers really spent ({where}). "
        f"Champion: **{_md(vf['champion'])}** ({_md(vf['criterion'])}).",
        "",
        "| forecast | normalised Gini | Spearman | total forecast / real |",
        "|---|---|---|---|",
    ]
    for name, c in vf["candidates"].items():
        mark = " (champion)" if name == vf["champion"] else ""
        lines.append(
            f"| {_md(c['title'])}{mark} | {_cell(c['normalised_gini'])} | "
            f"{_cell(c['spearman'])} | {_cell(c['total_ratio'])} |"
        )
    champ = vf["candidates"].get(vf["champion"])
    if champ:
        lines += [
            "",
            "By decile of the champion's forecast (mean net spend per customer):",
            "",
            "| decile | customers | forecast | real |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {d['decile']} | {d['customers']:,} | {d['mean_forecast']:,.2f} | "
            f"{d['mean_real']:,.2f} |"
            for d in champ["deciles"]
        ]
    if vf.get("note"):
        lines += ["", _md(vf["note"])]
    return lines


def _md_value_at_risk(report: dict[str, Any]) -> list[str]:
    """How the value at risk is computed."""
    lines: list[str] = []
    vm = report.get("value_model", {})
    if vm:
        lines += [
            "",
            "## Value at risk",
            "",
            "value_at_risk = churn probability x expected value; " + _md(vm.get("note", "")),
        ]
        if vm.get("bgnbd"):
            lines += [
                "",
                "BG/NBD fitted at the cutoff: "
                + ", ".join(f"{k} = {v:.4g}" for k, v in vm["bgnbd"].items()),
            ]
        lines += [f"- **flag**: {_md(n)}" for n in vm.get("bgnbd_flags", [])]
    return lines


def _pval(p: float | None) -> str:
    if p is None:
        return "–"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def _md(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (charts embedded, text escaped)."""
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["fmt"] = _fmt
    env.filters["cell"] = _cell
    env.filters["pval"] = _pval
    tmpl = env.from_string(TEMPLATE)
    return tmpl.render(
        r=report,
        setting_lines=_setting_lines(report),
        verdict=_verdict(report),
        metric_names=_metric_names(report),
        labels=METRIC_LABELS,
        img=charts(report),
        tree_leaves=TREE_LEAVES,
    )


def render(report: dict[str, Any], fmt: str) -> str:
    """``fmt`` = ".html", ".md" or ".json"."""
    import json

    if fmt == ".html":
        return render_html(report)
    if fmt == ".md":
        return render_markdown(report)
    if fmt == ".json":
        return json.dumps(report, indent=1)
    raise ValueError(f"unknown report format {fmt!r}")
