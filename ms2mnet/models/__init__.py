"""Models of the suite, built by name: `build_model("ms2mnet", variant="no_dfe", num_classes=6)`.

Register a new one with `@register_model(name, label=..., ...)` (docs/adding-a-model.md).
"""

from .registry import (ModelEntry, build_model, for_layout, get_model, import_model_module,
                       list_models, parse_run, shipped_models, register_model, resolve_variant, run_name, WeightFile)

__all__ = ["ModelEntry", "build_model", "for_layout", "get_model", "import_model_module",
           "list_models", "parse_run", "shipped_models", "register_model", "resolve_variant", "run_name", "WeightFile"]
