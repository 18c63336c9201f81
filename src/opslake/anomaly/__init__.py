"""Anomaly detection on node metrics: causal window features + IsolationForest per scope.

Pure functions on pandas DataFrames (no I/O, no Spark); the Spark jobs wrap them with
``applyInPandas`` (training per scope) and ``mapInPandas`` (scoring with a broadcast model).
"""

from opslake.anomaly.evaluation import precision_recall_f1, scores_from_counts
from opslake.anomaly.features import FEATURE_COLUMNS, METRICS, window_features
from opslake.anomaly.model import AnomalyModel, from_bytes, scope_of, score, to_bytes, train
from opslake.anomaly.series import score_series

__all__ = [
    "FEATURE_COLUMNS",
    "METRICS",
    "AnomalyModel",
    "from_bytes",
    "precision_recall_f1",
    "scope_of",
    "score",
    "score_series",
    "scores_from_counts",
    "to_bytes",
    "train",
    "window_features",
]
