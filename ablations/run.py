"""Train, evaluate and measure one MS2MNet variant:

    python ablations/run.py variant=no_dfe [dataset=vaihingen] [profile=paper] [seed=1]
"""

import hydra
from omegaconf import DictConfig

from ms2mnet.experiment import run


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
