"""Job transformations: each module has a ``run(spark, settings, ...)`` that reads, transforms and writes.

``spark_jobs/*.py`` are thin spark-submit entry points around these; ``opslake run`` calls them in order
in one session. Pure analytics live in ``opslake.placement`` / ``anomaly`` / ``carbon``.
"""
