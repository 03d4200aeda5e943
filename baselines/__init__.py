"""Baseline networks; importing the package registers every one of them (ms2mnet.models.registry)."""

from . import ftransunet  # noqa: F401
from . import rs3mamba  # noqa: F401
