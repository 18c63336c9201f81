"""The spec is cheap to import: Airflow's dag-processor imports it with every DAG file it parses."""

from __future__ import annotations

import importlib
import subprocess
import sys

from opslake.jobs import carbon
from opslake.pipeline.spec import STEPS


def test_importing_the_spec_loads_neither_pyspark_nor_sklearn_nor_the_jobs() -> None:
    code = (
        "import sys, opslake.pipeline.spec\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'sklearn')"
        " or m.startswith('opslake.jobs.'))\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_lazy_job_references_name_existing_job_functions() -> None:
    assert STEPS["carbon"].reject_sources == (carbon.REJECT_SOURCE,)
    for step in STEPS.values():
        assert step.summarize is not None
        for ref in (step.compute, step.summarize):
            module = importlib.import_module(f"opslake.jobs.{ref.__qualname__.split('.')[0]}")
            assert callable(getattr(module, ref.__name__)), ref.__qualname__
