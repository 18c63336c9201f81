"""Telemetry: schemas, a seeded generator and loaders for external formats."""

from opslake.telemetry.generator import GeneratorConfig, Telemetry, generate
from opslake.telemetry.loaders import load_prometheus_json, load_series_csv, parse_prometheus_range

__all__ = [
    "GeneratorConfig",
    "Telemetry",
    "generate",
    "load_prometheus_json",
    "load_series_csv",
    "parse_prometheus_range",
]
