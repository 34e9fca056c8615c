"""DVC stage `generate`: write the synthetic set (``data.synth``) to ``data.root``.

Only a synthetic set is ever a pipeline output; a real dataset is an input that ``prepare``
validates. The generator refuses a non-empty folder it did not make, so no dataset is overwritten.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from tdmi.cli import entry_point
from tdmi.data.synth import SynthConfig, generate


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> None:
    if cfg.data.synth is None:
        raise SystemExit(
            f"error: data={cfg.data.name} is a real dataset (data.synth: null), an input: nothing to generate"
        )
    root = Path(to_absolute_path(cfg.data.root))
    try:
        synth = SynthConfig(**OmegaConf.to_container(cfg.data.synth, resolve=True))
        generate(synth, root)
    except (ValueError, FileExistsError) as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
