"""Training and judging: labelled frames at several origins, the fits, the out-of-time (or
cross-validated) evaluation with bootstrap intervals, and the champion (:mod:`._train`,
:mod:`._evaluate`)."""
