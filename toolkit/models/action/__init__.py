"""What a retention team acts on: explanations and reasons in words (:mod:`._explain`), the
churn list in priority order (:mod:`._churnlist`), and the back-test of its order
(:mod:`._backtest`: the list's order, and the models fitted at earlier cutoffs and judged on
what happened)."""
