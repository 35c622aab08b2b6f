"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999).

A customer's transaction values are Gamma(p, nu) with a customer-specific scale
``nu ~ Gamma(q, v)``; the mean ``m`` of a customer's ``x`` repeat transactions then has the
marginal density::

    f(m | x) = G(p x + q) / (G(p x) G(q)) * v^q * m^(p x - 1) * x^(p x) / (v + m x)^(p x + q)

fitted by maximum likelihood (log-parameters, analytic gradient, L-BFGS-B) on the customers with
at least one repeat purchase. It assumes spend is independent of purchase frequency; the fitted
model reports the correlation between the two so that the assumption can be checked.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from toolkit.btyd._bgnbd import (
    BetaGeoModel,
    BoundaryWarning,
    FitConvergenceWarning,
    ParamsMixin,
    fit_problem,
    numeric_hessian,
    penalised_if_needed,
)
from toolkit.errors import InputError, NotFittedError

FloatArray = NDArray[np.float64]

PARAM_NAMES = ("p", "q", "v")
# p and q (dimensionless) are searched in [1e-4, 1e4], v / mean spend in [e^-18, e^18]; q at its
# upper bound is the limit "every customer has the same spend distribution"
_LO = np.array([np.log(1e-4), np.log(1e-4), -18.0])
_HI = np.array([np.log(1e4), np.log(1e4), 18.0])

# length of one discounting period, in the data's time unit (lifetimes' factors)
PERIOD_LENGTH: dict[str, dict[str, float]] = {
    "monthly": {"days": 30.0, "weeks": 4.345},
    "weekly": {"days": 7.0, "weeks": 1.0},
    "daily": {"days": 1.0, "weeks": 1.0 / 7.0},
}


def _validate_spend(
    frequency: ArrayLike, monetary: ArrayLike, nonpositive: str = "raise"
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_], NDArray[np.bool_]]:
    """Float arrays of frequency and monetary value, the mask of the repeat customers to fit,
    and the mask of those left out for a spend of 0 or less (``nonpositive="leave out"``)."""
    if nonpositive not in ("raise", "leave out"):
        raise InputError(f"`nonpositive` must be 'raise' or 'leave out', got {nonpositive!r}")
    try:
        x = np.asarray(frequency, dtype=np.float64).ravel()
        m = np.asarray(monetary, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise InputError("frequency and monetary value must be numeric") from None
    if x.size != m.size:
        raise InputError(
            f"frequency and monetary value must have the same length, got {x.size} and {m.size}"
        )
    problems = []
    with np.errstate(invalid="ignore"):
        bad_x = ~np.isfinite(x) | (x < 0) | (np.abs(x - np.round(x)) > 1e-9)
        rep = ~bad_x & (x > 0)
        left_out = rep & np.isfinite(m) & (m <= 0)
        if nonpositive == "raise":
            left_out[:] = False
        bad_m = rep & ~left_out & ~(np.isfinite(m) & (m > 0))
    if bad_x.any():
        problems.append(
            f"frequency must be a whole number >= 0: {int(bad_x.sum())} rows break it "
            f"(0-based rows {', '.join(map(str, np.flatnonzero(bad_x)[:5]))})"
        )
    if bad_m.any():
        rule = "a number > 0" if nonpositive == "raise" else "a number (not missing or infinite)"
        problems.append(
            f"monetary value must be {rule} for customers with repeat purchases: "
            f"{int(bad_m.sum())} rows break it "
            f"(0-based rows {', '.join(map(str, np.flatnonzero(bad_m)[:5]))})"
        )
    if problems:
        raise InputError("invalid frequency/monetary value: " + "; ".join(problems))
    return np.round(x), m, rep & ~left_out, left_out


def _loglik(
    params: FloatArray, x: FloatArray, m: FloatArray, grad: bool = False
) -> tuple[FloatArray, FloatArray | None]:
    from scipy.special import digamma, gammaln

    p, q, v = params
    px = p * x
    log_xmv = np.log(x * m + v)
    log_m = np.log(m)
    log_x = np.log(x)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * log_m
        + px * log_x
        - (px + q) * log_xmv
    )
    if not grad:
        return ll, None
    psi_pxq = digamma(px + q)
    g = np.empty((3, x.size))
    g[0] = x * (psi_pxq - digamma(px) + log_m + log_x - log_xmv)
    g[1] = psi_pxq - digamma(q) + np.log(v) - log_xmv
    g[2] = q / v - (px + q) / (x * m + v)
    return ll, g


def _objective(
    theta: FloatArray, x: FloatArray, m: FloatArray, w: FloatArray, scale: float, penalizer: float
) -> tuple[float, FloatArray]:
    params = np.exp(theta)
    params[2] *= scale
    ll, g = _loglik(params, x, m, grad=True)
    assert g is not None
    total = w.sum()
    f = -float(w @ ll) / total + penalizer * float(theta @ theta)
    if not np.isfinite(f):
        return np.inf, np.zeros_like(theta)
    return f, -(g @ w) * params / total + 2.0 * penalizer * theta


class GammaGammaModel(ParamsMixin):
    """Gamma-Gamma model of the average spend per transaction.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the log-parameters: the minimised objective is the mean negative
        log-likelihood per repeat customer plus
        ``penalizer * (ln(p)^2 + ln(q)^2 + ln(v/s)^2)``, with ``s`` the mean monetary value of
        the fitted customers (so the fit does not depend on the currency unit).
    n_starts : int, default 3
        Optimiser starts (a moment-based one plus seeded random perturbations).
    random_state : int, default 0
        Seed of the random starts.

    Attributes
    ----------
    params_ : dict
        ``{"p", "q", "v"}``.
    log_likelihood_ : float
        Log-likelihood (sum over the fitted customers).
    standard_errors_ : dict
        Delta-method standard errors from the inverse Hessian in log-parameters.
    n_customers_ : int
        Customers fitted (those with frequency > 0).
    n_excluded_ : int
        Customers ignored because they have no repeat purchase (their mean repeat spend is
        undefined); they still get a prediction (the population mean) from
        :meth:`expected_spend`.
    n_nonpositive_ : int
        Customers with repeat purchases left out because their mean repeat spend is 0 or less
        (``nonpositive="leave out"``; 0 otherwise). The model is one of positive spends; they
        get the population mean from :meth:`expected_spend` too.
    fit_ : str
        ``"maximum likelihood"`` (penalizer 0) or ``"penalised (X)"``; :func:`fit_spend` adds
        why it needed the penalty.
    frequency_monetary_corr_ : float
        Pearson correlation of frequency and monetary value among the fitted customers; the
        model assumes it is close to 0.
    converged_ : bool

    Examples
    --------
    >>> gg = GammaGammaModel(penalizer=0.1).fit([1, 2, 5, 0, 3], [20.0, 35.0, 18.0, 0.0, 60.0])
    >>> gg.n_customers_, gg.n_excluded_
    (4, 1)
    """

    def __init__(self, penalizer: float = 0.0, n_starts: int = 3, random_state: int = 0) -> None:
        self.penalizer = penalizer
        self.n_starts = n_starts
        self.random_state = random_state

    def fit(
        self,
        frequency: ArrayLike,
        monetary: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        nonpositive: Literal["raise", "leave out"] = "raise",
    ) -> GammaGammaModel:
        """Fit p, q, v on the customers with ``frequency > 0`` (the others are ignored).

        Parameters
        ----------
        frequency : array-like of shape (n,)
            Number of repeat purchases.
        monetary : array-like of shape (n,)
            Mean value of the repeat purchases (> 0 where frequency > 0; anything where it is 0).
        weights : array-like of shape (n,), optional
            Number of customers each row stands for.
        nonpositive : {"raise", "leave out"}, default "raise"
            What a repeat customer's monetary value of 0 or less is: an input error, or a
            customer to leave out of the fit (counted in ``n_nonpositive_``; a transaction log
            can net a customer's repeat purchases to 0 with free orders or returns). A missing
            or infinite value is an input error either way.

        Returns
        -------
        self

        Examples
        --------
        >>> gg = GammaGammaModel(penalizer=0.1).fit([1, 2, 5, 3], [20.0, 35.0, 18.0, 60.0])
        >>> sorted(gg.params_)
        ['p', 'q', 'v']
        >>> gg = GammaGammaModel(penalizer=0.1).fit([1, 2, 5, 3, 2], [20.0, 35.0, 18.0, 60.0, 0.0],
        ...                                         nonpositive="leave out")
        >>> gg.n_customers_, gg.n_nonpositive_
        (4, 1)
        """
        self._fit_quietly(frequency, monetary, weights, nonpositive=nonpositive)
        self._warn(stacklevel=3)
        return self

    def _fit_quietly(
        self,
        frequency: ArrayLike,
        monetary: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        nonpositive: Literal["raise", "leave out"] = "raise",
    ) -> GammaGammaModel:
        """``fit`` without its warnings (:func:`fit_spend` warns for the fit it keeps)."""
        from scipy.optimize import minimize
        from threadpoolctl import threadpool_limits

        if not (np.isfinite(self.penalizer) and self.penalizer >= 0):
            raise InputError(f"penalizer must be a number >= 0, got {self.penalizer!r}")
        x, m, rep, left_out = _validate_spend(frequency, monetary, nonpositive)
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
        if w.size != x.size or not (np.isfinite(w) & (w >= 0)).all():
            raise InputError("weights must be finite, >= 0 and as long as frequency")
        rep &= w > 0
        if rep.sum() < 2:
            raise InputError(
                "the Gamma-Gamma model needs customers with repeat purchases (frequency > 0) "
                f"and a monetary value > 0; got {int(rep.sum())}"
            )
        xr, mr, wr = x[rep], m[rep], w[rep]
        scale = float(wr @ mr / wr.sum())
        penalizer = float(self.penalizer)
        rng = np.random.default_rng(self.random_state)
        base = np.array([0.0, np.log(2.0), 0.0])
        starts = [base] + [base + rng.normal(0, 1, 3) for _ in range(int(self.n_starts) - 1)]
        best = None
        with threadpool_limits(1):
            for theta0 in starts:
                res = minimize(
                    _objective,
                    theta0,
                    args=(xr, mr, wr, scale, penalizer),
                    jac=True,
                    method="L-BFGS-B",
                    bounds=list(zip(_LO, _HI, strict=True)),
                    options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10},
                )
                if best is None or res.fun < best.fun:
                    best = res
            assert best is not None
            theta = np.asarray(best.x, dtype=np.float64)
            params = np.exp(theta)
            params[2] *= scale
            ll, _ = _loglik(params, xr, mr)
            hess = _numeric_hessian(theta, xr, mr, wr, scale, penalizer) * wr.sum()
            try:
                cov = np.linalg.inv(hess)
                se_log = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
            except np.linalg.LinAlgError:
                se_log = np.full(3, np.nan)
        f, g = _objective(theta, xr, mr, wr, scale, penalizer)
        lo, hi = theta <= _LO + 0.05, theta >= _HI - 0.05
        # the gradient projected on the box: a parameter held at a bound by it does not count
        proj = np.where((lo & (g > 0)) | (hi & (g < 0)), 0.0, g)
        self.params_ = dict(zip(PARAM_NAMES, (float(v) for v in params), strict=True))
        self.standard_errors_ = dict(
            zip(PARAM_NAMES, (float(v) for v in params * se_log), strict=True)
        )
        self.log_likelihood_ = float(wr @ ll)
        self.n_customers_ = int(rep.sum()) if weights is None else float(wr.sum())
        no_repeat = ~rep & ~left_out
        self.n_excluded_ = int(no_repeat.sum()) if weights is None else float(w[no_repeat].sum())
        self.n_nonpositive_ = int(left_out.sum()) if weights is None else float(w[left_out].sum())
        self.fit_ = "maximum likelihood" if penalizer == 0 else f"penalised ({penalizer:g})"
        self.frequency_monetary_corr_ = (
            float(np.corrcoef(xr, mr)[0, 1]) if np.ptp(xr) > 0 and np.ptp(mr) > 0 else float("nan")
        )
        self.converged_ = bool(best.success or float(np.max(np.abs(proj))) < 1e-6 * max(1, abs(f)))
        self.warnings_: list[str] = []
        if hi[1] or hi[2]:
            self.warnings_.append(
                f"Gamma-Gamma fit at a boundary (q, v -> infinity; q = {self.params_['q']:.3g}): "
                "the customers' mean spends differ no more than chance allows, so every "
                "customer's expected spend is close to the population mean"
            )
        elif lo.any() or hi.any():
            names = [n for n, f in zip(PARAM_NAMES, lo | hi, strict=True) if f]
            self.warnings_.append(
                f"Gamma-Gamma fit at a boundary ({', '.join(names)} at the limit of the search)"
            )
        if self.params_["q"] <= 1:
            self.warnings_.append(
                f"Gamma-Gamma fit has q = {self.params_['q']:.3g} <= 1: the population mean "
                "spend is infinite, so customers without repeat purchases get no expected spend"
            )
        self._message = str(best.message)
        return self

    def _warn(self, stacklevel: int) -> None:
        for msg in self.warnings_:
            warnings.warn(msg, BoundaryWarning, stacklevel=stacklevel)
        if not self.converged_:
            warnings.warn(
                f"Gamma-Gamma fit: the optimiser stopped early ({self._message})",
                FitConvergenceWarning,
                stacklevel=stacklevel,
            )

    def _check_fitted(self) -> tuple[float, float, float]:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(frequency, monetary) first"
            )
        return self.params_["p"], self.params_["q"], self.params_["v"]

    def expected_spend(self, frequency: ArrayLike, monetary: ArrayLike) -> FloatArray:
        """Expected mean spend per transaction of each customer, given their history.

        ``p (v + x m) / (p x + q - 1)``: a weighted mean of the population mean ``p v / (q - 1)``
        and the customer's own mean ``m``. Customers without repeat purchases, or whose mean
        repeat spend is not a number > 0 (the model is one of positive spends; such customers
        are left out of :func:`fit_spend`'s fit), get the population mean (NaN when
        ``q <= 1``, where it is infinite).

        Examples
        --------
        >>> gg = GammaGammaModel(penalizer=0.1).fit([1, 2, 5, 3], [20.0, 35.0, 18.0, 60.0])
        >>> bool(gg.expected_spend([0], [0.0])[0] > 0)
        True
        >>> bool(gg.expected_spend([3], [0.0])[0] == gg.expected_spend([0], [0.0])[0])
        True
        """
        p, q, v = self._check_fitted()
        x = np.asarray(frequency, dtype=np.float64)
        m = np.asarray(monetary, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            usable = (x > 0) & (m > 0) & np.isfinite(m)
        x = np.where(usable, x, 0.0)
        xm = x * np.where(usable, m, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = p * (v + xm) / (p * x + q - 1.0)
        return np.where(out > 0, out, np.nan)

    def customer_lifetime_value(
        self,
        bgnbd: BetaGeoModel,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary: ArrayLike,
        horizon: float = 12,
        discount_rate: float = 0.01,
        time_unit: Literal["days", "weeks"] = "days",
        freq: Literal["monthly", "weekly", "daily"] = "monthly",
    ) -> FloatArray:
        """Discounted expected value of each customer's purchases over the next ``horizon`` periods.

        ``CLV = sum_k spend * (E[Y(t_k)] - E[Y(t_{k-1})]) / (1 + discount_rate)^k`` where
        ``E[Y(t)]`` are the BG/NBD conditional expected purchases, ``spend`` the Gamma-Gamma
        expected spend, and ``t_k = k * L`` the end of period k, ``L`` being the length of one
        period in the data's time unit (monthly: 30 days or 4.345 weeks; weekly: 7 days or 1 week;
        daily: 1 day). Each period's purchases are discounted at its end, as lifetimes'
        ``customer_lifetime_value`` does. A fractional horizon ends with a partial period
        discounted at its own end (exponent ``horizon``).

        Parameters
        ----------
        bgnbd : BetaGeoModel
            A fitted BG/NBD model (in the same time unit as ``recency`` and ``T``).
        frequency, recency, T, monetary : array-like of shape (n,)
            Each customer's summary; ``monetary`` is the mean repeat spend.
        horizon : float, default 12
            Number of periods (months by default).
        discount_rate : float, default 0.01
            Discount rate per period (per month by default; 0.01 a month ~ 12.7 % a year).
        time_unit : {"days", "weeks"}
            Unit of ``recency`` and ``T``.
        freq : {"monthly", "weekly", "daily"}
            Length of the discounting period.

        Returns
        -------
        ndarray of shape (n,)

        Examples
        --------
        >>> bg = BetaGeoModel(penalizer=0.1).fit([1, 0, 2, 3], [3.0, 0, 8.0, 9.0], [9, 9, 9, 10])
        >>> gg = GammaGammaModel(penalizer=0.1).fit([1, 0, 2, 3], [20.0, 0.0, 35.0, 18.0])
        >>> clv = gg.customer_lifetime_value(bg, [2], [8.0], [9], [35.0], horizon=3,
        ...                                  time_unit="weeks")
        >>> bool(clv[0] > 0)
        True
        """
        self._check_fitted()
        if freq not in PERIOD_LENGTH:
            raise InputError(f"freq must be one of {sorted(PERIOD_LENGTH)}, got {freq!r}")
        if time_unit not in ("days", "weeks"):
            raise InputError(f"time_unit must be 'days' or 'weeks', got {time_unit!r}")
        if not (np.isfinite(horizon) and horizon > 0):
            raise InputError(f"horizon must be a number of periods > 0, got {horizon!r}")
        if not (np.isfinite(discount_rate) and discount_rate > -1):
            raise InputError(f"discount_rate must be a number > -1, got {discount_rate!r}")
        length = PERIOD_LENGTH[freq][time_unit]
        n_full = int(np.floor(horizon + 1e-12))
        ends = list(range(1, n_full + 1))
        exponents: list[float] = [float(k) for k in ends]
        if horizon - n_full > 1e-12:
            exponents.append(float(horizon))
        x = np.asarray(frequency, dtype=np.float64)
        spend = self.expected_spend(x, monetary)
        total = np.zeros(np.broadcast_shapes(x.shape, np.shape(recency), np.shape(T)))
        previous = np.zeros_like(total)
        for k in exponents:
            cumulative = bgnbd.expected_purchases(k * length, x, recency, T)
            total += (cumulative - previous) / (1.0 + discount_rate) ** k
            previous = cumulative
        return np.asarray(spend * total)

    def summary(self) -> dict[str, Any]:
        """The fit as a JSON-ready dict.

        Examples
        --------
        >>> gg = GammaGammaModel(penalizer=0.1).fit([1, 2, 5, 3], [20.0, 35.0, 18.0, 60.0])
        >>> gg.summary()["n_customers"]
        4
        """
        self._check_fitted()
        return {
            **self.params_,
            "log_likelihood": self.log_likelihood_,
            "standard_errors": dict(self.standard_errors_),
            "penalizer": float(self.penalizer),
            "fit": getattr(self, "fit_", None),
            "converged": self.converged_,
            "n_customers": self.n_customers_,
            "n_excluded_no_repeat": self.n_excluded_,
            "n_left_out_nonpositive_spend": getattr(self, "n_nonpositive_", 0),
            "frequency_monetary_corr": self.frequency_monetary_corr_,
            "warnings": list(self.warnings_),
        }


def fit_spend(
    frequency: ArrayLike,
    monetary: ArrayLike,
    *,
    penalizer: float | None = None,
    n_starts: int = 3,
) -> GammaGammaModel:
    """The toolkit's Gamma-Gamma fit, the one every command makes (clv, features, the value
    model of train, either engine).

    Repeat customers whose mean repeat spend is 0 or less (free repeat orders, or returns that
    net them out) are left out of the fit and counted in ``n_nonpositive_``; scored, they get
    the population mean (:meth:`GammaGammaModel.expected_spend`). ``penalizer`` None is the
    standard policy, as :func:`toolkit.btyd.fit_standard`'s for BG/NBD: plain maximum
    likelihood where it is interior and well determined, else the first of
    :data:`~toolkit.btyd.STANDARD_PENALTIES` that is (``fit_`` says which, and why); a number
    forces that penalty.

    Examples
    --------
    >>> gg = fit_spend([1, 2, 5, 3, 2, 0], [20.0, 35.0, 18.0, 60.0, 0.0, 0.0], penalizer=0.1)
    >>> gg.n_customers_, gg.n_nonpositive_, gg.n_excluded_
    (4, 1, 1)
    >>> gg.fit_
    'penalised (0.1)'
    """

    def fit_at(pen: float) -> GammaGammaModel:
        model = GammaGammaModel(penalizer=pen, n_starts=n_starts)
        return model._fit_quietly(frequency, monetary, nonpositive="leave out")

    if penalizer is not None:
        model = fit_at(penalizer)
        model._warn(stacklevel=3)
        return model
    return penalised_if_needed(fit_at, _spend_problem)


def _spend_problem(model: GammaGammaModel) -> str | None:
    boundary = [w for w in model.warnings_ if "boundary" in w]
    return fit_problem(model.params_, model.standard_errors_, boundary, model.converged_)


def _numeric_hessian(
    theta: FloatArray,
    x: FloatArray,
    m: FloatArray,
    w: FloatArray,
    scale: float,
    penalizer: float,
) -> FloatArray:
    return numeric_hessian(lambda t: _objective(t, x, m, w, scale, penalizer)[1], theta)
