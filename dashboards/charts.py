"""Figures the pages share: one trace per run (bars or lines), each run one colour in every panel
and one legend entry. Built with plotly's graph objects only: importing plotly.express costs about
0.35 s of CPU, a sixth of a page's first-render budget (benchmarks/dashboard_speed.py)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

OURS, PAPER = qualitative.D3, qualitative.Pastel1  # two palettes: ours vs paper at a glance


def colours(runs: Iterable[str], palette: list[str] = OURS) -> dict[str, str]:
    """Each run (in order of first appearance) its palette colour, cycling."""
    names = list(dict.fromkeys(runs))
    return {name: palette[k % len(palette)] for k, name in enumerate(names)}


def add_runs(
    figure: go.Figure,
    long: pd.DataFrame,
    x: str,
    y: str,
    colour: dict[str, str],
    kind: str = "bar",
    row: int | None = None,
    col: int | None = None,
    **style: object,
) -> go.Figure:
    """One trace per value of ``long["run"]`` (``kind``: ``bar`` or ``line``), at ``row``/``col``
    of a subplot figure; a run's later panels share its first legend entry."""
    shown = {t.legendgroup for t in figure.data}
    for name, group in long.groupby("run", sort=False):
        common = {"x": group[x], "y": group[y], "name": name, "legendgroup": name, "showlegend": name not in shown}
        if kind == "bar":
            trace = go.Bar(**common, marker_color=colour[name], **style)
        else:
            trace = go.Scatter(**common, mode="lines+markers", line={"color": colour[name]}, **style)
        figure.add_trace(trace, row=row, col=col)
        shown.add(name)
    return figure
