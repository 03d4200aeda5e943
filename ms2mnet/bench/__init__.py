"""Complexity measurements: FLOPs (fvcore, in multiply-adds), parameters, latency."""
