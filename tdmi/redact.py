"""Passwords out of anything that is logged, tagged or printed (MLflow params and tags, the sweep's
messages): a database URL such as ``sweep.storage=postgresql://user:PASS@host/db`` must not end up
in an MLflow server that a whole group reads.

Two forms are replaced by ``***``: the password of a URL's user info (``scheme://user:PASS@``,
SQLAlchemy's grammar: the password runs to the next ``@``, so it may hold ``:`` or ``/``), and a
``password=``/``passwd=``/``pwd=`` query or DSN field. Text without either is returned as is.
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(://[^:/@\s]*):[^@]*@")
_FIELD = re.compile(r"(?i)\b(password|passwd|pwd)=[^&\s]*")


def redact(text: str) -> str:
    """``text`` with every URL password replaced by ``***``."""
    return _FIELD.sub(r"\1=***", _USERINFO.sub(r"\1:***@", text))
