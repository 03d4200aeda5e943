"""validate_config: a bad config is refused before any work, naming every bad key in one line."""

import logging

import pytest

from ms2mnet.app import compose_config
from ms2mnet.experiment import measure, run
from ms2mnet.validation import ConfigError, validate_config



@pytest.mark.parametrize("override, message", [
    ("seed=abc", "seed='abc' must be an integer"),
    ("seed=-1", "seed=-1 must be an integer from 0"),
    ("seed=1.5", "seed=1.5 must be an integer"),
    ("profile.train.batch_size=0", "profile.train.batch_size=0 must be >= 1"),
    ("profile.train.iterations_per_epoch=0", "profile.train.iterations_per_epoch=0 must be >= 1"),
    ("profile.train.checkpoint_every=0", "profile.train.checkpoint_every=0 must be >= 1"),
    ("profile.train.log_every=0", "profile.train.log_every=0 must be >= 1"),
    ("profile.train.epochs=-1", "profile.train.epochs=-1 must be >= 0"),
    ("profile.train.lr=0", "profile.train.lr=0 must be a finite number > 0"),
    ("profile.train.milestones=5", "profile.train.milestones=5 must be a list"),
    ("profile.eval.window=0", "profile.eval.window=0 must be >= 1"),
    ("profile.eval.stride=0", "profile.eval.stride=0 must be >= 1"),
    ("profile.eval.stride=65", "profile.eval.window=64 must be >= profile.eval.stride=65"),
    ("selection=best", "selection='best' must be one of last, test_best"),
    ("+profile.train.lr_typo=0.1", "profile.train has unknown keys lr_typo"),
])
def test_each_bad_setting_is_named(override, message):
    with pytest.raises(ConfigError, match="invalid config") as info:
        validate_config(compose_config("profile=tiny", override))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_all_problems_in_one_message_and_the_defaults_pass():
    for profile in ("tiny", "smoke", "paper"):
        validate_config(compose_config(f"profile={profile}"))
    with pytest.raises(ConfigError) as info:
        validate_config(compose_config("profile=tiny", "seed=abc", "profile.eval.stride=0"))
    assert "seed=" in str(info.value) and "profile.eval.stride=0" in str(info.value)


def test_zero_epochs_is_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        validate_config(compose_config("profile=tiny", "profile.train.epochs=0"))
    assert "profile.train.epochs=0: nothing is trained" in caplog.text


def test_run_and_measure_refuse_before_writing_anything(tiny_config, tmp_path):
    for entry in (run, measure):
        with pytest.raises(ConfigError):
            entry(tiny_config("profile.train.checkpoint_every=0"))
    assert list(tmp_path.iterdir()) == []


def test_the_app_prints_one_line_and_leaves_no_folder(tmp_path, capsys):
    from ms2mnet.app import main

    assert main("config", ["seed=abc", "device=cpu", "profile.train.checkpoint_every=0", "profile.eval.stride=0",
                           f"paths.runs={tmp_path / 'runs'}"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: invalid config: seed='abc' must be an integer from 0 to 4294967295, e.g. seed=0; "
                   "profile.train.checkpoint_every=0 must be >= 1; profile.eval.stride=0 must be >= 1\n")
    assert list(tmp_path.iterdir()) == []
