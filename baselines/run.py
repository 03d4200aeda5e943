"""Train, evaluate and measure one baseline network (see ../shared/spec/BASELINES.md):

    python baselines/run.py model=<name> [dataset=...] [profile=...] [seed=...]
"""

import hydra
from omegaconf import DictConfig

from ms2mnet.experiment import run


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
