"""Train and evaluate one baseline network (the suite's app; a model must be named):

    python baselines/run.py model=<name> [dataset=vaihingen] [profile=paper] [seed=1]

Models and their variants: `ms2mnet models`; adding one: docs/adding-a-model.md.
"""

from ms2mnet.app import main

if __name__ == "__main__":
    raise SystemExit(main("baselines"))
