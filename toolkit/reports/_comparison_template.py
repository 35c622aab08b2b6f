# ruff: noqa: E501  (HTML template lines)
"""Jinja2 template of the HTML model comparison report (rendered with autoescape on).

Kept as a Python string so that it ships with the package without package-data configuration.
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ r.title }}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
h1, h2, h3 { color: #1a3d5c; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.86em; }
th, td { border: 1px solid #ccd; padding: 4px 7px; text-align: right; }
th { background: #eef2f7; }
td.name, th.name { text-align: left; }
tr.champion td { background: #fff6d6; font-weight: 600; }
tr.reference td { color: #555; font-style: italic; }
.ci { color: #777; font-size: 0.85em; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; }
.grid figure { margin: 0; }
img { max-width: 100%; border: 1px solid #e3e3e3; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.82em; }
.verdict { background: #eef7ee; border-left: 4px solid #3a8f3a; padding: 0.5em 1em; }
.notes li, .settings li { margin: 0.2em 0; }
.flags li { color: #8a3b00; }
details { margin: 0.6em 0; }
summary { cursor: pointer; color: #1a3d5c; }
</style>
</head>
<body>
<h1>{{ r.title }}</h1>
<ul class="settings">
{% for line in setting_lines %}<li>{{ line }}</li>
{% endfor %}</ul>

<h2>Verdict</h2>
<div class="verdict">
{% for line in verdict %}<p>{{ line }}</p>
{% endfor %}</div>

<h2>Comparison</h2>
<p>Every model, the BG/NBD model and the naive rules on the same evaluation customers, judged on
finding the <strong>churners</strong> (positive class: churned). Precision = share of the customers
predicted to churn who did; recall = share of the churners found; top-decile lift = churn rate among
the 10% with the highest churn probability over the overall churn rate. Each cell: value and, below
it, the 95% bootstrap interval.</p>
<table>
<thead><tr><th class="name">model</th><th class="name">kind</th>
{% for m in metric_names %}<th>{{ labels[m] }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in r.table %}
<tr class="{{ 'champion' if row.champion else '' }} {{ 'reference' if row.role == 'reference' else '' }}">
<td class="name">{{ row.name }}{% if row.champion %} (champion){% endif %}<br><span class="ci">{{ row.title }}</span></td>
<td class="name">{{ 'naive rule' if row.role == 'reference' else 'model' }}</td>
{% for m in metric_names %}{% set c = row.metrics.get(m) %}
<td>{% if c %}{{ c.value | fmt }}<br><span class="ci">[{{ c.ci_low | fmt }}, {{ c.ci_high | fmt }}]</span>{% else %}–{% endif %}</td>
{% endfor %}
</tr>
{% endfor %}
</tbody>
</table>

<h2>Curves</h2>
<div class="grid">
<figure><img alt="ROC curves" src="data:image/png;base64,{{ img.roc }}"></figure>
<figure><img alt="Precision-recall curves" src="data:image/png;base64,{{ img.pr }}"></figure>
<figure><img alt="Calibration plot" src="data:image/png;base64,{{ img.calibration }}"></figure>
<figure><img alt="Confusion matrix" src="data:image/png;base64,{{ img.confusion }}"></figure>
</div>
<figure><img alt="Cumulative gain and lift" src="data:image/png;base64,{{ img.gain }}"></figure>

<h2>What drives the champion ({{ r.shap.model }})</h2>
<p>SHAP values of the champion on {{ r.shap.rows }} evaluation customers, in churn-probability
units (base churn probability {{ r.shap.base_churn_probability | fmt }}).</p>
<div class="grid">
<figure><img alt="SHAP importance" src="data:image/png;base64,{{ img.shap_bar }}"></figure>
<figure><img alt="SHAP beeswarm" src="data:image/png;base64,{{ img.shap_beeswarm }}"></figure>
</div>
<details><summary>The importance table ({{ r.shap.importance | length }} features the champion uses)</summary>
<table>
<thead><tr><th class="name">feature</th><th>mean |contribution|</th><th>share</th></tr></thead>
<tbody>
{% for f in r.shap.importance[:15] %}<tr><td class="name">{{ f.feature }}</td><td>{{ f.mean_abs_contribution | fmt(4) }}</td><td>{{ '%.1f%%' % (100 * f.share) }}</td></tr>
{% endfor %}</tbody>
</table>
</details>

{% set lin = r.models.get('linear') %}
{% if lin and lin.ols %}
<h2>Linear regression (OLS on the 0/1 label)</h2>
<p>R² = {{ lin.ols.r2 | fmt(4) }} (adjusted {{ lin.ols.r2_adjusted | fmt(4) }}, n = {{ lin.ols.n }}). {{ lin.ols.note }}</p>
<details><summary>Coefficients, largest first</summary>
<table>
<thead><tr><th class="name">term</th><th>coefficient</th><th>std. error</th><th>p-value</th></tr></thead>
<tbody>
{% for c in lin.ols.coefficients %}<tr><td class="name">{{ c.term }}</td><td>{{ c.coef | fmt(4) }}</td><td>{{ c.std_err | fmt(4) }}</td><td>{{ c.p_value | pval }}</td></tr>
{% endfor %}</tbody>
</table>
</details>
{% endif %}

{% set lg = r.models.get('logistic') %}
{% if lg %}
<h2>Logistic regression</h2>
<p>C = {{ lg.hyperparameters.C }} (the most regularised C within one standard error of the best validation log-loss). {{ lg.preparation }}</p>
<details><summary>Coefficients, largest first</summary>
<table>
<thead><tr><th class="name">term</th><th>coefficient (log-odds per SD)</th></tr></thead>
<tbody>
{% for c in lg.coefficients %}<tr><td class="name">{{ c.term }}</td><td>{{ c.coef | fmt(4) }}</td></tr>
{% endfor %}</tbody>
</table>
</details>
{% endif %}

{% set tr = r.models.get('tree') %}
{% if tr %}
<h2>Decision tree: who churns</h2>
<p>The {{ [tree_leaves, tr.n_leaves] | min }} largest of the tree's {{ tr.n_leaves }} leaves (max_depth {{ tr.hyperparameters.max_depth }},
min_samples_leaf {{ tr.hyperparameters.min_samples_leaf }}, chosen on validation ROC-AUC), with the churn rate of the
training customers in each. Every rule, as text, is in <code>tree_rules.txt</code> beside this report.</p>
<table>
<thead><tr><th class="name">customers who ...</th><th>share of customers</th><th>churn rate</th></tr></thead>
<tbody>
{% for leaf in tr.leaves[:tree_leaves] %}<tr><td class="name">{{ leaf.rule }}</td><td>{{ '%.1f%%' % (100 * leaf.support) }}</td><td>{{ '%.1f%%' % (100 * leaf.churn_rate) }}</td></tr>
{% endfor %}</tbody>
</table>
{% endif %}

{% set xg = r.models.get('xgboost') %}
{% if xg %}
<details><summary>XGBoost settings</summary>
<p>{% for k, v in xg.hyperparameters.items() %}{{ k }} = {{ v | fmt(4) }}{% if not loop.last %}, {% endif %}{% endfor %}.
{{ xg.chosen_by }}.</p>
</details>
{% endif %}

{% set bg = r.models.get('bgnbd') %}
{% if bg %}
<h2>BG/NBD</h2>
<p>{% for k, v in bg.params.items() %}{{ k }} = {{ '%.4g' % v }}{% if not loop.last %}, {% endif %}{% endfor %}
(horizon {{ bg.horizon_in_time_units | fmt(1) }} time units; score = P(at least one purchase in the horizon)).</p>
{% if bg.flags %}<ul class="flags">{% for n in bg.flags %}<li><strong>Flag:</strong> {{ n }}</li>{% endfor %}</ul>{% endif %}
{% set others = bg.notes | reject('in', bg.flags or []) | list %}
{% if others %}<ul>{% for n in others %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
{% endif %}

{% set vf = r.value_forecast %}
{% if vf and vf.candidates %}
<h2>Value forecast: net spend, forecast against what happened</h2>
<p>Each forecast of {{ vf.target }}{% if vf.compared_at_days %} at {{ vf.compared_at_days }} days{% endif %}, made at {{ vf.origin }} from what was known then, against what {{ '{:,}'.format(vf.customers) }} customers really spent ({{ 'out of time' if vf.out_of_time else 'on held-out customers, not out of time' }}). Champion: <strong>{{ vf.champion }}</strong> ({{ vf.criterion }}).</p>
<table><tr><th>forecast</th><th>normalised Gini</th><th>Spearman</th><th>total forecast / real</th></tr>
{% for name, c in vf.candidates.items() %}<tr{% if name == vf.champion %} class="champion"{% endif %}><td class="name">{{ c.title }}{% if name == vf.champion %} (champion){% endif %}</td>
{% for m in (c.normalised_gini, c.spearman, c.total_ratio) %}<td>{{ m.value | fmt }}<br><span class="ci">[{{ m.ci_low | fmt }}, {{ m.ci_high | fmt }}]</span></td>{% endfor %}</tr>
{% endfor %}</table>
{% if img.value_deciles %}<figure><img alt="Value forecast by decile" src="data:image/png;base64,{{ img.value_deciles }}"></figure>{% endif %}
{% if vf.note %}<p>{{ vf.note }}</p>{% endif %}
{% endif %}

{% if r.value_model %}
<h2>Value at risk</h2>
<p>value_at_risk = churn probability x expected value; {{ r.value_model.note }}.</p>
{% if r.value_model.bgnbd %}<p class="ci">BG/NBD fitted at the cutoff: {% for k, v in r.value_model.bgnbd.items() %}{{ k }} = {{ '%.4g' % v }}{% if not loop.last %}, {% endif %}{% endfor %}.</p>{% endif %}
{% if r.value_model.bgnbd_flags %}<ul class="flags">{% for n in r.value_model.bgnbd_flags %}<li><strong>Flag:</strong> {{ n }}</li>{% endfor %}</ul>{% endif %}
{% endif %}

{% if r.notes %}
<h2>Notes</h2>
<details open><summary>{{ r.notes | length }} note{{ 's' if r.notes | length > 1 else '' }} on the data and the fits</summary>
<ul class="notes">{% for n in r.notes %}<li>{{ n }}</li>{% endfor %}</ul>
</details>
{% endif %}
<p class="ci">Generated {{ r.generated }} by toolkit {{ r.toolkit_version }}.</p>
</body>
</html>
"""
