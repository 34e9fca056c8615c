"""Write params.yaml from the Hydra configs: the one place DVC reads parameters from.

    python experiments/compose_params.py [--out FILE] [override ...]

`dvc exp run -S ...` composes params.yaml through DVC's Hydra integration (.dvc/config [hydra]);
this script calls the same DVC function, for `dvc repro` after editing experiments/conf.
A test keeps the committed params.yaml equal to the composed default (it writes to --out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dvc.utils.hydra import compose_and_dump

ROOT = Path(__file__).resolve().parents[1]  # the repository this script's configs belong to


def compose_params(output: Path, overrides: list[str] | None = None) -> None:
    compose_and_dump(
        output,
        str(ROOT / "experiments" / "conf"),
        None,
        "config",
        str(ROOT / ".dvc" / "hydra_plugins"),
        overrides or [],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    compose_params(args.out, args.overrides)
    print(f"wrote {args.out}")
