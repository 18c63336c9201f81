"""spark-submit entry point for the `placement` job; the logic lives in `opslake.jobs`.

spark-submit spark_jobs/placement.py --date 2026-11-22 [--profile stack]
"""

import sys

from opslake.jobs.entry import main

if __name__ == "__main__":
    sys.exit(main("placement"))
