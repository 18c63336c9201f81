"""spark-submit entry point for Iceberg table maintenance; the logic lives in `opslake.lake.maintenance`.

spark-submit spark_jobs/lake_maintenance.py [--profile stack] [--retain-last N] [--snapshot-age-days D]
    [--orphan-age-days D] [--compact-days N] [--table namespace.table ...] [--no-views]
"""

import sys

from opslake.lake.maintenance import main

if __name__ == "__main__":
    sys.exit(main())
