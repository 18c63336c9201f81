"""What Airflow needs from the pipeline spec, derived from it and free of Airflow imports.

The DAG files in ``dags/`` stay thin: their DAGs, Asset schedules and outlets, and the ``spark-submit``
command of every task come from here, and everything here comes from ``opslake.pipeline.spec``. Nothing
in this package imports pyspark, so the scheduler and the dag-processor never do either.
"""

from opslake.orchestration.assets import (
    AssetRef,
    asset_for,
    dag_id,
    inlets,
    outlets,
    scheduled_steps,
)
from opslake.orchestration.submit import (
    dates_from_asset_events,
    interval_dates,
    spark_submit_command,
    spark_submit_env,
)

__all__ = [
    "AssetRef",
    "asset_for",
    "dag_id",
    "dates_from_asset_events",
    "inlets",
    "interval_dates",
    "outlets",
    "scheduled_steps",
    "spark_submit_command",
    "spark_submit_env",
]
