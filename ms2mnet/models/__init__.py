"""Models of the suite, built by name: `build_model("ms2mnet", variant="no_dfe", num_classes=6)`."""

from .ms2mnet import VARIANTS, MS2MNet
from .registry import ModelEntry, build_model, list_models, register_model

register_model("ms2mnet", ModelEntry(MS2MNet, VARIANTS, "dual ResNet-50, WASE, VFE/MSSM, HFP decoder with ASAF"))

__all__ = ["MS2MNet", "build_model", "list_models", "register_model", "ModelEntry"]
