"""Plain-SQL reading of the local SQLite stores (MLflow's mlruns.db, Optuna's optuna.db): read-only
connections that never create or write the file. The readers (run_table.py, studies.py) fetch only
what the dashboard shows, several times faster than the libraries' own clients on large stores, and
fall back to those clients for any other URL or a schema they do not know."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path


def sqlite_file(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (read here with plain SQL), else None."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def read_only(path: Path) -> contextlib.closing[sqlite3.Connection]:
    """A read-only connection to the SQLite file at ``path``."""
    return contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True))


def query(path: Path, sql: str, args: Sequence[object] = ()) -> list[tuple]:
    with read_only(path) as db:
        return db.execute(sql, tuple(args)).fetchall()


def version(uri: str) -> tuple[float, ...] | None:
    """The modification times of a SQLite store's files (database, write-ahead log): a cache key
    that changes whenever anything is written; None for other stores (the cache's TTL applies)."""
    path = sqlite_file(uri)
    if path is None:
        return None
    files = (path, path.with_name(path.name + "-wal"))
    return tuple(f.stat().st_mtime if f.exists() else 0.0 for f in files)
