"""Flat dicts and CSV rows: the shapes MLflow params, metric names and `dvc plots` want."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path


def flatten(config: Mapping, sep: str = ".", prefix: str = "") -> dict[str, object]:
    """Nested mapping -> {"a.b.c": value}: MLflow's flat params (sep "."), metric names (sep "/")."""
    out: dict[str, object] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, sep, f"{name}{sep}"))
        else:
            out[name] = value
    return out


def write_csv_rows(rows: Sequence[Mapping[str, float | str]], path: str | Path) -> Path:
    """One CSV row per mapping, one column per key (empty where a row has none), the table format
    `dvc plots` draws: the learning curve (a row per epoch), per-joint AP (a row per joint group)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path
