"""opslake: a telemetry lakehouse for placement, anomaly and carbon decisions."""

__version__ = "0.1.0"
