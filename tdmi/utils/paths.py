"""Where a project's stores and outputs live: ``paths.root``.

The project root is the configured ``paths.root``, else ``$TDMI_ROOT``, else the working
directory (lightning-hydra-template's ``PROJECT_ROOT`` convention). Never the package's own
folder: a non-editable install would otherwise write MLflow runs and Optuna studies into
site-packages. Relative paths in the config (``train_dir``, ``data.root``...) are relative to it,
and files that are committed (``metrics/*.json``) store paths relative to it, so they hold no
machine's absolute paths.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT_ENV = "TDMI_ROOT"


def project_root(configured: str | Path | None = None) -> Path:
    """``configured``, else $TDMI_ROOT, else the working directory; absolute."""
    return Path(configured or os.environ.get(ROOT_ENV) or os.getcwd()).resolve()


def under_root(path: str | Path, root: Path) -> Path:
    """``path`` if absolute, else ``root / path``."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else root / path


def relative_to_root(path: str | Path, root: Path) -> str:
    """``path`` relative to ``root`` when it lies inside it (what committed files store), else as is."""
    path = Path(path).resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def git_commit(repo: Path | None = None) -> str:
    """HEAD's hash, with "-dirty" when tracked files differ; "unknown" outside a git checkout."""
    cwd = repo or project_root()
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=cwd, capture_output=True).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty else "")
