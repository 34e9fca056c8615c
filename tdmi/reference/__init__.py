"""The paper's numbers as package data, loaded through one validating function.

``paper_reference.csv`` (read ``paper_reference.md`` beside it) holds one row per published result:
``table`` ("main" or ``ablation_<name>``), ``dataset``, ``split``, ``method``, the per-joint PoseTrack
mAP columns in the paper's order (Head ... Ankle, Mean; an ablation row may give only Mean), the
``kind`` of source (``paper`` | ``secondary`` | ``author_notes``: how far the number is from the
paper's own tables), the ``source`` it was taken from, whether it was ``verified_against_tdmi_paper``
and a free ``note`` (what else a reader must know). New rows in this schema need no code: every
consumer filters by ``table``/``dataset``/``method``, never by row. The CSV is the project's own copy
(it started as ../shared/docs/paper_reference.csv; the tests read nothing outside the clone).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from tdmi.eval.results import COLUMNS

TEXT_COLUMNS = ("table", "dataset", "split", "method", "kind", "source", "verified_against_tdmi_paper", "note")
NUMBER_COLUMNS = tuple(c.lower() for c in COLUMNS)  # head ... ankle, mean
REQUIRED = (*TEXT_COLUMNS[:4], *NUMBER_COLUMNS, *TEXT_COLUMNS[4:])
KINDS = ("paper", "secondary", "author_notes")

# Our data-config names (experiments/conf/data/*.yaml `name`) -> the reference's dataset names.
# Synthetic data has no counterpart: its numbers are never compared with the paper's as equals.
DATASET_NAMES = {"posetrack17": "PoseTrack2017", "posetrack18": "PoseTrack2018", "posetrack21": "PoseTrack21"}


class ReferenceFormatError(ValueError):
    """The reference CSV does not have the schema paper_reference.md describes."""


def default_path() -> Path:
    return Path(str(resources.files(__package__) / "paper_reference.csv"))


def load_reference(path: str | Path | None = None) -> pd.DataFrame:
    """The reference rows, columns validated; ``path`` replaces the packaged CSV (tests, new tables).

    Raises :class:`ReferenceFormatError` naming the file and the problem: a missing column, a row without
    a source or a kind (a number without its source must never be shown), an unknown kind, or a
    non-numeric metric.
    """
    path = Path(path) if path is not None else default_path()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ReferenceFormatError(f"{path}: missing columns {missing}; expected {list(REQUIRED)}")
    for column in TEXT_COLUMNS[:6]:
        empty = frame.index[frame[column].str.strip() == ""].tolist()
        if empty:
            raise ReferenceFormatError(f"{path}: column {column!r} is empty in data row(s) {[i + 1 for i in empty]}")
    unknown = frame.index[~frame["kind"].isin(KINDS)].tolist()
    if unknown:
        raise ReferenceFormatError(
            f"{path}: column 'kind' must be one of {KINDS} in data row(s) {[i + 1 for i in unknown]}"
        )
    for column in NUMBER_COLUMNS:
        values = pd.to_numeric(frame[column].replace("", None), errors="coerce")
        bad = frame.index[values.isna() & (frame[column] != "")].tolist()
        if bad:
            raise ReferenceFormatError(
                f"{path}: column {column!r} is not a number in data row(s) {[i + 1 for i in bad]}"
            )
        frame[column] = values.astype(float)
    if frame["mean"].isna().any():
        raise ReferenceFormatError(
            f"{path}: every row needs 'mean' (rows {[i + 1 for i in frame.index[frame['mean'].isna()]]})"
        )
    return frame


def reference_dataset(our_name: str | None) -> str | None:
    """The reference's name for one of our datasets; None for synthetic or unknown data."""
    return DATASET_NAMES.get((our_name or "").lower())


def main_rows(reference: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The paper's main-results rows (per-joint) for one reference dataset."""
    return reference[(reference["table"] == "main") & (reference["dataset"] == dataset)]


def ablation_rows(reference: pd.DataFrame) -> pd.DataFrame:
    """Rows of the paper's ablation tables (``table`` = ``ablation_<name>``), any dataset."""
    return reference[reference["table"].str.startswith("ablation")]
