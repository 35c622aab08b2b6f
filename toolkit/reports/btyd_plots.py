"""Plots for the BG/NBD model: P(alive) matrix and calibration-vs-holdout purchases.

Each plot is computed once into a small table (:func:`p_alive_matrix`,
:func:`calibration_holdout_table`) and rendered from it (:func:`plot_p_alive_matrix`,
:func:`plot_calibration_holdout`), so a report can show, save or export the same numbers.
Rendering uses matplotlib's object API with the Agg canvas: no pyplot, no global backend change.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from toolkit.io import write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from toolkit.btyd import BetaGeoModel


def p_alive_matrix(
    model: BetaGeoModel,
    T: float,
    max_frequency: int,
    n_recency: int = 60,
) -> pd.DataFrame:
    """P(alive) of a customer of age ``T`` for every frequency and a grid of recencies.

    Parameters
    ----------
    model : BetaGeoModel
        A fitted model.
    T : float
        Age of the customers (end of the observation period), in the model's time unit.
    max_frequency : int
        Highest frequency (row) of the matrix.
    n_recency : int, default 60
        Number of recency columns, evenly spaced over ``[0, T]``.

    Returns
    -------
    DataFrame
        Index ``frequency`` (0..max_frequency), columns the recency grid; NaN where the cell
        cannot occur (frequency 0 with recency > 0).

    Examples
    --------
    >>> from toolkit.btyd import BetaGeoModel
    >>> m = BetaGeoModel(penalizer=0.1).fit([0, 1, 3, 2], [0, 4.0, 9.0, 7.0], [10, 10, 12, 12])
    >>> p_alive_matrix(m, T=12, max_frequency=3, n_recency=4).shape
    (4, 4)
    """
    freq = np.arange(int(max_frequency) + 1, dtype=np.float64)
    rec = np.linspace(0.0, float(T), int(n_recency))
    x, tx = np.meshgrid(freq, rec, indexing="ij")
    values = model.p_alive(x, tx, np.full_like(x, float(T)))
    values[(x == 0) & (tx > 0)] = np.nan
    out = pd.DataFrame(values, index=pd.Index(freq.astype(int), name="frequency"), columns=rec)
    out.columns.name = "recency"
    out.attrs["T"] = float(T)
    return out


def calibration_holdout_table(
    frequency: ArrayLike,
    actual: ArrayLike,
    expected: ArrayLike,
    max_frequency: int = 7,
) -> pd.DataFrame:
    """Mean holdout purchases, actual and predicted, by calibration-period frequency.

    Frequencies above ``max_frequency`` are pooled into its group (labelled ``"7+"`` etc.).

    Examples
    --------
    >>> t = calibration_holdout_table([0, 0, 1, 9], [0, 1, 2, 5], [0.2, 0.2, 1.5, 4.0], 2)
    >>> t["actual"].tolist(), t.index.tolist()
    ([0.5, 2.0, 5.0], ['0', '1', '2+'])
    """
    x = np.minimum(np.asarray(frequency, dtype=np.float64), max_frequency).astype(int)
    df = pd.DataFrame(
        {
            "group": x,
            "actual": np.asarray(actual, dtype=np.float64),
            "expected": np.asarray(expected, dtype=np.float64),
        }
    )
    out = df.groupby("group").agg(
        actual=("actual", "mean"), expected=("expected", "mean"), customers=("actual", "size")
    )
    labels = [f"{g}+" if g == max_frequency else str(g) for g in out.index]
    out.index = pd.Index(labels, name="frequency")
    return out


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike[str] | None) -> None:
    if path is None:
        return

    with write_atomic(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


def plot_p_alive_matrix(
    matrix: pd.DataFrame, path: str | os.PathLike[str] | None = None, ax: Any = None
) -> Figure:
    """Heat map of a :func:`p_alive_matrix` table (recency across, frequency up).

    Saved as PNG to ``path`` (atomically) when given; drawn on ``ax`` when given.

    Examples
    --------
    >>> from toolkit.btyd import BetaGeoModel
    >>> m = BetaGeoModel(penalizer=0.1).fit([0, 1, 3, 2], [0, 4.0, 9.0, 7.0], [10, 10, 12, 12])
    >>> fig = plot_p_alive_matrix(p_alive_matrix(m, 12, 3))
    """
    fig = ax.figure if ax is not None else _new_figure(6.5, 5.0)
    ax = ax if ax is not None else fig.add_subplot()
    rec = matrix.columns.to_numpy(dtype=np.float64)
    freq = matrix.index.to_numpy(dtype=np.float64)
    image = ax.imshow(
        matrix.to_numpy(dtype=np.float64),
        origin="lower",
        aspect="auto",
        cmap="viridis",
        vmin=0.0,
        vmax=1.0,
        extent=(rec[0], rec[-1], freq[0] - 0.5, freq[-1] + 0.5),
        interpolation="nearest",
    )
    fig.colorbar(image, ax=ax, label="P(alive)")
    ax.set_xlabel("recency (age at last purchase)")
    ax.set_ylabel("frequency (repeat purchases)")
    T = matrix.attrs.get("T")
    ax.set_title("P(alive) by frequency and recency" + (f", T = {T:g}" if T is not None else ""))
    _save(fig, path)
    return fig


def plot_calibration_holdout(
    table: pd.DataFrame, path: str | os.PathLike[str] | None = None, ax: Any = None
) -> Figure:
    """Actual vs expected holdout purchases by calibration frequency (a
    :func:`calibration_holdout_table`), saved as PNG to ``path`` when given.

    Examples
    --------
    >>> t = calibration_holdout_table([0, 0, 1, 9], [0, 1, 2, 5], [0.2, 0.2, 1.5, 4.0], 2)
    >>> fig = plot_calibration_holdout(t)
    """
    fig = ax.figure if ax is not None else _new_figure(6.5, 4.5)
    ax = ax if ax is not None else fig.add_subplot()
    pos = np.arange(len(table))
    ax.plot(pos, table["actual"].to_numpy(), marker="o", label="actual")
    ax.plot(pos, table["expected"].to_numpy(), marker="s", linestyle="--", label="BG/NBD expected")
    ax.set_xticks(pos, [str(i) for i in table.index])
    ax.set_xlabel("purchases in the calibration period (frequency)")
    ax.set_ylabel("mean purchases in the holdout period")
    ax.set_title("Calibration vs holdout purchases")
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, path)
    return fig
