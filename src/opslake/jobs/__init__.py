"""Step functions: each module has the ``compute`` (and ``summarize``) functions of its pipeline steps.

``opslake.pipeline.spec`` declares the steps (inputs, outputs, which function computes them); the
runner reads, writes and emits lineage. Pure analytics live in ``opslake.placement`` / ``anomaly`` /
``carbon``.
"""
