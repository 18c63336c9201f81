"""spark-submit entry point for the `anomaly_train` job; the logic lives in `opslake.jobs`.

spark-submit spark_jobs/anomaly_train.py --date 2026-11-22 [--profile stack]
"""

import sys

from opslake.jobs.entry import main

if __name__ == "__main__":
    sys.exit(main("anomaly_train"))
