"""The outputs of ``toolkit clv``: customers.csv, params.json and p_alive_matrix.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit._json import jsonable
from toolkit.io import staged_outputs, write_frame
from toolkit.reports.btyd_plots import p_alive_matrix, plot_p_alive_matrix

if TYPE_CHECKING:
    from toolkit.features._clv import ClvResult

#: what :func:`write_clv_outputs` writes, in the order it names them
CLV_FILES = ("customers.csv", "params.json", "p_alive_matrix.png")


def write_clv_outputs(result: ClvResult, out: Path) -> list[Path]:
    """Write the three outputs of :func:`toolkit.features._clv.fit_clv` into ``out``, all
    together or none of them; returns their paths."""
    import numpy as np

    customers = result.customers
    with staged_outputs(out) as stage:
        write_frame(customers, stage / CLV_FILES[0])
        (stage / CLV_FILES[1]).write_text(
            json.dumps(jsonable(result.params), indent=2) + "\n", encoding="utf-8"
        )
        x = customers["frequency"].to_numpy(np.float64)
        matrix = p_alive_matrix(
            result.model,
            T=float(customers["T"].max()),
            max_frequency=int(max(np.quantile(x, 0.99), 1)),
        )
        plot_p_alive_matrix(matrix, stage / CLV_FILES[2])
    return [out / name for name in CLV_FILES]
