"""Shared ``main()`` for the spark-submit entry points in ``spark_jobs/``: parse args, build the session,
run one job inside an OpenLineage run, stop the session."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from opslake.config import load_settings
from opslake.exceptions import OpslakeError
from opslake.jobs.registry import JOBS, run_job
from opslake.lineage import LineageRecorder

logger = logging.getLogger(__name__)


def main(job: str, argv: Sequence[str] | None = None) -> int:
    """Run ``job`` for the logical ``--date``s given (ingest: all landed dates when none given)."""
    from opslake.lake.session import build_session

    if job not in JOBS:
        raise KeyError(f"unknown job {job!r}; known: {sorted(JOBS)}")
    parser = argparse.ArgumentParser(prog=f"spark_jobs/{job}.py")
    parser.add_argument("--date", action="append", dest="dates", help="logical date YYYY-MM-DD")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings(args.profile)
    if job != "ingest" and not args.dates:
        parser.error(f"{job} needs at least one --date")
    spark = build_session(settings, app_name=f"opslake-{job}")
    try:
        results = run_job(spark, settings, job, args.dates or [], LineageRecorder(settings))
        for item in results:
            logger.info("%s: %s %s", item.job, item.rows_written, item.metrics)
    except OpslakeError as exc:
        logger.error("%s failed: %s", job, exc)
        return 1
    finally:
        spark.stop()
    return 0
