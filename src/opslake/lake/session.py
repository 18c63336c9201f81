"""Build the SparkSession: Iceberg JDBC catalog + warehouse + jars, all from Settings.

The same builder serves both profiles; only the values differ (SQLite vs PostgreSQL JDBC URI,
file:// vs s3:// warehouse).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from opslake.config import Settings
from opslake.lake.jars import spark_jar_paths
from opslake.lake.java import find_java_home

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


def catalog_conf(settings: Settings) -> dict[str, str]:
    """Spark configuration for the Iceberg catalog named ``settings.catalog_name``."""
    prefix = f"spark.sql.catalog.{settings.catalog_name}"
    conf = {
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.type": "jdbc",
        f"{prefix}.uri": settings.catalog_jdbc_uri,
        # Trino reads the catalog tables with schema version V1 (Java's default is V0).
        f"{prefix}.jdbc.schema-version": "V1",
        f"{prefix}.warehouse": settings.warehouse_uri,
    }
    if settings.catalog_user:
        conf[f"{prefix}.jdbc.user"] = settings.catalog_user
        conf[f"{prefix}.jdbc.password"] = settings.catalog_password.get_secret_value()
    if settings.s3_endpoint:
        conf |= {
            f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
            f"{prefix}.s3.endpoint": settings.s3_endpoint,
            f"{prefix}.s3.path-style-access": "true",
            f"{prefix}.s3.access-key-id": settings.s3_access_key.get_secret_value(),
            f"{prefix}.s3.secret-access-key": settings.s3_secret_key.get_secret_value(),
            f"{prefix}.client.region": settings.s3_region,
        }
    return conf


def spark_conf(settings: Settings) -> dict[str, str]:
    """Full Spark configuration for opslake jobs."""
    jars = ",".join(str(p) for p in spark_jar_paths(settings.cache_dir))
    return {
        "spark.master": settings.spark_master,
        "spark.app.name": "opslake",
        "spark.jars": jars,
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.extensions": (
            "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
        ),
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        **catalog_conf(settings),
    }


# Conf keys whose values are credentials (matched on the key's end, whatever the catalog's name).
SECRET_CONF_SUFFIXES = (".jdbc.password", ".s3.access-key-id", ".s3.secret-access-key")


def split_secrets(conf: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """``conf`` as (public, secret) entries.

    pyspark hands builder options to ``spark-submit`` as ``--conf key=value``: anything set on the
    builder is on the driver JVM's command line, readable by every user with ``ps``. Secrets are set
    on the running session instead; Iceberg catalogs load lazily, so they still see them.
    """
    secret = {k: v for k, v in conf.items() if k.endswith(SECRET_CONF_SUFFIXES)}
    return {k: v for k, v in conf.items() if k not in secret}, secret


def build_session(settings: Settings, app_name: str = "opslake") -> SparkSession:
    """Create (or reuse) the SparkSession configured for ``settings``."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("JAVA_HOME", str(find_java_home()))
    # Python workers must run the interpreter that has our dependencies (pyarrow, sklearn, opslake).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if settings.spark_master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if settings.home and settings.catalog_jdbc_uri.startswith("jdbc:sqlite:"):
        settings.home.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.appName(app_name)
    public, secret = split_secrets(spark_conf(settings))
    for key, value in public.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    for key, value in secret.items():  # before the catalog's first use below
        spark.conf.set(key, value)
    spark.sparkContext.setLogLevel("WARN")
    for namespace in ("telemetry", "analytics"):
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {settings.catalog_name}.{namespace}")
    return spark
