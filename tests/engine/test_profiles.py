"""The training profiles: `authors` is the released script's schedule, `paper` the protocol's 50 epochs."""

import pytest
from omegaconf import OmegaConf

from ms2mnet.app import compose_config
from ms2mnet.engine.losses import DeepSupervisionLoss
from ms2mnet.engine.trainer import TrainSettings
from ms2mnet.models import get_model


def train_settings(profile: str) -> TrainSettings:
    cfg = compose_config(f"profile={profile}")
    return TrainSettings(**OmegaConf.to_container(cfg.profile.train, resolve=True))


@pytest.fixture(scope="module")
def profiles() -> dict[str, TrainSettings]:
    return {name: train_settings(name) for name in ("paper", "authors")}


def test_authors_differs_from_paper_only_in_its_length(profiles):
    paper, authors = profiles["paper"], profiles["authors"]
    assert (paper.epochs, authors.epochs) == (50, 100)
    assert tuple(authors.milestones) == (15, 25, 35)
    assert {**vars(authors), "epochs": 50} == vars(paper)


def test_only_the_authors_schedule_reaches_the_lovasz_stage(profiles):
    loss = DeepSupervisionLoss(get_model("ms2mnet").loss, (0.3, 0.2))
    assert loss.stage(profiles["paper"].epochs).lovasz == 0
    assert loss.stage(profiles["authors"].epochs).lovasz > 0
    assert loss.stage(60).lovasz == 0 and loss.stage(61).lovasz > 0  # "after epoch 60", as released
