"""The one wrapper on every entry point in experiments/: bad input prints one line, exits 2.

A wrong setting (:class:`tdmi.utils.config.ConfigError`), a missing or refused checkpoint
(:class:`tdmi.engine.checkpoint.CheckpointError`), a malformed dataset or reference file (their
format errors) and a missing input file are the user's to fix, and a traceback hides the one line
that says how. Anything else is a bug or a failed run and keeps its traceback. Exit status 2 is
the usual one for a usage error (argparse's, Hydra's own config errors exit 1).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

from tdmi.data.posetrack import PoseTrackFormatError
from tdmi.engine.checkpoint import CheckpointError
from tdmi.reference import ReferenceFormatError
from tdmi.utils.config import ConfigError

USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    CheckpointError,
    PoseTrackFormatError,
    ReferenceFormatError,
    FileNotFoundError,
)
USAGE_EXIT = 2
T = TypeVar("T")


def entry_point(main: Callable[..., T]) -> Callable[..., T]:
    """Decorate an entry point's ``main`` (under ``@hydra.main``): USER_ERRORS become ``error: ...``
    on stderr and exit status 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> T:
        try:
            return main(*args, **kwargs)
        except USER_ERRORS as err:
            message = " ".join(str(err).split())  # one line, whatever the exception held
            print(f"error: {message}", file=sys.stderr)
            raise SystemExit(USAGE_EXIT) from None

    return wrapper
