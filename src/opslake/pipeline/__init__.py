"""The pipeline: ``tables`` (every table, declared once), ``spec`` (every step: inputs, outputs,
compute), ``context`` (as-of reads) and ``runner`` (runs steps, writes outputs, emits lineage)."""

from __future__ import annotations

from typing import Any

__all__ = ["PipelineRun", "run_pipeline"]


def __getattr__(name: str) -> Any:
    # Lazy: the jobs import ``opslake.pipeline.tables``, and the runner imports the jobs.
    if name in __all__:
        from opslake.pipeline import runner

        return getattr(runner, name)
    raise AttributeError(name)
