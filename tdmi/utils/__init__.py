"""General helpers with no torch, MLflow or model import: project paths, config checks and
errors, flat dicts, CSV rows, the git commit. Importing ``tdmi.results`` (the dashboard) must stay
light, so anything here may be imported from anywhere."""

from tdmi.utils.config import EXECUTION_ONLY, ConfigError, check_fields, config_diff, require
from tdmi.utils.io import flatten, write_csv_rows
from tdmi.utils.paths import git_commit, project_root, relative_to_root, under_root

__all__ = [
    "EXECUTION_ONLY",
    "ConfigError",
    "check_fields",
    "config_diff",
    "flatten",
    "git_commit",
    "project_root",
    "require",
    "relative_to_root",
    "under_root",
    "write_csv_rows",
]
