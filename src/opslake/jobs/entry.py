"""Shared ``main()`` for the spark-submit entry points in ``spark_jobs/``: parse args, build the session,
run one step of the pipeline spec (inside an OpenLineage run), stop the session."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from opslake.config import load_settings
from opslake.exceptions import OpslakeError

logger = logging.getLogger(__name__)


def landed_dates(settings: object) -> list[str]:
    """Every date that has landing files of any source (what ``ingest`` takes without ``--date``)."""
    from opslake.config import Settings
    from opslake.lake.landing import list_landing
    from opslake.lake.storage import StorageOptions
    from opslake.telemetry.schemas import SOURCES

    assert isinstance(settings, Settings)
    options = StorageOptions.from_settings(settings)
    return sorted({f.dt for s in SOURCES for f in list_landing(settings.raw_root, s, options)})


def main(step_name: str, argv: Sequence[str] | None = None) -> int:
    """Run step ``step_name`` for the logical ``--date``s given (ingest: every landed date if none)."""
    from opslake.lineage import LineageRecorder
    from opslake.pipeline.runner import run_step
    from opslake.pipeline.spec import step

    parser = argparse.ArgumentParser(prog=f"spark_jobs/{step_name}.py")
    parser.add_argument("--date", action="append", dest="dates", help="logical date YYYY-MM-DD")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        spec = step(step_name)
        settings = load_settings(args.profile)
        dates = args.dates or (landed_dates(settings) if step_name == "ingest" else [])
        if not dates:
            parser.error(f"{step_name} needs at least one --date")
        from opslake.lake.session import build_session

        spark = build_session(settings, app_name=f"opslake-{step_name}")
        try:
            result = run_step(spark, settings, spec, dates, LineageRecorder(settings))
            logger.info("%s: %s %s", result.job, result.rows_written, result.metrics)
        finally:
            spark.stop()
    except OpslakeError as exc:
        logger.error("%s failed: %s", step_name, exc)
        return 1
    return 0
