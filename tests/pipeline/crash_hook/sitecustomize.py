"""Test hook, on PYTHONPATH only in tests/pipeline/test_dvc_resume.py: with MS2MNET_TEST_CRASH_AFTER_SAVE=1 a
run dies (as under kill -9) right after it wrote its first checkpoint."""

import os

if os.environ.get("MS2MNET_TEST_CRASH_AFTER_SAVE") == "1":
    import ms2mnet.engine.trainer as trainer

    _save = trainer.save

    def _save_then_die(*args, **kwargs):
        _save(*args, **kwargs)
        os._exit(3)

    trainer.save = _save_then_die
