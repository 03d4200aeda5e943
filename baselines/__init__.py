"""Baseline networks; importing the package registers every one of them (ms2mnet.models.registry)."""

from . import cmgfnet  # noqa: F401
from . import esanet  # noqa: F401
from . import unetformer  # noqa: F401
