"""IsolationForest anomaly model per scope, with a robust two-part decision rule.

A point is flagged when BOTH

1. its IsolationForest score (``-score_samples``, the score of Liu et al. in (0, 1], higher = more
   anomalous) is at or above ``threshold`` — a high quantile of the training scores — and
2. its *evidence*, the largest robust deviation over the metrics (``|rz|``, ``|hod_z|``,
   ``|mean_1h_z|``, or a stuck-at-zero run much longer than any in the previous week), is at least
   ``min_evidence``.

The forest ranks points by how unusual the whole feature vector is; the evidence rule stops the
quantile threshold from flagging a fixed share of perfectly normal points (the usual failure of a
bare IsolationForest: with ``contamination=0.01`` it flags 1 % of any data, anomalous or not).
``top_metric`` is the metric with the largest evidence.

Artifacts are pickled dataclasses (:func:`to_bytes` / :func:`from_bytes`); only load artifacts
you wrote yourself — unpickling runs code.
"""

from __future__ import annotations

import io
import logging
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import IsolationForest

from opslake.anomaly.features import EVIDENCE_SUFFIXES, MODEL_SUFFIXES, Z_CLIP
from opslake.exceptions import OpslakeError

logger = logging.getLogger(__name__)

ARTIFACT_FORMAT = 1
#: Quantile of the training scores used as threshold when ``contamination="auto"``.
AUTO_SCORE_QUANTILE = 0.99
#: Default minimum evidence (robust z). Clean synthetic telemetry stays below ~5 (measured).
DEFAULT_MIN_EVIDENCE = 6.0
#: A run of exact zeros counts as "stuck" when it has at least this many rows and is more than
#: ``STUCK_RUN_FACTOR`` times longer than any zero run of the previous 7 days.
MIN_ZERO_RUN = 2
STUCK_RUN_FACTOR = 2.0
SCORE_COLUMNS: tuple[str, ...] = ("score", "is_anomaly", "top_metric", "model_version")


class ModelArtifactError(OpslakeError):
    """Raised when a model artifact cannot be decoded or is not an AnomalyModel."""


class FeatureMismatchError(OpslakeError):
    """Raised when the features given to train/score lack columns the model needs."""


@dataclass(frozen=True)
class AnomalyModel:
    """A fitted anomaly model for one scope.

    Attributes:
        scope: What the model covers, e.g. ``"aws/compute"`` (see :func:`scope_of`).
        version: Artifact version string, copied to every scored row.
        feature_columns: Columns fed to the forest, in order.
        metrics: Metrics whose robust deviations form the evidence and ``top_metric``.
        forest: The fitted IsolationForest.
        threshold: Score threshold (part 1 of the rule).
        min_evidence: Minimum robust deviation (part 2 of the rule).
        training_stats: Row count, score quantiles, flagged share on the training data, versions.
    """

    scope: str
    version: str
    feature_columns: tuple[str, ...]
    metrics: tuple[str, ...]
    forest: IsolationForest
    threshold: float
    min_evidence: float
    training_stats: dict[str, float | str] = field(default_factory=dict)


def scope_of(provider: str, metric_family: str) -> str:
    """The scope key of a model: ``"<provider>/<metric_family>"``, lower case.

    Args:
        provider: Cloud provider (aws, gcp, azure).
        metric_family: Group of metrics the model covers, e.g. ``"compute"``.

    Returns:
        The scope string.
    """
    return f"{provider.strip().lower()}/{metric_family.strip().lower()}"


def default_feature_columns(metrics: Sequence[str]) -> list[str]:
    """Scale-free feature columns of ``metrics`` used by the forest."""
    return [f"{m}{s}" for m in metrics for s in MODEL_SUFFIXES]


def _metrics_in(features: pd.DataFrame) -> tuple[str, ...]:
    return tuple(str(c)[: -len("_rz")] for c in features.columns if str(c).endswith("_rz"))


def _matrix(features: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Forest input: signed log1p of the features, so heavy tails do not squash the bulk."""
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise FeatureMismatchError(f"features lack columns {missing}")
    raw = features[list(columns)].to_numpy(dtype=float, na_value=0.0)
    raw = np.nan_to_num(raw, nan=0.0, posinf=Z_CLIP, neginf=-Z_CLIP)
    return np.sign(raw) * np.log1p(np.abs(raw))


def evidence_matrix(features: pd.DataFrame, metrics: Sequence[str]) -> np.ndarray:
    """Per-row, per-metric evidence: the largest robust deviation of that metric.

    Args:
        features: Output of :func:`~opslake.anomaly.features.window_features` (or the same
            columns for other metric names).
        metrics: Metric names (column prefixes).

    Returns:
        Array of shape ``(len(features), len(metrics))``, non-negative.
    """
    out = np.zeros((len(features), len(metrics)))
    for j, metric in enumerate(metrics):
        parts = [
            features[f"{metric}{s}"].to_numpy(dtype=float)
            for s in EVIDENCE_SUFFIXES
            if f"{metric}{s}" in features.columns
        ]
        dev = np.max(np.abs(np.vstack(parts)), axis=0) if parts else np.zeros(len(features))
        run_col, prev_col = f"{metric}_zero_run", f"{metric}_zero_run_prev_max"
        if run_col in features.columns and prev_col in features.columns:
            run = features[run_col].to_numpy(dtype=float)
            prev = features[prev_col].to_numpy(dtype=float)
            stuck = (run >= MIN_ZERO_RUN) & (run > STUCK_RUN_FACTOR * prev)
            dev = np.where(stuck, Z_CLIP, dev)
        out[:, j] = np.nan_to_num(dev)
    return out


def train(
    features: pd.DataFrame,
    scope: str,
    version: str,
    seed: int = 0,
    contamination: float | Literal["auto"] = "auto",
    *,
    feature_columns: Sequence[str] | None = None,
    n_estimators: int = 100,
    min_evidence: float = DEFAULT_MIN_EVIDENCE,
) -> AnomalyModel:
    """Fit an IsolationForest on window features and derive its thresholds.

    Args:
        features: Window features of the scope's nodes (rows of many nodes may be stacked).
        scope: Scope key (see :func:`scope_of`).
        version: Version string stored in the artifact and in scored rows.
        seed: Random state of the forest; the same seed and data give the same model.
        contamination: Expected anomalous share. A float ``c`` sets the score threshold at the
            ``1 - c`` quantile of the training scores; ``"auto"`` uses the
            :data:`AUTO_SCORE_QUANTILE` quantile.
        feature_columns: Forest inputs; defaults to the scale-free features of every metric
            found in ``features`` (columns ending in ``_rz``).
        n_estimators: Number of trees.
        min_evidence: Minimum robust deviation for a flag.

    Returns:
        The fitted model.

    Raises:
        ValueError: If ``features`` is empty or ``contamination`` is out of (0, 0.5].
        FeatureMismatchError: If a feature column is missing.
    """
    if features.empty:
        raise ValueError("train: no feature rows")
    if contamination != "auto" and not 0.0 < float(contamination) <= 0.5:
        raise ValueError(f"contamination must be 'auto' or in (0, 0.5], got {contamination}")
    metrics = _metrics_in(features)
    columns = tuple(feature_columns or default_feature_columns(metrics))
    X = _matrix(features, columns)
    forest = IsolationForest(
        n_estimators=n_estimators,
        max_samples=min(256, len(X)),
        contamination=contamination,
        random_state=seed,
    )
    forest.fit(X)
    scores = -forest.score_samples(X)
    quantile = AUTO_SCORE_QUANTILE if contamination == "auto" else 1.0 - float(contamination)
    threshold = float(np.quantile(scores, quantile))
    evidence = evidence_matrix(features, metrics).max(axis=1) if metrics else np.zeros(len(X))
    flagged = (scores >= threshold) & (evidence >= min_evidence)
    stats: dict[str, float | str] = {
        "n_rows": float(len(X)),
        "score_median": float(np.median(scores)),
        "score_q99": float(np.quantile(scores, 0.99)),
        "score_max": float(scores.max()),
        "flagged_share": float(flagged.mean()),
        "evidence_q99": float(np.quantile(evidence, 0.99)),
        "sklearn_version": sklearn.__version__,
    }
    logger.info(
        "trained scope=%s version=%s rows=%d threshold=%.4f flagged_share=%.4f",
        scope,
        version,
        len(X),
        threshold,
        stats["flagged_share"],
    )
    return AnomalyModel(
        scope=scope,
        version=version,
        feature_columns=columns,
        metrics=metrics,
        forest=forest,
        threshold=threshold,
        min_evidence=float(min_evidence),
        training_stats=stats,
    )


def score(model: AnomalyModel, features: pd.DataFrame) -> pd.DataFrame:
    """Score window features with a fitted model.

    Args:
        model: A model from :func:`train` or :func:`from_bytes`.
        features: Rows with (at least) the model's feature columns and evidence columns.

    Returns:
        A copy of ``features`` plus ``score`` (float, higher = more anomalous), ``is_anomaly``
        (bool), ``top_metric`` (str: the metric with the largest robust deviation) and
        ``model_version`` (str).

    Raises:
        FeatureMismatchError: If a required column is missing.
    """
    out = features.copy()
    if features.empty:
        out["score"] = pd.Series(dtype=float)
        out["is_anomaly"] = pd.Series(dtype=bool)
        out["top_metric"] = pd.Series(dtype=object)
        out["model_version"] = pd.Series(dtype=object)
        return out
    X = _matrix(features, model.feature_columns)
    scores = -model.forest.score_samples(X)
    evidence = evidence_matrix(features, model.metrics)
    best = evidence.argmax(axis=1)
    top_evidence = evidence[np.arange(len(features)), best]
    out["score"] = scores
    out["is_anomaly"] = (scores >= model.threshold) & (top_evidence >= model.min_evidence)
    out["top_metric"] = np.asarray(model.metrics, dtype=object)[best]
    out["model_version"] = model.version
    return out


def to_bytes(model: AnomalyModel) -> bytes:
    """Serialise a model to a versioned artifact (pickle protocol 5).

    Args:
        model: The model.

    Returns:
        Bytes for object storage.
    """
    payload = {"format": ARTIFACT_FORMAT, "sklearn": sklearn.__version__, "model": model}
    return pickle.dumps(payload, protocol=5)


class _Unpickler(pickle.Unpickler):
    """Unpickler that only resolves classes from the modules a model artifact can contain."""

    _ALLOWED_PREFIXES = ("opslake.", "sklearn.", "numpy", "builtins", "collections", "copyreg")

    def find_class(self, module: str, name: str) -> object:
        if not module.startswith(self._ALLOWED_PREFIXES):
            raise ModelArtifactError(f"artifact references disallowed {module}.{name}")
        return super().find_class(module, name)


def from_bytes(data: bytes) -> AnomalyModel:
    """Load a model written by :func:`to_bytes`.

    Args:
        data: Artifact bytes.

    Returns:
        The model.

    Raises:
        ModelArtifactError: If the bytes are not a model artifact of a supported format.
    """
    try:
        payload = _Unpickler(io.BytesIO(data)).load()
    except ModelArtifactError:
        raise
    except Exception as exc:
        raise ModelArtifactError(f"cannot decode model artifact: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != ARTIFACT_FORMAT:
        raise ModelArtifactError("not an opslake anomaly model artifact (unknown format)")
    model = payload.get("model")
    if not isinstance(model, AnomalyModel):
        raise ModelArtifactError("artifact does not contain an AnomalyModel")
    if payload.get("sklearn") != sklearn.__version__:
        logger.warning(
            "model %s was trained with scikit-learn %s, running %s",
            model.version,
            payload.get("sklearn"),
            sklearn.__version__,
        )
    return model
