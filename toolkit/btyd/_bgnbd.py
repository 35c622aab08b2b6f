"""BG/NBD repeat-purchase model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

Each customer buys at a Poisson rate ``lambda ~ Gamma(r, alpha)`` while alive, and after every
purchase drops out with probability ``p ~ Beta(a, b)``. From a customer's repeat purchases ``x``
(frequency), the age at the last purchase ``t_x`` (recency) and the age at the end of the
observation period ``T``, the likelihood is (FHL 2005, eq. 6)::

    L = B(a, b+x)/B(a, b) * G(r+x)/G(r) * alpha^r / (alpha+T)^(r+x)
      + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x)/G(r) * alpha^r / (alpha+t_x)^(r+x)

and is evaluated here on the log scale as ``A1 + A2 + logaddexp(A3, A4)`` with::

    A1 = lgamma(r+x) - lgamma(r) + r log(alpha)
    A2 = lgamma(a+b) + lgamma(b+x) - lgamma(b) - lgamma(a+b+x)
    A3 = -(r+x) log(alpha+T)
    A4 = log(a) - log(b+x-1) - (r+x) log(alpha+t_x)          (-inf when x = 0)

which never overflows (no power or gamma function is formed outside the log domain).

The fit maximises the weighted log-likelihood over ``theta = (ln r, ln(alpha/s), ln a, ln b)``
(``s`` = weighted mean of ``T``, a fixed scale that makes the problem the same in days or weeks)
with L-BFGS-B and the analytic gradient, from several starting points, on the distinct
``(frequency, recency, T)`` rows weighted by their counts.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from toolkit.errors import InputError, NotFittedError

FloatArray = NDArray[np.float64]

PARAM_NAMES = ("r", "alpha", "a", "b")

# the optimiser works on theta = log(params / scale) inside these bounds; a solution that ends
# near one of them is a limit of the model (no dropout, homogeneous rates), reported as such
# r, a and b (dimensionless) are searched in [1e-4, 1e4]; alpha / mean(T) in [e^-18, e^18].
# Beyond these the model is at one of its limits (no dropout, one purchase rate for all), the
# likelihood is flat to many digits, and the closed forms of the predictions lose accuracy.
_LO = np.array([np.log(1e-4), -18.0, np.log(1e-4), np.log(1e-4)])
_HI = np.array([np.log(1e4), 18.0, np.log(1e4), np.log(1e4)])
_NEAR_BOUND = 0.05
# below this |a - 1| the closed form of E[Y(t)] loses digits; interpolate between a = 1 -+ _A_EPS
_A_EPS = 1e-4
# a mean dropout probability a / (a + b) below this is "no dropout"
_SMALL = 1e-4
# predictions on more rows than this are computed once per distinct row when that saves work
_COMPRESS_MIN_ROWS = 20_000


class ParamsMixin:
    """scikit-learn's ``get_params`` / ``set_params`` protocol without importing scikit-learn.

    Enough for ``sklearn.base.clone``, pipelines and grid searches; keeps ``import`` of the
    BTYD models light (scikit-learn takes about a second to import).
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        import inspect

        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters, as scikit-learn estimators report them."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Any:
        """Set constructor parameters (scikit-learn protocol); returns self."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise InputError(
                    f"invalid parameter {name!r} for {type(self).__name__}; valid: {valid}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: p.default
            for name, p in __import__("inspect").signature(type(self).__init__).parameters.items()
        }
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if defaults.get(k) != v]
        return f"{type(self).__name__}({', '.join(changed)})"


class BoundaryWarning(UserWarning):
    """A fitted parameter went to a limit of the model (e.g. ``a -> 0``: nobody drops out).

    The fit still returns; the parameters describe the limiting model and the predictions are
    usable, but the standard errors of the parameters at the limit are not meaningful.
    """


class FitConvergenceWarning(UserWarning):
    """The optimiser stopped before meeting its tolerance; the best point found is returned."""


# --- input handling ---------------------------------------------------------------------------


def _as_float(values: ArrayLike, name: str) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(
            f"{name} must be numeric, got values of type {np.asarray(values).dtype}"
        ) from None
    return arr


def _count(mask: NDArray[np.bool_]) -> int:
    return int(np.count_nonzero(mask))


def _rows(mask: NDArray[np.bool_], limit: int = 5) -> str:
    idx = np.flatnonzero(mask)[:limit]
    more = ", ..." if _count(mask) > limit else ""
    return "0-based rows " + ", ".join(str(i) for i in idx) + more


def validate_rfm(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Check a frequency/recency/T summary and return it as float arrays (plus weights).

    Every problem is reported at once in one :class:`~toolkit.errors.InputError`, with the number
    of offending rows and the first few row positions.

    Parameters
    ----------
    frequency, recency, T : array-like of shape (n,)
        Repeat purchases (integer-valued, >= 0), age at the last purchase (0 when frequency is 0)
        and age at the end of the observation period (``recency <= T``).
    weights : array-like of shape (n,), optional
        Non-negative weights (e.g. counts of identical customers); default 1.

    Returns
    -------
    frequency, recency, T, weights : ndarray of float64

    Examples
    --------
    >>> x, tx, T, w = validate_rfm([0, 2], [0, 5.0], [10, 10])
    >>> w.tolist()
    [1.0, 1.0]
    """
    x = _as_float(frequency, "frequency").ravel()
    tx = _as_float(recency, "recency").ravel()
    T_ = _as_float(T, "T").ravel()
    w = np.ones_like(x) if weights is None else _as_float(weights, "weights").ravel()
    lengths = {"frequency": x.size, "recency": tx.size, "T": T_.size, "weights": w.size}
    if len(set(lengths.values())) != 1:
        raise InputError(
            f"frequency, recency, T (and weights) must have the same length, got {lengths}"
        )
    if x.size == 0:
        raise InputError("frequency, recency and T are empty: there is no customer to fit")

    problems: list[str] = []
    finite = np.isfinite(x) & np.isfinite(tx) & np.isfinite(T_) & np.isfinite(w)
    if not finite.all():
        bad = ~finite
        problems.append(f"{_count(bad)} rows have a missing or infinite value ({_rows(bad)})")
    with np.errstate(invalid="ignore"):
        checks = [
            (x < 0, "frequency must be >= 0"),
            (
                np.abs(x - np.round(x)) > 1e-9,
                "frequency must be a whole number of repeat purchases",
            ),
            (tx < 0, "recency must be >= 0"),
            (T_ < 0, "T must be >= 0"),
            (tx > T_ * (1 + 1e-12) + 1e-12, "recency must be <= T"),
            ((x == 0) & (tx != 0), "recency must be 0 when frequency is 0"),
            (w < 0, "weights must be >= 0"),
        ]
    for mask, rule in checks:
        mask = mask & finite
        if mask.any():
            problems.append(f"{rule}: {_count(mask)} rows break it ({_rows(mask)})")
    if not problems and not (w > 0).any():
        problems.append("weights are all 0: there is no customer to fit")
    if problems:
        raise InputError("invalid frequency/recency/T summary: " + "; ".join(problems))
    return np.round(x), tx, T_, w


def compress_rows(
    *columns: FloatArray, weights: FloatArray | None = None
) -> tuple[list[FloatArray], FloatArray, NDArray[np.intp]]:
    """Distinct rows of some equal-length columns, with their summed weights and the inverse map.

    Hash-based (one ``pandas.factorize`` per column, then one on the combined code), so it runs in
    linear time: ``numpy.unique(axis=0)`` sorts a structured view and takes seconds on 10^6 rows.

    Returns
    -------
    unique_columns : list of ndarray
        One array per input column, one entry per distinct row.
    counts : ndarray
        Sum of ``weights`` (or the number of rows) per distinct row.
    inverse : ndarray of intp
        ``unique_columns[j][inverse] == columns[j]``.

    Examples
    --------
    >>> (u, v), counts, inv = compress_rows(np.array([1., 1, 2]), np.array([0., 0, 3]))
    >>> u.tolist(), v.tolist(), counts.tolist(), inv.tolist()
    ([1.0, 2.0], [0.0, 3.0], [2.0, 1.0], [0, 0, 1])
    """
    key = np.zeros(columns[0].shape[0], dtype=np.int64)
    for col in columns:
        codes, uniques = pd.factorize(col)
        key = key * np.int64(len(uniques)) + codes
        # keep the combined code small enough to never overflow int64
        key, _ = pd.factorize(key)
        key = key.astype(np.int64, copy=False)
    inverse = key.astype(np.intp, copy=False)
    n_unique = int(inverse.max()) + 1 if inverse.size else 0
    counts = np.bincount(inverse, weights=weights, minlength=n_unique).astype(np.float64)
    unique_columns = []
    for col in columns:
        u = np.empty(n_unique, dtype=np.float64)
        u[inverse] = col
        unique_columns.append(u)
    return unique_columns, counts, inverse


# --- the likelihood and its gradient ----------------------------------------------------------


@dataclass
class _Data:
    """Compressed data with the pieces of the likelihood that do not depend on the parameters."""

    x: FloatArray
    tx: FloatArray
    T: FloatArray
    w: FloatArray
    pos: NDArray[np.bool_]
    scale: float
    xu: FloatArray  # distinct frequencies: the gamma functions are evaluated once per value
    xi: NDArray[np.intp]  # x == xu[xi]

    @classmethod
    def make(cls, x: FloatArray, tx: FloatArray, T: FloatArray, w: FloatArray) -> _Data:
        xu, xi = np.unique(x, return_inverse=True)
        scale = float(w @ T / w.sum())
        return cls(x=x, tx=tx, T=T, w=w, pos=x > 0, scale=scale, xu=xu, xi=xi.ravel())


def _loglik(
    params: FloatArray, d: _Data, grad: bool = False
) -> tuple[FloatArray, FloatArray | None]:
    """Per-row log-likelihood and (optionally) its gradient w.r.t. ``(r, alpha, a, b)``."""
    from scipy.special import digamma, expit, gammaln

    r, alpha, a, b = params
    x, tx, T, pos, xu, xi = d.x, d.tx, d.T, d.pos, d.xu, d.xi
    log_aT = np.log(alpha + T)
    log_atx = np.log(alpha + tx)
    rx = r + x
    xm1 = np.where(pos, x - 1.0, 0.0)  # b + x - 1 only enters where x > 0
    log_bx1 = np.log(b + np.maximum(xu - 1.0, 0.0))[xi]

    a1 = (gammaln(r + xu) - gammaln(r))[xi] + r * np.log(alpha)
    a2 = (gammaln(a + b) + gammaln(b + xu) - gammaln(b) - gammaln(a + b + xu))[xi]
    a3 = -rx * log_aT
    a4 = np.where(pos, np.log(a) - log_bx1 - rx * log_atx, -np.inf)
    ll = a1 + a2 + np.logaddexp(a3, a4)
    if not grad:
        return ll, None

    # share of each of the two terms of the likelihood (s3 + s4 = 1; s4 = 0 when x = 0)
    s4 = expit(a4 - a3)
    s3 = 1.0 - s4
    psi_ab = digamma(a + b)
    psi_abx = digamma(a + b + xu)
    g = np.empty((4, x.size))
    g[0] = (digamma(r + xu) - digamma(r))[xi] + np.log(alpha) - s3 * log_aT - s4 * log_atx
    g[1] = r / alpha - rx * (s3 / (alpha + T) + s4 / (alpha + tx))
    g[2] = (psi_ab - psi_abx)[xi] + s4 / a
    g[3] = (psi_ab + digamma(b + xu) - digamma(b) - psi_abx)[xi] - s4 / (b + xm1)
    return ll, g


def _theta_to_params(theta: FloatArray, scale: float) -> FloatArray:
    p = np.exp(theta)
    p[1] *= scale
    return p


def _objective(theta: FloatArray, d: _Data, penalizer: float) -> tuple[float, FloatArray]:
    """Penalised mean negative log-likelihood and its gradient w.r.t. theta."""
    params = _theta_to_params(theta, d.scale)
    ll, g = _loglik(params, d, grad=True)
    assert g is not None
    total_w = d.w.sum()
    f = -float(d.w @ ll) / total_w + penalizer * float(theta @ theta)
    # d/d theta_k = param_k * d/d param_k (alpha = scale * exp(theta_1))
    grad = -(g @ d.w) * params / total_w + 2.0 * penalizer * theta
    if not np.isfinite(f):
        return np.inf, np.zeros_like(theta)
    return f, grad


def numeric_hessian(
    gradient: Callable[[FloatArray], FloatArray], theta: FloatArray, h: float = 1e-5
) -> FloatArray:
    """The Hessian at ``theta`` by central differences of an analytic ``gradient``, symmetrised
    (BG/NBD's and Gamma-Gamma's standard errors and Newton steps).

    Examples
    --------
    >>> numeric_hessian(lambda t: np.array([2 * t[0] + t[1], t[0]]), np.zeros(2)).tolist()
    [[2.0, 1.0], [1.0, 0.0]]
    """
    k = theta.size
    hess = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h
        hess[:, i] = (gradient(theta + e) - gradient(theta - e)) / (2 * h)
    return 0.5 * (hess + hess.T)


def _numeric_hessian(theta: FloatArray, d: _Data, penalizer: float) -> FloatArray:
    """Hessian of the penalised mean objective."""
    return numeric_hessian(lambda t: _objective(t, d, penalizer)[1], theta)


# --- predictions --------------------------------------------------------------------------------


def _p_alive(params: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
    from scipy.special import expit

    r, alpha, a, b = params
    pos = x > 0
    # log-odds of "dropped out after the last purchase" against "alive"
    log_odds = np.log(a / (b + np.maximum(x - 1.0, 0.0)))
    log_odds += (r + x) * np.log1p((T - tx) / (alpha + tx))
    return np.where(pos, expit(-log_odds), 1.0)


def _expected_alive_closed(
    params: FloatArray, t: FloatArray, x: FloatArray, T: FloatArray
) -> FloatArray:
    """E[purchases in (T, T+t] | alive at T], FHL 2005 eq. 10 without the P(alive) factor.

    Euler's transformation turns ``(1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z)`` into
    ``(1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)``: small numerator parameters and a large
    denominator one, the region where the series converges fast and ``hyp2f1`` is accurate for
    any frequency (the untransformed parameters grow with x).
    """
    from scipy.special import hyp2f1

    r, alpha, a, b = params
    c = a + b + x - 1.0
    am1 = a - 1.0
    # z = t / (alpha + T + t); log(1 - z) without cancellation for small or large t
    log1mz = -np.log1p(t / (alpha + T))
    z = -np.expm1(log1mz)
    with np.errstate(all="ignore"):
        y = am1 * log1mz
        out = hyp2f1(a + b - 1.0 - r, am1, c, z)
        out -= 1.0
        out *= -np.exp(y)
        out -= np.expm1(y)
        out *= c / am1
    return out


def _expected_alive_quadrature(
    params: FloatArray, t: FloatArray, x: FloatArray, T: FloatArray
) -> FloatArray:
    """The same expectation by adaptive quadrature over ``p ~ Beta(a, b+x)``, row by row.

    Given alive, ``lambda ~ Gamma(r+x, alpha+T)`` and ``p ~ Beta(a, b+x)`` independently, and
    ``E[Y(t) | lambda, p] = (1 - exp(-lambda p t)) / p``, so
    ``E = E_p[(1 - (1 + p t/(alpha+T))^-(r+x)) / p]``, a bounded integrand on [0, 1]. Slow (about
    a millisecond a row); used only where the closed form is not finite or breaks its bounds
    (e.g. ``a + b = 1`` exactly for customers without repeat purchases).
    """
    from scipy import integrate
    from scipy.special import betaln

    r, alpha, a, b = params
    out = np.empty(x.shape, dtype=np.float64)
    for i, (ti, xi, Ti) in enumerate(zip(t, x, T, strict=True)):
        rate = ti / (alpha + Ti)
        log_norm = betaln(a, b + xi)

        def integrand(p: float, rate: float = rate, xi: float = xi, lb: float = log_norm) -> float:
            g = -np.expm1(-(r + xi) * np.log1p(p * rate)) / p
            return float(g * np.exp((a - 1.0) * np.log(p) + (b + xi - 1.0) * np.log1p(-p) - lb))

        # integrate where the Beta(a, b+x) mass is (40 sd around the mean; from 0 or to 1 when
        # the density piles up at an end), with break points where the integrand bends
        n_b = b + xi
        mean = a / (a + n_b)
        sd = np.sqrt(a * n_b / ((a + n_b) ** 2 * (a + n_b + 1)))
        lo = 0.0 if a < 2 else max(0.0, mean - 40 * sd)
        hi = 1.0 if n_b < 2 else min(1.0, mean + 40 * sd)
        candidates = [mean + k * sd for k in (-3, -1, 0, 1, 3)] + [1 / (rate * (r + xi) + 1e-300)]
        pts = sorted({v for v in candidates if lo < v < hi})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # IntegrationWarning on hard rows: the best estimate
            out[i] = integrate.quad(integrand, lo, hi, points=pts or None, limit=500, epsrel=1e-10)[
                0
            ]
    return out


def _expected_alive(params: FloatArray, t: FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
    r, alpha, a, b = params
    if abs(a - 1.0) < _A_EPS:
        # the closed form is 0/0 at a = 1; it is smooth in a, so interpolate linearly
        lo = _expected_alive_closed(np.array([r, alpha, 1.0 - _A_EPS, b]), t, x, T)
        hi = _expected_alive_closed(np.array([r, alpha, 1.0 + _A_EPS, b]), t, x, T)
        out = lo + (a - (1.0 - _A_EPS)) / (2 * _A_EPS) * (hi - lo)
    else:
        out = _expected_alive_closed(params, t, x, T)
    # 0 <= E[(1 - exp(-lambda p t))/p] <= E[lambda t] = (r+x) t / (alpha+T)
    upper = (r + x) * t / (alpha + T)
    bad = ~np.isfinite(out) | (out < -1e-9 * upper) | (out > upper * (1 + 1e-9))
    if bad.any():
        out[bad] = _expected_alive_quadrature(params, t[bad], x[bad], T[bad])
    return np.clip(out, 0.0, upper)


def _broadcast(*arrays: ArrayLike) -> list[FloatArray]:
    arrs = np.broadcast_arrays(*[np.asarray(v, dtype=np.float64) for v in arrays])
    return [np.ascontiguousarray(a).ravel() for a in arrs]


# --- the estimator ------------------------------------------------------------------------------


class BetaGeoModel(ParamsMixin):
    """BG/NBD model of repeat purchases, fitted by maximum likelihood.

    Parameters
    ----------
    penalizer : float, default 0.0
        Strength of an L2 penalty on the log-parameters. The minimised objective is the mean
        negative log-likelihood per customer plus
        ``penalizer * (ln(r)^2 + ln(alpha/s)^2 + ln(a)^2 + ln(b)^2)``, where ``s`` is the
        (weighted) mean of ``T``; it shrinks every parameter towards 1 (alpha towards ``s``) and
        gives the same fit in days or weeks. Reported log-likelihoods are unpenalised.
    n_starts : int, default 4
        Number of optimiser starts: a moment-based start plus ``n_starts - 1`` random
        perturbations of it (seeded by ``random_state``). The best optimum is kept.
    random_state : int, default 0
        Seed of the random starts.
    tol : float, default 1e-10
        Tolerance on the projected gradient of the mean objective (L-BFGS-B ``pgtol``).

    Attributes
    ----------
    params_ : dict
        ``{"r", "alpha", "a", "b"}``.
    log_likelihood_ : float
        Unpenalised log-likelihood of the data at ``params_`` (sum over customers).
    standard_errors_ : dict
        Standard errors of r, alpha, a, b on their natural scale: the inverse Hessian of the
        (penalised) total negative log-likelihood on the log scale, mapped back by the delta
        method (``se(p) = p * se(ln p)``). NaN where the Hessian is singular (at a boundary).
    log_covariance_ : ndarray of shape (4, 4)
        Covariance of ``(ln r, ln alpha, ln a, ln b)``.
    converged_ : bool
        Whether the optimiser met its tolerance.
    boundary_warnings_ : list of str
        One message per parameter that went to a limit of the model (empty for an interior fit).
    n_customers_ : float
        Number (total weight) of customers fitted.
    n_unique_rows_ : int
        Number of distinct ``(frequency, recency, T)`` rows the likelihood was evaluated on.
    fit_ : str
        How the parameters were obtained: ``"maximum likelihood"`` (penalizer 0) or
        ``"penalised (X)"``; :func:`fit_standard` adds why it needed the penalty.

    Examples
    --------
    >>> m = BetaGeoModel(penalizer=0.1)
    >>> m = m.fit([0, 1, 3, 0, 2], [0, 4.0, 9.0, 0, 7.0], [10, 10, 12, 8, 12])
    >>> sorted(m.params_)
    ['a', 'alpha', 'b', 'r']
    >>> bool(m.p_alive([0], [0], [10])[0] == 1.0)
    True
    """

    def __init__(
        self,
        penalizer: float = 0.0,
        n_starts: int = 4,
        random_state: int = 0,
        tol: float = 1e-10,
    ) -> None:
        self.penalizer = penalizer
        self.n_starts = n_starts
        self.random_state = random_state
        self.tol = tol

    # -- fitting

    def _check_hyper(self) -> None:
        if not (np.isfinite(self.penalizer) and self.penalizer >= 0):
            raise InputError(f"penalizer must be a number >= 0, got {self.penalizer!r}")
        if int(self.n_starts) != self.n_starts or self.n_starts < 1:
            raise InputError(f"n_starts must be an integer >= 1, got {self.n_starts!r}")
        if not (self.tol > 0):
            raise InputError(f"tol must be > 0, got {self.tol!r}")

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> BetaGeoModel:
        """Fit r, alpha, a, b by maximum likelihood.

        Parameters
        ----------
        frequency : array-like of shape (n,)
            Number of repeat purchases (purchase days after the first one), whole numbers >= 0.
        recency : array-like of shape (n,)
            Age of the customer at the last purchase (0 when ``frequency`` is 0).
        T : array-like of shape (n,)
            Age of the customer at the end of the observation period, ``>= recency``.
        weights : array-like of shape (n,), optional
            Number of customers each row stands for (default 1 each).

        Returns
        -------
        self

        Warns
        -----
        BoundaryWarning
            When a parameter goes to a limit of the model (no dropout, homogeneous rates).
        FitConvergenceWarning
            When the optimiser stops short of its tolerance (the best point is still returned).

        Examples
        --------
        >>> m = BetaGeoModel(penalizer=0.1).fit([1, 0, 2], [3.0, 0, 8.0], [9, 9, 9])
        >>> m.converged_
        True
        """
        self._fit_quietly(frequency, recency, T, weights)
        self._warn(stacklevel=3)
        return self

    def _fit_quietly(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> BetaGeoModel:
        """``fit`` without its warnings (:func:`penalised_if_needed` warns for the fit it
        keeps only; ``warnings.catch_warnings`` is not thread-safe)."""
        from threadpoolctl import threadpool_limits

        # the optimiser makes many tiny BLAS calls (4 parameters); a multi-threaded BLAS makes
        # each of them 10-30x slower than a single thread does
        with threadpool_limits(1):
            self._fit(frequency, recency, T, weights)
        return self

    def _warn(self, stacklevel: int) -> None:
        for msg in self.boundary_warnings_:
            warnings.warn(msg, BoundaryWarning, stacklevel=stacklevel)
        if not self.converged_:
            warnings.warn(
                "BG/NBD fit: the optimiser stopped before reaching its tolerance "
                f"({self._message}); the best parameters found are returned",
                FitConvergenceWarning,
                stacklevel=stacklevel,
            )

    def _fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None,
    ) -> None:
        from scipy.optimize import minimize

        self._check_hyper()
        x, tx, T_, w = validate_rfm(frequency, recency, T, weights)
        keep = w > 0
        (xu, txu, Tu), counts, _ = compress_rows(x[keep], tx[keep], T_[keep], weights=w[keep])
        d = _Data.make(xu, txu, Tu, counts)
        scale = d.scale
        if not scale > 0:
            raise InputError("T is 0 for every customer: there is no observation period to fit")
        penalizer = float(self.penalizer)

        bounds = list(zip(_LO, _HI, strict=True))

        def run(theta0: FloatArray, ftol: float, gtol: float) -> Any:
            return minimize(
                _objective,
                theta0,
                args=(d, penalizer),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 2000, "ftol": ftol, "gtol": gtol, "maxcor": 20},
            )

        # every start to a moderate tolerance, then the best one to full precision
        best = min((run(t0, 1e-11, 1e-7) for t0 in self._starts(d)), key=lambda res: res.fun)
        refined = run(best.x, 1e-15, self.tol)
        if refined.fun <= best.fun:
            best = refined
        theta = np.asarray(best.x, dtype=np.float64)
        theta, converged = self._polish(theta, d, penalizer, bool(best.success))

        params = _theta_to_params(theta, scale)
        ll, _ = _loglik(params, d)
        self.params_ = dict(zip(PARAM_NAMES, (float(v) for v in params), strict=True))
        self.log_likelihood_ = float(counts @ ll)
        self.n_customers_ = float(counts.sum())
        self.n_unique_rows_ = int(xu.size)
        self.converged_ = bool(converged)
        self._at_limit_, self.boundary_warnings_ = self._detect_limits(theta)
        self._set_standard_errors(theta, d, penalizer)
        if not self.boundary_warnings_ and np.isnan(self.standard_errors_["r"]):
            self.boundary_warnings_.append(
                "BG/NBD fit: the Hessian is singular at the optimum (a flat direction of the "
                "likelihood), so the parameters are not individually identified"
            )
        self._message = str(best.message)
        self.fit_ = "maximum likelihood" if penalizer == 0 else f"penalised ({penalizer:g})"

    def _starts(self, d: _Data) -> list[FloatArray]:
        # moment-based start: r = 1 and alpha from the mean purchase rate; a = 1, b = 3
        rate = float(d.w @ d.x) / max(float(d.w @ d.T), 1e-12)
        alpha0 = 1.0 / max(rate, 1e-6)
        base = np.array([0.0, np.log(alpha0 / d.scale), 0.0, np.log(3.0)])
        base = np.clip(base, _LO + 1, _HI - 1)
        rng = np.random.default_rng(self.random_state)
        starts = [base]
        for _ in range(int(self.n_starts) - 1):
            starts.append(np.clip(base + rng.normal(0.0, 1.0, 4), _LO + 1, _HI - 1))
        return starts

    @staticmethod
    def _polish(
        theta: FloatArray, d: _Data, penalizer: float, converged: bool
    ) -> tuple[FloatArray, bool]:
        """A few safeguarded Newton steps from the L-BFGS-B optimum (interior solutions only).

        L-BFGS-B stops on a flat objective a little short of the optimum; Newton steps with the
        (numerical) Hessian take the parameters to full precision. A step is kept if it lowers
        the objective, or, this close to the optimum, where the change in the objective is
        below its rounding error (about 1e-16 for a step of 1e-8: the unpenalised fit on
        CDNOW-like data), if it does not raise it beyond that error and shrinks the gradient;
        else the same data in another row order would stop at another point of the flat top.
        """
        f, g = _objective(theta, d, penalizer)
        for _ in range(20):
            interior = (theta > _LO + _NEAR_BOUND) & (theta < _HI - _NEAR_BOUND)
            if not interior.all():
                break
            hess = _numeric_hessian(theta, d, penalizer)
            try:
                step = -np.linalg.solve(hess, g)
                if not np.all(np.linalg.eigvalsh(hess) > 0):
                    break
            except np.linalg.LinAlgError:
                break
            improved = False
            noise = 1e-14 * max(1.0, abs(f))
            for shrink in (1.0, 0.5, 0.25, 0.125):
                cand = np.clip(theta + shrink * step, _LO, _HI)
                fc, gc = _objective(cand, d, penalizer)
                if fc <= f or (fc <= f + noise and np.max(np.abs(gc)) < np.max(np.abs(g))):
                    theta, f, g, improved = cand, fc, gc, True
                    break
            if not improved or np.max(np.abs(g)) < 1e-13:
                break
        # converged: the gradient, projected on the box of the log-parameters, is ~0 relative to
        # the objective (a parameter at a bound with the gradient pushing outwards is optimal)
        proj = np.where(
            ((theta <= _LO + 1e-9) & (g > 0)) | ((theta >= _HI - 1e-9) & (g < 0)),
            0.0,
            g,
        )
        if np.max(np.abs(proj)) < 1e-7 * max(1.0, abs(f)):
            converged = True
        return theta, converged

    def _set_standard_errors(self, theta: FloatArray, d: _Data, penalizer: float) -> None:
        """Standard errors from the Hessian; parameters at a limit of the model get NaN.

        The others come from the sub-block of the Hessian without the limit parameters, i.e.
        treating those as fixed at their (limiting) values.
        """
        hess = _numeric_hessian(theta, d, penalizer) * d.w.sum()
        cov = _inverse_if_pd(hess)
        free = ~self._at_limit_
        if cov is None and self._at_limit_.any() and free.any():
            sub = _inverse_if_pd(hess[np.ix_(free, free)])
            if sub is not None:
                cov = np.full((4, 4), np.nan)
                cov[np.ix_(free, free)] = sub
        if cov is None:
            cov = np.full((4, 4), np.nan)
        self.log_covariance_ = cov
        se_log = np.sqrt(np.diag(cov))
        params = np.array([self.params_[k] for k in PARAM_NAMES])
        self.standard_errors_ = {
            k: float(v) for k, v in zip(PARAM_NAMES, params * se_log, strict=True)
        }

    def _detect_limits(self, theta: FloatArray) -> tuple[NDArray[np.bool_], list[str]]:
        """Which parameters went to a limit of the model, and one message per limit.

        r, a and b are dimensionless, so fixed thresholds serve any time unit; a solution near
        the optimiser's bounds (any parameter) is reported too.
        """
        p = self.params_
        r, a, b = p["r"], p["a"], p["b"]
        lo = theta <= _LO + _NEAR_BOUND
        hi = theta >= _HI - _NEAR_BOUND
        flags = np.zeros(4, dtype=bool)
        msgs = []
        if lo[2] and lo[3]:
            flags[2:] = True
            msgs.append(
                f"BG/NBD fit at a boundary (a, b -> 0; a = {a:.3g}, b = {b:.3g}): each customer "
                f"either drops out right after the first purchase (share {a / (a + b):.3g}) or "
                "never does"
            )
        elif lo[2] or hi[3] or a / (a + b) <= _SMALL:
            flags[2:] = True
            msgs.append(
                f"BG/NBD fit at a boundary (a -> 0 or b -> infinity; a = {a:.3g}, b = {b:.3g}, "
                f"mean dropout probability {a / (a + b):.2g}): the data show no dropout, so "
                "P(alive) is ~1 for everyone and the predictions are those of the no-dropout "
                "(NBD) model"
            )
        elif hi[2] and hi[3]:
            flags[2:] = True
            msgs.append(
                f"BG/NBD fit at a boundary (a, b -> infinity; a = {a:.3g}, b = {b:.3g}): every "
                f"customer has the same dropout probability {a / (a + b):.3g}"
            )
        elif lo[3] or hi[2]:
            flags[2:] = True
            msgs.append(
                f"BG/NBD fit at a boundary (a = {a:.3g}, b = {b:.3g} at the limit of the "
                "search): the dropout probabilities are degenerate"
            )
        if theta[0] >= _HI[0] - _NEAR_BOUND:
            flags[:2] = True
            msgs.append(
                f"BG/NBD fit at a boundary (r, alpha -> infinity; r = {r:.3g}, alpha = "
                f"{p['alpha']:.3g}): purchase rates look the same for every customer (Poisson "
                f"with rate {r / p['alpha']:.3g} per time unit)"
            )
        elif lo[0] or lo[1] or hi[1]:
            flags[:2] = True
            msgs.append(
                f"BG/NBD fit at a boundary (r or alpha at the limit of the search; r = {r:.3g}, "
                f"alpha = {p['alpha']:.3g}): the spread of purchase rates is degenerate; check "
                "the time unit and for outlying customers"
            )
        return flags, msgs

    # -- predictions
    # -- predictions

    def _check_fitted(self) -> FloatArray:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: "
                "call fit(frequency, recency, T) first"
            )
        return np.array([self.params_[k] for k in PARAM_NAMES], dtype=np.float64)

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Probability that each customer is still alive at the end of the observation period.

        ``1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))`` (FHL 2005, eq. 11), computed
        as a logistic function of the log-odds; exactly 1 for customers without repeat purchases.

        Examples
        --------
        >>> m = BetaGeoModel(penalizer=0.1).fit([1, 0, 2], [3.0, 0, 8.0], [9, 9, 9])
        >>> m.p_alive([0, 2], [0, 8.0], [9, 9]).round(3).tolist()[0]
        1.0
        """
        params = self._check_fitted()
        x, tx, T_ = _broadcast(frequency, recency, T)
        shape = np.broadcast_shapes(np.shape(frequency), np.shape(recency), np.shape(T))
        return _p_alive(params, x, tx, T_).reshape(shape)

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Expected number of purchases in the next ``t`` time units, given each customer's history.

        FHL 2005, eq. 10, evaluated through Euler's transformation of the hypergeometric function
        (accurate for any frequency), with an interpolation at ``a = 1`` and a quadrature fallback
        wherever the closed form is not finite.

        Examples
        --------
        >>> m = BetaGeoModel(penalizer=0.1).fit([1, 0, 2], [3.0, 0, 8.0], [9, 9, 9])
        >>> bool(m.expected_purchases(10, [2], [8.0], [9])[0] > 0)
        True
        """
        params = self._check_fitted()
        t_, x, tx, T_ = _broadcast(t, frequency, recency, T)
        shape = np.broadcast_shapes(
            np.shape(t), np.shape(frequency), np.shape(recency), np.shape(T)
        )

        def compute(t_: FloatArray, x: FloatArray, tx: FloatArray, T_: FloatArray) -> FloatArray:
            return _p_alive(params, x, tx, T_) * _expected_alive(params, t_, x, T_)

        return _maybe_compressed(compute, t_, x, tx, T_).reshape(shape)

    def p_any_purchase(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Probability of at least one purchase in the next ``t`` time units.

        A customer who is alive at T buys before dropping out (dropout happens only right after
        a purchase), and given alive ``lambda ~ Gamma(r+x, alpha+T)``, so
        ``P = P(alive) * (1 - ((alpha+T)/(alpha+T+t))^(r+x))``.

        Examples
        --------
        >>> m = BetaGeoModel(penalizer=0.1).fit([1, 0, 2], [3.0, 0, 8.0], [9, 9, 9])
        >>> p = m.p_any_purchase(5, [0, 2], [0, 8.0], [9, 9])
        >>> bool(((p > 0) & (p < 1)).all())
        True
        """
        params = self._check_fitted()
        r, alpha, _, _ = params
        t_, x, tx, T_ = _broadcast(t, frequency, recency, T)
        shape = np.broadcast_shapes(
            np.shape(t), np.shape(frequency), np.shape(recency), np.shape(T)
        )
        p_buy = -np.expm1(-(r + x) * np.log1p(t_ / (alpha + T_)))
        return (_p_alive(params, x, tx, T_) * p_buy).reshape(shape)

    def expected_purchases_if_alive(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Expected purchases in the next ``t`` time units for a customer who is still alive.

        FHL 2005, eq. 10 without its P(alive) factor: what the customer would bring if retained.
        ``expected_purchases = p_alive * expected_purchases_if_alive``.

        Examples
        --------
        >>> m = BetaGeoModel(penalizer=0.1).fit([1, 0, 2], [3.0, 0, 8.0], [9, 9, 9])
        >>> alive = m.expected_purchases_if_alive(10, [2], [2.0], [9])
        >>> bool(alive[0] >= m.expected_purchases(10, [2], [2.0], [9])[0])
        True
        """
        params = self._check_fitted()
        t_, x, _, T_ = _broadcast(t, frequency, recency, T)
        shape = np.broadcast_shapes(
            np.shape(t), np.shape(frequency), np.shape(recency), np.shape(T)
        )

        def compute(t_: FloatArray, x: FloatArray, T_: FloatArray) -> FloatArray:
            return _expected_alive(params, t_, x, T_)

        return _maybe_compressed(compute, t_, x, T_).reshape(shape)

    def median_wait_if_alive(self, frequency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Median time from the end of the observation period to the next purchase, if alive.

        Given alive, the purchase rate is ``lambda ~ Gamma(r+x, alpha+T)`` and the wait is
        exponential given lambda, so ``P(wait > w) = ((alpha+T)/(alpha+T+w))^(r+x)`` (a Lomax
        law) and the median is ``(alpha+T) (2^(1/(r+x)) - 1)``. A dropout can only follow a
        purchase, so an alive customer's next purchase comes before any dropout.

        Examples
        --------
        >>> m = BetaGeoModel(penalizer=0.1).fit([1, 0, 2], [3.0, 0, 8.0], [9, 9, 9])
        >>> w = m.median_wait_if_alive([0, 10], [9, 9])
        >>> bool(w[0] > w[1] > 0)
        True
        """
        r, alpha, _, _ = self._check_fitted()
        x, T_ = _broadcast(frequency, T)
        shape = np.broadcast_shapes(np.shape(frequency), np.shape(T))
        return ((alpha + T_) * np.expm1(np.log(2.0) / (r + x))).reshape(shape)

    def expected_purchases_new(self, t: ArrayLike) -> FloatArray:
        """Expected purchases of a new customer in their first ``t`` time units (FHL 2005, eq. 9).

        Examples
        --------
        >>> m = BetaGeoModel(penalizer=0.1).fit([1, 0, 2], [3.0, 0, 8.0], [9, 9, 9])
        >>> bool(m.expected_purchases_new([1.0, 5.0])[1] > 0)
        True
        """
        params = self._check_fitted()
        t_ = np.asarray(t, dtype=np.float64)
        flat = t_.ravel()
        zeros = np.zeros_like(flat)
        return _expected_alive(params, flat, zeros, zeros).reshape(t_.shape)

    def summary(self) -> dict[str, Any]:
        """The fit as a JSON-ready dict: parameters, standard errors, log-likelihood, warnings.

        Examples
        --------
        >>> m = BetaGeoModel(penalizer=0.1).fit([1, 0, 2], [3.0, 0, 8.0], [9, 9, 9])
        >>> sorted(m.summary())[:4]
        ['a', 'alpha', 'b', 'converged']
        """
        self._check_fitted()
        return {
            **self.params_,
            "log_likelihood": self.log_likelihood_,
            "standard_errors": dict(self.standard_errors_),
            "standard_error_method": (
                "inverse Hessian of the total negative log-likelihood in log-parameters, "
                "delta method to the natural scale"
            ),
            "penalizer": float(self.penalizer),
            "fit": getattr(self, "fit_", None),
            "converged": self.converged_,
            "n_customers": self.n_customers_,
            "n_unique_rows": self.n_unique_rows_,
            "warnings": list(self.boundary_warnings_)
            + ([] if self.converged_ else ["the optimiser stopped before reaching its tolerance"]),
        }


def _inverse_if_pd(hess: FloatArray) -> FloatArray | None:
    """Inverse of a symmetric matrix if it is (numerically) positive definite, else None."""
    try:
        eig = np.linalg.eigvalsh(hess)
        if not np.all(eig > 1e-10 * max(1.0, float(np.max(np.abs(eig))))):
            return None
        return np.asarray(np.linalg.inv(hess))
    except np.linalg.LinAlgError:
        return None


def _maybe_compressed(func: Any, *cols: FloatArray) -> FloatArray:
    """Evaluate ``func`` once per distinct row when the input is large and repetitive."""
    n = cols[0].size
    if n < _COMPRESS_MIN_ROWS:
        return np.asarray(func(*cols))
    # a strided sample tells cheaply whether hashing every row will pay off
    step = max(n // 10_000, 1)
    _, _, sample_inverse = compress_rows(*(c[::step] for c in cols))
    if sample_inverse.max() + 1 > sample_inverse.size // 2:
        return np.asarray(func(*cols))
    uniq, _, inverse = compress_rows(*cols)
    if uniq[0].size > n // 2:
        return np.asarray(func(*cols))
    return np.asarray(func(*uniq))[inverse]


# --- the toolkit's one BG/NBD fit at a cutoff -----------------------------------------------------

#: the first penalty the standard fit falls back to when the unpenalised fit is not an interior,
#: well-determined maximum (on Online Retail the unpenalised fit sends the dropout to 0)
STANDARD_PENALIZER = 0.001
#: the penalties tried in turn, until one gives an interior, well-determined fit
STANDARD_PENALTIES = (STANDARD_PENALIZER, 0.01, 0.1)
STANDARD_STARTS = 2
#: above this many customers the population parameters are fitted on a seeded sample (their
#: standard errors are already tiny at this size); every customer is still scored
FIT_SAMPLE = 50_000


def fit_problem(
    params: dict[str, float],
    standard_errors: dict[str, float],
    boundary: list[str],
    converged: bool,
) -> str | None:
    """Why a fit is not an interior, well-determined maximum, in words; None when it is.

    Interior: no boundary message. Well determined: converged, and every standard error finite
    and smaller than its estimate.

    Examples
    --------
    >>> fit_problem({"r": 0.24, "b": 2.4}, {"r": 0.01, "b": 0.7}, [], True) is None
    True
    >>> fit_problem({"r": 0.2, "b": 6.75}, {"r": 0.01, "b": 22.4}, [], True)
    'does not pin b down (b = 6.75, standard error 22.4)'
    """
    import re

    if boundary:
        found = re.search(r"at a boundary (\([^)]*\))", boundary[0])
        if found:
            return f"ran to a boundary {found.group(1)}"
        if "singular" in boundary[0]:
            return "has a singular Hessian (a flat direction of the likelihood)"
        return f"ran to a boundary ({boundary[0]})"
    if not converged:
        return "did not converge"
    for name, value in params.items():
        se = standard_errors.get(name, float("nan"))
        if not np.isfinite(se):
            return f"leaves {name} undetermined (no finite standard error)"
        if se >= abs(value):
            return f"does not pin {name} down ({name} = {value:.3g}, standard error {se:.3g})"
    return None


class _Fitted(Protocol):
    fit_: str

    def _warn(self, stacklevel: int) -> None: ...


_Model = TypeVar("_Model", bound=_Fitted)


def penalised_if_needed(
    fit_at: Callable[[float], _Model], problem: Callable[[_Model], str | None]
) -> _Model:
    """The standard fit's policy (BG/NBD and Gamma-Gamma): plain maximum likelihood where it is
    interior and well determined, else the first of :data:`STANDARD_PENALTIES` that is.

    ``fit_at(penalizer)`` fits a model without warning (the models' ``_fit_quietly``),
    ``problem(model)`` says what is wrong with it (see :func:`fit_problem`). The model
    returned has ``fit_`` set to ``"maximum likelihood"`` or ``"penalised (X): the unpenalised
    fit ..."``; when no penalty cures the problem, the smallest penalty's fit is returned and
    ``fit_`` says so. Only the returned fit's warnings are raised (a discarded fit's boundary
    is told in ``fit_``).

    Examples
    --------
    >>> def fit_at(penalizer):
    ...     return BetaGeoModel(penalizer, n_starts=2)._fit_quietly([1, 0, 2, 4], [3.0, 0, 8, 9],
    ...                                                              [9, 9, 9, 10])
    >>> m = penalised_if_needed(fit_at, _bgnbd_problem)
    >>> m.fit_.split(":")[0], m.penalizer
    ('penalised (0.001)', 0.001)
    """
    model = fit_at(0.0)
    why = problem(model)
    if why is None:
        model.fit_ = "maximum likelihood"
        model._warn(stacklevel=4)
        return model
    first: tuple[_Model, float] | None = None
    for penalizer in STANDARD_PENALTIES:
        model = fit_at(penalizer)
        if problem(model) is None:
            model.fit_ = f"penalised ({penalizer:g}): the unpenalised fit {why}"
            model._warn(stacklevel=4)
            return model
        if first is None:
            first = (model, penalizer)
    assert first is not None
    model, penalizer = first
    tried = ", ".join(f"{p:g}" for p in STANDARD_PENALTIES[1:])
    model.fit_ = f"penalised ({penalizer:g}): the unpenalised fit {why}; {tried} did no better"
    model._warn(stacklevel=4)
    return model


def _bgnbd_problem(model: BetaGeoModel) -> str | None:
    return fit_problem(
        model.params_, model.standard_errors_, model.boundary_warnings_, model.converged_
    )


def fit_standard(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    sample: int = FIT_SAMPLE,
    weights: ArrayLike | None = None,
) -> BetaGeoModel:
    """The toolkit's standard BG/NBD fit: the same data always give the same parameters.

    Every command that fits "the BG/NBD model at a cutoff" calls this, so that ``toolkit
    features``, ``toolkit clv`` and ``toolkit train`` report one fit for the same data and
    cutoff. It is the unpenalised maximum likelihood when that is interior (no boundary) and
    well determined (converged, every standard error finite and smaller than its estimate);
    otherwise the same with the first penalty of :data:`STANDARD_PENALTIES` (0.001, 0.01, 0.1)
    that is, or 0.001 when none is. ``fit_`` on the model says which, and why
    (:func:`penalised_if_needed`). Warnings (boundaries, convergence) of the fit returned are
    raised as by :meth:`BetaGeoModel.fit`.

    Parameters
    ----------
    frequency, recency, T : array-like of shape (n,)
        The customers' summaries.
    sample : int, default FIT_SAMPLE
        Above this many rows (without ``weights``), the parameters are fitted on a seeded
        sample of this many.
    weights : array-like of shape (n,), optional
        Number of customers each row stands for (distinct histories with their counts); every
        row is then fitted.

    Returns
    -------
    BetaGeoModel

    Examples
    --------
    >>> a = fit_standard([1, 0, 2, 4], [3.0, 0, 8.0, 9.0], [9, 9, 9, 10])
    >>> b = fit_standard([1, 0, 2, 4], [3.0, 0, 8.0, 9.0], [9, 9, 9, 10])
    >>> a.params_ == b.params_
    True
    >>> a.fit_.split(":")[0]
    'penalised (0.001)'
    """
    x = np.asarray(frequency, dtype=np.float64)
    tx = np.asarray(recency, dtype=np.float64)
    T_ = np.asarray(T, dtype=np.float64)
    if weights is None and x.size > sample:
        rows = np.sort(np.random.default_rng(0).choice(x.size, sample, replace=False))
        x, tx, T_ = x[rows], tx[rows], T_[rows]

    def fit_at(penalizer: float) -> BetaGeoModel:
        model = BetaGeoModel(penalizer=penalizer, n_starts=STANDARD_STARTS)
        return model._fit_quietly(x, tx, T_, weights=weights)

    return penalised_if_needed(fit_at, _bgnbd_problem)


def fit_flags(
    params: dict[str, float],
    standard_errors: dict[str, float] | None,
    warnings_: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """Plain-words flags for a fit: at a boundary, or a parameter whose standard error is
    larger than its value (the data do not pin it down). Empty for a sound fit.

    Examples
    --------
    >>> fit_flags({"r": 0.2, "b": 6.75}, {"r": 0.01, "b": 22.4})
    ['b = 6.75 has a standard error of 22.4, larger than itself: the data do not pin it down']
    """
    flags = [w for w in warnings_ if "boundary" in w or "singular" in w]
    for name, value in params.items():
        se = (standard_errors or {}).get(name)
        if se is None or not np.isfinite(value):
            continue
        if np.isfinite(se) and se > abs(value):
            flags.append(
                f"{name} = {value:.3g} has a standard error of {se:.3g}, larger than itself: "
                "the data do not pin it down"
            )
    return flags
