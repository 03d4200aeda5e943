"""Baseline networks; importing the package registers each one (ms2mnet.models.registry)."""

from . import cmfnet  # noqa: F401
from . import cmgfnet  # noqa: F401
from . import esanet  # noqa: F401
from . import ftransunet  # noqa: F401
from . import fusenet  # noqa: F401
from . import rs3mamba  # noqa: F401
from . import unetformer  # noqa: F401
from . import vfusenet  # noqa: F401
