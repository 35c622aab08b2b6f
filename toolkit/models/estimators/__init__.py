"""The scorers: what each churn model is and how it learns, scores, explains and is stored.

:mod:`._base` (the Scorer contract, batches, probability-scale contributions), :mod:`._data`
(the feature schema and encoding), :mod:`._calibrate` (Platt / isotonic), and one module per
model: :mod:`._linear`, :mod:`._tree`, :mod:`._boost` (XGBoost), :mod:`._reference` (BG/NBD,
the naive rules, the ensemble); :mod:`._fastshap` shares TreeSHAP work between identical rows.
"""
