"""A clustered correlation heatmap, drawn from a :class:`~toolkit.features.CorrelationResult`.

The plot reads the result's matrix; it never recomputes a correlation. Rows and columns are
ordered by average-linkage hierarchical clustering on the distance ``1 - |r|`` so that strongly
related features (positively or negatively) sit next to each other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.io import write_atomic

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: cells are annotated with their r when the matrix has at most this many columns
MAX_ANNOTATED = 20


def cluster_order(matrix: pd.DataFrame) -> list[str]:
    """Column names ordered by hierarchical clustering of the distance ``1 - |r|``.

    Pairs without an r (too few common rows) count as uncorrelated (distance 1). The leaf order
    is optimal (adjacent leaves as similar as possible), so it is deterministic.

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame([[1, .1, .9], [.1, 1, .2], [.9, .2, 1]],
    ...                  index=list("abc"), columns=list("abc"))
    >>> cluster_order(m)
    ['b', 'c', 'a']
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    names = [str(c) for c in matrix.columns]
    if len(names) < 3:
        return names
    r = np.nan_to_num(matrix.to_numpy(dtype=np.float64), nan=0.0)
    dist = np.clip(1.0 - np.abs(r), 0.0, 1.0)
    dist = (dist + dist.T) / 2.0
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(dist, checks=False), method="average", optimal_ordering=True)
    return [names[i] for i in leaves_list(tree)]


def _label(name: str) -> str:
    # a '$' pair would switch matplotlib to mathtext ("Income (k$)" must stay literal)
    return name.replace("$", r"\$")


def heatmap_figure(
    result: Any, *, annotate: bool | None = None, title: str | None = None
) -> Figure:
    """Draw the clustered heatmap of a correlation result as a matplotlib Figure (Agg canvas).

    Parameters
    ----------
    result : CorrelationResult
        Output of :func:`toolkit.features.correlate`.
    annotate : bool, optional
        Write r in each cell; by default when there are at most 20 columns.
    title : str, optional
        Defaults to "<Method> correlation (clustered), n = <rows> rows".

    Examples
    --------
    >>> import pandas as pd
    >>> from toolkit.features._correlate import correlate
    >>> res = correlate(pd.DataFrame({"x": [1, 2, 3, 4], "y": [1, 3, 2, 4], "z": [4, 2, 3, 1]}))
    >>> fig = heatmap_figure(res)
    >>> len(fig.axes)  # the heatmap and its colorbar
    2
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    order = cluster_order(result.matrix)
    r = result.matrix.loc[order, order].to_numpy(dtype=np.float64)
    k = len(order)
    annotate = k <= MAX_ANNOTATED if annotate is None else annotate

    cell = 0.55 if k <= MAX_ANNOTATED else max(0.18, 0.55 * MAX_ANNOTATED / k)
    side = min(max(4.0, 2.5 + cell * k), 30.0)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    label_size = float(np.clip(11 - 0.08 * k, 6, 10))

    masked = np.ma.masked_invalid(r)
    image = ax.imshow(masked, cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
    ax.set_facecolor("#d9d9d9")  # pairs without an r show as grey
    labels = [_label(c) for c in order]
    ax.set_xticks(range(k), labels, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), labels)
    ax.tick_params(labelsize=label_size, length=0)
    ax.set_xticks(np.arange(-0.5, k), minor=True)
    ax.set_yticks(np.arange(-0.5, k), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)

    if annotate:
        text_size = float(np.clip(10 - 0.25 * k, 5.5, 9))
        for i in range(k):
            for j in range(k):
                if np.isnan(r[i, j]):
                    continue
                ax.text(
                    j,
                    i,
                    f"{r[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=text_size,
                    color="white" if abs(r[i, j]) > 0.6 else "black",
                )

    bar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.02)
    bar.set_label(f"{result.method.capitalize()} r")
    if title is None:
        title = f"{result.method.capitalize()} correlation (clustered), n = {result.n_rows:,} rows"
    ax.set_title(_label(title), fontsize=12)
    return fig


def write_heatmap(
    result: Any, path: str | os.PathLike[str], *, annotate: bool | None = None, dpi: int = 120
) -> Path:
    """Write the clustered heatmap of ``result`` as a PNG, atomically.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> from toolkit.features._correlate import correlate
    >>> res = correlate(pd.DataFrame({"x": [1, 2, 3, 4], "y": [1, 3, 2, 4]}))
    >>> p = write_heatmap(res, pathlib.Path(tempfile.mkdtemp()) / "heatmap.png")
    >>> p.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    fig = heatmap_figure(result, annotate=annotate)
    with write_atomic(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)
