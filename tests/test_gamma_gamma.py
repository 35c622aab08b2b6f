"""Gamma-Gamma spend model and customer lifetime value."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toolkit.btyd import BetaGeoModel, BoundaryWarning, GammaGammaModel, _gamma_gamma, fit_spend
from toolkit.errors import InputError, NotFittedError

X = np.array([1.0, 2.0, 5.0, 3.0, 1.0, 4.0])
M = np.array([20.0, 35.0, 18.0, 60.0, 12.5, 41.0])


def naive_density(p, q, v, x, m):
    """FHL "RFM and CLV" eq. for the mean of x transactions, written out with math.gamma."""
    return (
        math.gamma(p * x + q)
        / (math.gamma(p * x) * math.gamma(q))
        * v**q
        * m ** (p * x - 1)
        * x ** (p * x)
        / (v + m * x) ** (p * x + q)
    )


def fitted(p, q, v):
    gg = GammaGammaModel()
    gg.params_ = {"p": p, "q": q, "v": v}
    return gg


@pytest.mark.parametrize("params", [(6.25, 3.74, 15.44), (0.8, 1.5, 200.0), (2.0, 10.0, 3.0)])
def test_log_likelihood_matches_naive_formula(params):
    ll, _ = _gamma_gamma._loglik(np.array(params), X, M)
    expected = [math.log(naive_density(*params, x, m)) for x, m in zip(X, M, strict=True)]
    np.testing.assert_allclose(ll, expected, rtol=1e-12)


@pytest.mark.parametrize("penalizer", [0.0, 0.5])
@pytest.mark.parametrize("theta", [(1.8, 1.3, 0.0), (-0.5, 0.2, 2.0)])
def test_gradient_matches_finite_differences(theta, penalizer):
    theta = np.array(theta)
    w = np.ones_like(X)
    scale = float(M.mean())
    _, grad = _gamma_gamma._objective(theta, X, M, w, scale, penalizer)
    h = 1e-6

    def f(th):
        return _gamma_gamma._objective(th, X, M, w, scale, penalizer)[0]

    numeric = [(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_fits_repeat_customers_only_and_says_so():
    x = np.r_[X, [0.0, 0.0]]
    m = np.r_[M, [0.0, np.nan]]  # monetary of a customer without repeat purchases is ignored
    gg = GammaGammaModel().fit(x, m)
    assert gg.n_customers_ == 6 and gg.n_excluded_ == 2
    assert gg.summary()["n_excluded_no_repeat"] == 2
    only = GammaGammaModel().fit(X, M)
    assert gg.params_ == pytest.approx(only.params_, rel=1e-6)


def test_expected_spend_by_hand():
    gg = fitted(6.0, 4.0, 15.0)
    # p (v + x m) / (p x + q - 1); x = 0: the population mean p v / (q - 1) = 30
    got = gg.expected_spend([0, 1, 4], [np.nan, 20.0, 10.0])
    np.testing.assert_allclose(got, [30.0, 6 * 35 / 9, 6 * 55 / 27])
    # with q <= 1 the population mean is infinite: no value for newcomers
    assert np.isnan(fitted(6.0, 0.8, 15.0).expected_spend([0], [0.0])[0])


@pytest.mark.parametrize(
    "frequency,monetary,message",
    [
        ([1, 2], [10.0, -5.0], "monetary value must be a number > 0.*1 rows"),
        ([1, 2], [10.0, np.nan], "monetary value must be a number > 0"),
        ([1.5, 2], [10.0, 5.0], "frequency must be a whole number"),
        ([1, 2, 3], [10.0, 5.0], "same length"),
        ([0, 0, 1], [0.0, 0.0, 5.0], "needs customers with repeat purchases"),
    ],
    ids=["negative", "missing", "fractional", "length", "no-repeat"],
)
def test_invalid_input(frequency, monetary, message):
    with pytest.raises(InputError, match=message):
        GammaGammaModel().fit(frequency, monetary)


def test_a_spend_of_zero_or_less_can_be_left_out_of_the_fit():
    x = np.append(X, [2.0, 3.0, 0.0])
    m = np.append(M, [0.0, -4.0, 0.0])
    with pytest.raises(InputError, match="monetary value must be a number > 0.*2 rows"):
        GammaGammaModel().fit(x, m)  # strict by default
    gg = GammaGammaModel().fit(x, m, nonpositive="leave out")
    only = GammaGammaModel().fit(X, M)
    assert gg.params_ == only.params_
    assert (gg.n_customers_, gg.n_nonpositive_, gg.n_excluded_) == (6, 2, 1)
    assert gg.summary()["n_left_out_nonpositive_spend"] == 2
    # scored as a customer with no spend evidence: the population mean
    mean = gg.expected_spend([0], [0.0])[0]
    np.testing.assert_allclose(gg.expected_spend([2, 3, 1], [0.0, -4.0, np.nan]), mean)
    with pytest.raises(InputError, match=r"a number \(not missing or infinite\).*1 rows"):
        GammaGammaModel().fit([1, 2, 3], [10.0, np.nan, 4.0], nonpositive="leave out")
    with pytest.raises(InputError, match="`nonpositive` must be 'raise' or 'leave out'"):
        GammaGammaModel().fit(X, M, nonpositive="drop")


def test_fit_spend_leaves_out_and_is_maximum_likelihood_where_interior():
    rng = np.random.default_rng(8)
    x = rng.integers(1, 8, 400).astype(float)
    nu = rng.gamma(3.0, 1 / 60.0, 400)  # customer-specific scales: heterogeneous spend
    m = np.array([rng.gamma(2.5, 1 / n, int(k)).mean() for k, n in zip(x, nu, strict=True)])
    m[:3] = [0.0, -1.0, 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gg = fit_spend(x, m)
    assert gg.fit_ == "maximum likelihood" and gg.penalizer == 0 and gg.n_nonpositive_ == 3
    assert gg.params_ == GammaGammaModel().fit(x[3:], m[3:]).params_
    assert fit_spend(x, m, penalizer=0.5).fit_ == "penalised (0.5)"


def test_fit_spend_falls_back_to_the_penalty_at_a_boundary():
    rng = np.random.default_rng(4)
    x = rng.integers(1, 8, 300).astype(float)
    m = np.array([rng.gamma(4.0, 1 / 0.2, int(k)).mean() for k in x])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gg = fit_spend(x, m)
    assert gg.fit_.startswith("penalised (0.")
    assert "the unpenalised fit ran to a boundary (q, v -> infinity" in gg.fit_
    assert [str(w.message) for w in caught] == gg.warnings_  # only the kept fit's warnings


def test_not_fitted():
    with pytest.raises(NotFittedError):
        GammaGammaModel().expected_spend([1], [10.0])


# --- customer lifetime value ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def bg() -> BetaGeoModel:
    m = BetaGeoModel()
    m.params_ = {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4259}
    return m


def test_clv_without_discount_is_spend_times_expected_purchases(bg):
    gg = fitted(6.25, 3.74, 15.44)
    x, tx, T, m = (
        np.array([2, 0, 7]),
        np.array([30.43, 0, 35.0]),
        np.array([38.86] * 3),
        np.array([22.35, 0.0, 40.0]),
    )
    clv = gg.customer_lifetime_value(
        bg, x, tx, T, m, horizon=12, discount_rate=0.0, time_unit="weeks"
    )
    total = bg.expected_purchases(12 * 4.345, x, tx, T)
    np.testing.assert_allclose(clv, gg.expected_spend(x, m) * total, rtol=1e-12)


@pytest.mark.parametrize(
    "horizon,freq,time_unit,length",
    [(3, "monthly", "days", 30.0), (3, "monthly", "weeks", 4.345), (2.5, "weekly", "days", 7.0)],
)
def test_clv_discounts_each_period_at_its_end(bg, horizon, freq, time_unit, length):
    gg = fitted(6.25, 3.74, 15.44)
    x, tx, T, m = 3, 20.0, 38.0, 30.0
    if time_unit == "days":
        tx, T = 7 * tx, 7 * T
        bg = BetaGeoModel()
        bg.params_ = {"r": 0.2426, "alpha": 7 * 4.4135, "a": 0.7929, "b": 2.4259}
    d = 0.05
    ends = [1.0, 2.0, 3.0] if horizon == 3 else [1.0, 2.0, 2.5]
    expected, previous = 0.0, 0.0
    for k in ends:
        cumulative = float(bg.expected_purchases(k * length, x, tx, T))
        expected += (cumulative - previous) / (1 + d) ** k
        previous = cumulative
    expected *= float(gg.expected_spend(x, m))
    got = gg.customer_lifetime_value(
        bg, [x], [tx], [T], [m], horizon=horizon, discount_rate=d, time_unit=time_unit, freq=freq
    )
    assert got[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"horizon": 0}, "horizon"),
        ({"discount_rate": -1.5}, "discount_rate"),
        ({"freq": "yearly"}, "freq"),
        ({"time_unit": "hours"}, "time_unit"),
    ],
)
def test_clv_rejects_bad_options(bg, kwargs, message):
    with pytest.raises(InputError, match=message):
        fitted(6.25, 3.74, 15.44).customer_lifetime_value(bg, [1], [5.0], [10.0], [20.0], **kwargs)


# --- the published numbers -----------------------------------------------------------------------


@pytest.mark.realdata
def test_cdnow_matches_fader_hardie_lee(shared_data: Path):
    df = pd.read_csv(shared_data / "cdnow_customers_summary_with_transactions.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gg = GammaGammaModel().fit(df["x"], df["zbar"])
    assert gg.n_customers_ == 946
    for k, v in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert gg.params_[k] == pytest.approx(v, abs=0.01), k
    assert gg.converged_
    # the assumption of the model: spend barely depends on frequency (FHL report 0.11)
    assert gg.frequency_monetary_corr_ == pytest.approx(0.11, abs=0.01)
    # FHL "RFM and CLV": population mean spend per transaction p v / (q - 1) = $35.2
    assert gg.expected_spend([0], [0.0])[0] == pytest.approx(35.2, abs=0.1)
    # the standard fit is that maximum likelihood: interior and well determined
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        std = fit_spend(df["x"], df["zbar"])
    assert std.fit_ == "maximum likelihood" and std.params_ == gg.params_


def test_homogeneous_spend_is_a_boundary_not_an_error():
    # every customer's transactions come from the same Gamma(p, nu): q, v -> infinity
    rng = np.random.default_rng(4)
    x = rng.integers(1, 8, 300).astype(float)
    m = np.array([rng.gamma(4.0, 1 / 0.2, int(k)).mean() for k in x])
    with pytest.warns(BoundaryWarning, match="q, v -> infinity"):
        gg = GammaGammaModel().fit(x, m)
    assert gg.converged_
    spend = gg.expected_spend(x, m)
    np.testing.assert_allclose(spend, 20.0, rtol=0.1)  # everyone near the common mean 4 / 0.2


def test_set_params_checks_names():
    gg = GammaGammaModel().set_params(penalizer=0.5)
    assert gg.get_params()["penalizer"] == 0.5
    with pytest.raises(InputError, match="invalid parameter 'alpha'"):
        gg.set_params(alpha=1.0)
