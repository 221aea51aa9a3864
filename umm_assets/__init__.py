"""Unified-M: the Dagster code location and the pure domain code it calls."""

__version__ = "0.1.0"
