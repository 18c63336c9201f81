"""The Airflow extra sits beside pyspark without breaking it (the pyspark-client trap, STACK-NOTES)."""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys

import pytest


def test_pyspark_is_the_pinned_full_distribution_and_pyspark_client_is_absent() -> None:
    assert md.version("pyspark") == "4.1.4"
    # apache-airflow-providers-apache-spark pulls pyspark-client, whose files overwrite pyspark's.
    with pytest.raises(md.PackageNotFoundError):
        md.version("pyspark-client")
    with pytest.raises(md.PackageNotFoundError):
        md.version("apache-airflow-providers-apache-spark")


def test_pyspark_still_imports_its_session_after_airflow_is_installed() -> None:
    # A fresh interpreter: the trap shows only at import time, after the files were overwritten.
    code = "import pyspark; from pyspark.sql import SparkSession; print(pyspark.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "4.1.4"


def test_the_airflow_extra_installs_the_pinned_versions() -> None:
    assert md.version("apache-airflow") == "3.3.2"
    assert md.version("apache-airflow-providers-openlineage") == "2.20.3"
    assert md.version("apache-airflow-providers-standard") == "1.21.0"
    assert md.version("apache-airflow-providers-fab") == "3.10.2"
    assert md.version("great-expectations") == "1.24.1"
