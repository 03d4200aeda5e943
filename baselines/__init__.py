"""Baseline networks; importing the package registers each one (ms2mnet.models.registry)."""

from . import fusenet  # noqa: F401
from . import vfusenet  # noqa: F401
from . import cmfnet  # noqa: F401
