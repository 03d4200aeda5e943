"""MS2MNet benchmark and ablation suite: models, data, engine, complexity and reports."""

__version__ = "0.1.0"
