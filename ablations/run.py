"""Train and evaluate one MS2MNet variant (the suite's app with model=ms2mnet by default):

    python ablations/run.py variant=no_dfe [dataset=vaihingen] [profile=paper] [seed=1]
    python ablations/run.py -m variant=full,no_vfe seed=0,1,2        # multirun; hydra/launcher=slurm too
"""

from ms2mnet.app import main

if __name__ == "__main__":
    raise SystemExit(main("config"))
