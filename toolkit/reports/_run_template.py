# ruff: noqa: E501  (HTML template lines)
"""Jinja2 template of the report of ``toolkit run`` (rendered with autoescape on).

One self-contained page: the CSS is inline, every chart is an embedded PNG, nothing is fetched
from the network; print styles keep tables and figures whole on paper.
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ r.title }}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.45; }
h1, h2, h3 { color: #1a3d5c; }
h2 { border-bottom: 2px solid #dde4ee; padding-bottom: 0.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.86em; }
th, td { border: 1px solid #ccd; padding: 4px 7px; text-align: right; vertical-align: top; }
th { background: #eef2f7; }
td.t, th.t { text-align: left; }
tr.champion td { background: #fff6d6; font-weight: 600; }
tr.reference td { color: #555; font-style: italic; }
tr.risk td { background: #fdecea; }
.headline { background: #eef7ee; border-left: 4px solid #3a8f3a; padding: 0.5em 1em; }
.absent { background: #f6f6f6; border-left: 4px solid #999; padding: 0.5em 1em; color: #444; }
.flags li { color: #8a3b00; }
.toc { columns: 2; font-size: 0.95em; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0.5em 0; }
figcaption { font-size: 0.82em; color: #555; }
img { max-width: 100%; border: 1px solid #e3e3e3; }
.small { font-size: 0.82em; color: #555; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-before: auto; break-after: avoid; }
  table, figure, img { break-inside: avoid; }
  .toc a { color: #222; text-decoration: none; }
}
</style>
</head>
<body>
<h1>{{ r.title }}</h1>
<p class="small">{{ r.data_file }} ({{ r.kind }}) · toolkit {{ r.toolkit_version }} · generated {{ r.generated }}</p>
<div class="headline">
{% for line in r.headline %}<p>{{ line }}</p>
{% endfor %}</div>

<nav><h2 id="contents">Contents</h2>
<ol class="toc">
{% for sid in order %}<li><a href="#{{ sid }}">{{ s[sid].title }}</a>{% if not s[sid].available %} <span class="small">(not computed)</span>{% endif %}</li>
{% endfor %}</ol></nav>

{% for sid in order %}{% set sec = s[sid] %}
<section id="{{ sid }}">
<h2>{{ sec.title }}</h2>
{% if not sec.available %}
<p class="absent">Not computed: {{ sec.absent_reason }}.</p>
{% elif sid == 'data' %}
{% if sec.kind == 'customer_table' %}
<p>A customer table (one row per customer): <strong>{{ sec.rows | n }}</strong> rows, {{ sec.columns | length }} columns,
id column <code>{{ sec.id_column }}</code>. It has no purchase dates, so there is no purchase history to model
(no CLV, no churn models, no churn list); the segments below are built from its columns.</p>
{% else %}
<p><strong>{{ sec.rows | n }}</strong> rows, <strong>{{ sec.customers | n }}</strong> customers, purchases from
<strong>{{ sec.first_date }}</strong> to <strong>{{ sec.last_date }}</strong>: {{ sec.purchase_rows | n }} purchase rows from
{{ sec.purchase_customers | n }} customers, worth {{ sec.purchase_amount | money }}; {{ sec.return_rows | n }} return rows kept apart.</p>
<p class="small">Columns used: {% for role, col in sec.columns.items() %}{{ role }} = <code>{{ col }}</code>{% if not loop.last %}, {% endif %}{% endfor %}.
{% for note in sec.notes %}{{ note }}. {% endfor %}</p>
{% endif %}
{% if sec.problems %}
<table><thead><tr><th class="t">problem found by validation</th><th>rows</th><th class="t">treatment</th></tr></thead><tbody>
{% for p in sec.problems %}<tr><td class="t">{{ p.description }}</td><td>{{ p.count | n }}</td><td class="t">{{ p.treatment }}</td></tr>
{% endfor %}</tbody></table>
<p class="small">Examples of each problem: <code>validation.json</code>.</p>
{% else %}<p>Validation found no problem.</p>{% endif %}

{% elif sid == 'features' %}
<p>{% if s.data.kind == 'customer_table' %}The table's columns, typed{% else %}One row per customer as of the cutoff{% endif %}: {{ sec.customers | n }} customers, {{ sec.columns }} columns (<code>features.parquet</code>).
{% if sec.repeat_rate is defined %}{{ sec.repeat_rate | pct }} bought again in the horizon.{% endif %}</p>
{% if img['features.distributions'] %}
<h3>Distributions of the main features</h3>
<figure><img alt="Distributions of the main features" src="data:image/png;base64,{{ img['features.distributions'] }}">
<figcaption>Customers per value (money and counts on a log scale); dashed line: the median.</figcaption></figure>
{% endif %}
{% if sec.correlations %}{% set c = sec.correlations %}
<h3>What goes with what</h3>
<p>{{ c.method }} correlations of every pair of numeric columns: {{ c.n_significant | n }} of {{ c.n_pairs | n }} pairs are
significant after the Benjamini-Hochberg correction (q &lt; 0.05). Left out below: {{ c.definitional_left_out }} pairs that hold by
definition (the same quantity measured twice, or a model score computed from the other column).</p>
{% if c.pairs %}
<table><thead><tr><th class="t">in plain words</th><th>r</th><th>q-value</th><th>n</th></tr></thead><tbody>
{% for p in c.pairs %}<tr><td class="t">{{ p.sentence }}</td><td>{{ '%+.2f' % p.r }}</td><td>{{ p.q_value | pval }}</td><td>{{ p.n | n }}</td></tr>
{% endfor %}</tbody></table>
{% else %}<p>No significant pair beyond those that hold by definition.</p>{% endif %}
<p class="small">A correlation is not a cause: customers who buy more often also spend more in total partly because they buy more often.</p>
{% if img['features.heatmap'] %}<figure><img alt="Correlation heatmap" src="data:image/png;base64,{{ img['features.heatmap'] }}">
<figcaption>Correlation heatmap, clustered so that related features sit side by side (<code>correlations/</code>).</figcaption></figure>{% endif %}
{% endif %}

{% elif sid == 'segments' %}
<p><strong>{{ sec.k }}</strong> segments by {{ sec.method }} on {{ sec.columns | join(', ') }}; silhouette {{ sec.silhouette | num }}{% if sec.stability_ari is not none %}, stability (ARI over bootstrap refits) {{ sec.stability_ari | num }}{% endif %}.</p>
{% if sec.why %}<p class="small">{{ sec.why }}</p>{% endif %}
{% if sec.naming_note %}<p class="absent">Names: {{ sec.naming_note }}.</p>{% endif %}
<table><thead><tr><th class="t">segment</th><th>customers</th><th>share</th>
{% if sec.rows and 'churn_probability_mean' in sec.rows[0] %}<th>mean churn probability</th><th>value at risk</th>{% endif %}
<th class="t">what to do</th></tr></thead><tbody>
{% for row in sec.rows %}<tr class="{{ 'risk' if row.at_risk else '' }}"><td class="t">{{ row.segment_name }}{% if row.at_risk %} (at risk){% endif %}</td>
<td>{{ row.size | n }}</td><td>{{ row.share | pct }}</td>
{% if 'churn_probability_mean' in row %}<td>{{ row.churn_probability_mean | pct }}</td><td>{{ row.value_at_risk_total | money }}</td>{% endif %}
<td class="t">{{ row.action }}</td></tr>
{% endfor %}</tbody></table>
<div class="grid">
{% if img['segments.profile_heatmap'] %}<figure><img alt="Segment profiles heatmap" src="data:image/png;base64,{{ img['segments.profile_heatmap'] }}"><figcaption>Profiles: each segment's mean against the overall mean.</figcaption></figure>{% endif %}
{% if img['segments.scatter'] %}<figure><img alt="Segments scatter" src="data:image/png;base64,{{ img['segments.scatter'] }}"><figcaption>The customers in two dimensions, coloured by segment.</figcaption></figure>{% endif %}
</div>
<p class="small">Every customer's segment: <code>segments/segments.csv</code>; profiles and actions: <code>segments/profiles.csv</code>, <code>segments/actions.csv</code>.</p>

{% elif sid == 'clv' %}
<p>BG/NBD (who is still a customer and how often they buy) with Gamma-Gamma (how much per purchase), over
{{ sec.horizon | num }} {{ sec.time_unit }}, discounted {{ sec.discount_rate | pct }} a month: total BG/NBD x Gamma-Gamma CLV <strong>{{ sec.total_value | money }}</strong>, median per customer
{{ sec.median_value | num }}; the top 10% of customers hold {{ sec.top_decile_share | pct }} of it. Median P(alive) {{ sec.p_alive_median | num }};
{{ sec.p_alive_below_half | pct }} of the customers are more likely gone than not.</p>
<p class="small">P(alive) is the chance that a customer has not left for good; the churn list's churn probability is the chance of no purchase in the horizon, which also counts customers still active who buy less often than that, so it is the higher of the two.</p>
{% if sec.value_forecast %}<p>The churn list's expected value is the <strong>{{ sec.value_forecast.used }}</strong> forecast of net spend, the best of the value forecasts compared out of time at {{ sec.value_forecast.origin }} (normalised Gini: {% for k, v in sec.value_forecast.gini.items() %}{{ k }} {{ v | num(3) }}{% if not loop.last %}, {% endif %}{% endfor %}); the total above is BG/NBD x Gamma-Gamma's, discounted.</p>{% endif %}
<table><thead><tr><th class="t">BG/NBD</th>{% for k in ['r', 'alpha', 'a', 'b'] %}<th>{{ k }}</th>{% endfor %}<th>log-likelihood</th></tr></thead><tbody>
<tr><td class="t">estimate</td>{% for k in ['r', 'alpha', 'a', 'b'] %}<td>{{ sec.bgnbd[k] | num(4) }}</td>{% endfor %}<td>{{ sec.bgnbd.log_likelihood | num }}</td></tr>
<tr><td class="t">standard error</td>{% for k in ['r', 'alpha', 'a', 'b'] %}<td>{{ sec.bgnbd_standard_errors.get(k) | num(3) }}</td>{% endfor %}<td></td></tr>
</tbody></table>
{% if sec.flags %}<ul class="flags">{% for f in sec.flags %}<li>flag: {{ f }}</li>{% endfor %}</ul>
{% else %}<p>The fit raised no flag (no parameter at a boundary, standard errors usable).</p>{% endif %}
{% for w in sec.warnings %}{% if w not in sec.flags %}<p class="small">note: {{ w }}</p>{% endif %}{% endfor %}
<div class="grid">
{% if img['clv.p_alive_matrix'] %}<figure><img alt="P(alive) matrix" src="data:image/png;base64,{{ img['clv.p_alive_matrix'] }}"><figcaption>P(alive) by frequency and recency.</figcaption></figure>{% endif %}
{% if img['clv.value_deciles'] %}<figure><img alt="Value forecasts by decile" src="data:image/png;base64,{{ img['clv.value_deciles'] }}"><figcaption>Each value forecast against what customers really spent, by decile of the forecast (out of time, net of returns).</figcaption></figure>{% endif %}
{% if img['clv.value_distribution'] %}<figure><img alt="Expected value distribution" src="data:image/png;base64,{{ img['clv.value_distribution'] }}"><figcaption>Expected value per customer (log scale).</figcaption></figure>{% endif %}
</div>
<p class="small">Per customer: <code>clv/customers.csv</code>; the fit: <code>clv/params.json</code>.</p>

{% elif sid == 'models' %}
<div class="headline">{% for v in sec.verdict %}<p>{{ v }}</p>{% endfor %}</div>
<p class="small">Positive class: {{ sec.positive_class }}. Churn probability: {{ sec.churn_probability }}.
{% if sec.evaluation.out_of_time %}Judged out of time: {{ sec.evaluation.customers | n }} customers at {{ sec.evaluation.origin }}, labels {{ sec.evaluation.label_window }}.{% endif %}</p>
<table><thead><tr><th class="t">model</th><th>ROC-AUC</th><th>PR-AUC</th><th>top-decile lift</th></tr></thead><tbody>
{% for row in sec.table %}<tr class="{{ 'champion' if row.champion else '' }} {{ 'reference' if row.role == 'reference' else '' }}">
<td class="t">{{ row.name }}{% if row.champion %} (champion){% endif %}{% if row.role == 'reference' %} (naive rule){% endif %}</td>
<td>{{ row.roc_auc | metric }}</td><td>{{ row.pr_auc | metric }}</td><td>{{ row.top_decile_lift | metric }}</td></tr>
{% endfor %}</tbody></table>
<p class="small">Value and 95% bootstrap interval.</p>
{% if sec.flags %}<ul class="flags">{% for f in sec.flags %}<li>BG/NBD flag: {{ f }}</li>{% endfor %}</ul>{% endif %}
<p>Curves, calibration, SHAP explanations, tree rules and coefficients: <a href="{{ sec.report }}">the full model report</a> (<code>{{ sec.report }}</code>).</p>

{% elif sid == 'churn' %}
<p>{{ sec.customers | n }} customers scored, money at risk first; mean churn probability {{ sec.mean_churn_probability | pct }}{% if sec.expected_value_total is defined %},
expected value if retained {{ sec.expected_value_total | money }}{% endif %}{% if sec.value_at_risk_total is defined %},
value at risk {{ sec.value_at_risk_total | money }} (the riskiest 10% hold {{ sec.value_at_risk_top_share | pct }}){% endif %}.
The full list: <code>{{ sec.file }}</code>. The top {{ sec.top | length }}:</p>
<table><thead><tr>{% for c in sec.columns %}<th class="{{ 't' if c.startswith('reason') or c in ('customer_id', 'segment', 'risk_band') else '' }}">{{ c | replace('_', ' ') }}</th>{% endfor %}</tr></thead><tbody>
{% for row in sec.top %}<tr>{% for c in sec.columns %}{% set v = row[c] %}
<td class="{{ 't' if c.startswith('reason') or c in ('customer_id', 'segment', 'risk_band') else '' }}">{% if v is none %}–{% elif c == 'churn_probability' %}{{ v | pct }}{% elif c in ('expected_value', 'value_at_risk') %}{{ v | money }}{% else %}{{ v }}{% endif %}</td>
{% endfor %}</tr>
{% endfor %}</tbody></table>

{% elif sid == 'method' %}
<p>Data: <code>{{ sec.data }}</code> ({{ sec.kind }}).</p>
<table><thead><tr><th class="t">option</th><th class="t">value</th></tr></thead><tbody>
{% for k, v in sec.options.items() %}<tr><td class="t">{{ k }}</td><td class="t">{{ 'default' if v is none else v }}</td></tr>
{% endfor %}</tbody></table>
<table><thead><tr><th class="t">step</th><th class="t">status</th><th>seconds</th></tr></thead><tbody>
{% for k, v in sec.steps.items() %}<tr><td class="t">{{ k }}</td><td class="t">{{ v }}{% if k in sec.skipped %}: {{ sec.skipped[k] }}{% endif %}</td><td>{{ sec.seconds.get(k) | num }}</td></tr>
{% endfor %}</tbody></table>
<p class="small">Versions: {% for k, v in sec.versions.items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}.
Steps marked "reused" kept the outputs of an earlier run with the same input and options.</p>
{% endif %}
</section>
{% endfor %}
</body>
</html>
"""
