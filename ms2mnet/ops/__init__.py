"""Operators the models share: the selective scan (mamba-ssm semantics, any device) and VMamba's SS2D."""

from .selective_scan import kernel_runs, scan_backend, selective_scan
from .ss2d import SS2D

__all__ = ["SS2D", "kernel_runs", "scan_backend", "selective_scan"]
