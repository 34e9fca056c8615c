"""Write params.yaml from the Hydra configs: the one place DVC reads parameters from.

`dvc exp run -S ...` composes params.yaml through DVC's Hydra integration (.dvc/config [hydra]);
this script calls the same DVC function, for `dvc repro` after editing experiments/conf.
A test keeps the committed params.yaml equal to the composed default.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dvc.utils.hydra import compose_and_dump

ROOT = Path(__file__).resolve().parents[1]


def compose_params(output: Path, overrides: list[str] | None = None) -> None:
    compose_and_dump(output, str(ROOT / "experiments" / "conf"), None, "config", str(ROOT / ".dvc" / "hydra_plugins"), overrides or [])


if __name__ == "__main__":
    compose_params(ROOT / "params.yaml", sys.argv[1:])
    print(f"wrote {ROOT / 'params.yaml'}")
