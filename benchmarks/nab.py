"""NAB benchmark of issue 10: window metric and NAB standard score per set, for opslake and baselines.

Every detector runs in this process on the public NAB files under ``<bench data>/nab`` (located by
``benchmarks.common.bench_data_dir``, i.e. ``OPSLAKE_BENCH_DATA``):

* **opslake**: :func:`opslake.anomaly.detector.detect_series`, the function the Spark job runs per
  node and metric, one configuration for every file. Its flagged rows are the rows where an alert
  opens (what pages someone); its NAB input is the score at those rows (0 elsewhere).
* **opslake-contextual**: :func:`opslake.anomaly.contextual.detect_series_contextual`, a KNN-CAD
  style alternative (context novelty against past contexts), shown for comparison only.
* **3-sigma**: ``|x - mean| > 3 std`` over the whole file (not causal); NAB input ``|z|``.
* **naive IsolationForest**: scikit-learn's forest on the raw value of the whole file,
  ``contamination=0.01``, ``random_state=0`` (not causal); NAB input ``-score_samples``.

Window metric and NAB score: :mod:`opslake.anomaly.nab_metric`. The NAB threshold of each detector is
swept once over the whole public corpus (all five sets together), then applied to every set.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import IsolationForest

from benchmarks.common import BenchRow, Timer, bench_data_dir
from opslake.anomaly.contextual import detect_series_contextual
from opslake.anomaly.detector import detect_series
from opslake.anomaly.nab_metric import (
    NAB_SETS,
    NabFile,
    SweepFile,
    WindowCounts,
    corpus_sweep,
    load_corpus,
    load_profile,
    normalised,
    pooled,
    raw_score,
    sweep_weights,
    window_counts,
)

Flags = npt.NDArray[np.bool_]
Scores = npt.NDArray[np.float64]
Detector = Callable[[NabFile], tuple[Flags, Scores]]

#: Window F1 of the published detectors (issue 10, from NAB's published results, own thresholds).
PUBLISHED_F1: dict[str, dict[str, float]] = {
    "realKnownCause": {"ARTime": 0.41, "Numenta HTM": 0.42, "CAD OSE": 0.48, "RCF": 0.40,
                       "Twitter ADVec": 0.32, "windowed Gaussian": 0.22},
    "realTraffic": {"ARTime": 0.64, "Numenta HTM": 0.72, "CAD OSE": 0.80, "RCF": 0.71,
                    "Twitter ADVec": 0.72, "windowed Gaussian": 0.74},
    "realAdExchange": {"ARTime": 0.65, "Numenta HTM": 0.69, "CAD OSE": 0.76, "RCF": 0.59,
                       "Twitter ADVec": 0.67, "windowed Gaussian": 0.58},
    "artificialWithAnomaly": {"ARTime": 0.48, "Numenta HTM": 0.48, "CAD OSE": 0.56, "RCF": 0.29,
                              "Twitter ADVec": 0.34, "windowed Gaussian": 0.11},
}  # fmt: skip
#: NAB standard scores on NAB's full scoreboard (all seven sets).
PUBLISHED_NAB: dict[str, float] = {
    "ARTime": 74.9, "Numenta HTM": 70.1, "CAD OSE": 69.9, "RCF": 51.7, "Twitter ADVec": 47.1,
    "windowed Gaussian": 39.6,
}  # fmt: skip
#: Targets of issue 10 (window F1 at or above CAD OSE; NAB above 70; no false alarm on no-anomaly).
F1_TARGETS = {"realKnownCause": 0.48, "realTraffic": 0.80, "realAdExchange": 0.76}
NAB_TARGET = 70.0


def opslake(file: NabFile) -> tuple[Flags, Scores]:
    rows, _ = detect_series(file.frame)
    starts = rows["alert_start"].to_numpy(dtype=bool)
    return starts, np.where(starts, rows["score"].to_numpy(dtype=float), 0.0)


def opslake_contextual(file: NabFile) -> tuple[Flags, Scores]:
    rows, _ = detect_series_contextual(file.frame)
    starts = rows["alert_start"].to_numpy(dtype=bool)
    return starts, np.where(starts, rows["score"].to_numpy(float), 0.0)


def three_sigma(file: NabFile) -> tuple[Flags, Scores]:
    x = file.frame["value"].to_numpy(dtype=float)
    sd = float(np.std(x))
    z = np.abs(x - np.mean(x)) / sd if sd > 0 else np.zeros(len(x))
    return z > 3.0, z


def isolation_forest(file: NabFile) -> tuple[Flags, Scores]:
    x = file.frame["value"].to_numpy(dtype=float).reshape(-1, 1)
    forest = IsolationForest(contamination=0.01, random_state=0).fit(x)
    return forest.predict(x) == -1, -forest.score_samples(x)


DETECTORS: dict[str, Detector] = {
    "opslake": opslake,
    "opslake-contextual": opslake_contextual,
    "3-sigma": three_sigma,
    "naive IsolationForest": isolation_forest,
}


@dataclass
class SetResult:
    """One detector on one set (or the pooled corpus)."""

    counts: WindowCounts
    nab: float  # normalised, at the corpus-wide threshold
    nab_own: float  # normalised, at the detector's own flags
    windows: int
    raw: float


def evaluate(files: list[NabFile], detector: Detector) -> tuple[dict[str, SetResult], float, float]:
    """Window counts and NAB scores of ``detector`` per set and pooled.

    Returns:
        ``({set or "pooled": result}, corpus threshold, seconds)``.
    """
    profile = load_profile(bench_data_dir() / "nab")
    per_file: list[tuple[str, WindowCounts, SweepFile, SweepFile]] = []
    with Timer() as timer:
        for file in files:
            flags, scores = detector(file)
            per_file.append(
                (
                    file.set_name,
                    window_counts(flags, file.windows),
                    sweep_weights(scores, file.windows, profile),
                    sweep_weights(flags.astype(float), file.windows, profile),
                )
            )
    threshold, _ = corpus_sweep([p[2] for p in per_file], profile)
    out: dict[str, SetResult] = {}
    for name in (*NAB_SETS, "pooled"):
        chosen = [p for p in per_file if name in (p[0], "pooled")]
        windows = sum(p[2].n_windows for p in chosen)
        raw = sum(raw_score(p[2], threshold, profile) for p in chosen)
        own = sum(raw_score(p[3], 0.5, profile) for p in chosen)
        out[name] = SetResult(
            counts=pooled(p[1] for p in chosen),
            nab=normalised(raw, windows, profile),
            nab_own=normalised(own, windows, profile),
            windows=windows,
            raw=raw,
        )
    return out, threshold, timer.seconds


def run(quick: bool = False) -> list[BenchRow]:
    """Benchmark rows: per set and pooled, per detector (``quick`` changes nothing: 1 s of work)."""
    nab = bench_data_dir() / "nab"
    if not (nab / "labels" / "combined_windows.json").exists():
        return [BenchRow("nab", "skipped", 0.0, "", note=f"no NAB data under {nab}")]
    files = load_corpus(nab)
    results = {name: evaluate(files, det) for name, det in DETECTORS.items()}
    ours = results["opslake"][0]
    rows: list[BenchRow] = []
    for set_name in (*NAB_SETS, "pooled"):
        c = ours[set_name].counts
        published = PUBLISHED_F1.get(set_name, {})
        pub = ", ".join(f"{k} {v:.2f}" for k, v in published.items())
        for base in ("opslake-contextual", "3-sigma", "naive IsolationForest"):
            b = results[base][0][set_name]
            rows.append(
                BenchRow(
                    f"nab/{set_name}", f"window F1 vs {base}", round(c.f1, 4), "ratio",
                    round(b.counts.f1, 4), base,
                    extra={"baseline_counts": vars(b.counts), "baseline_nab": round(b.nab, 2)},
                )
            )  # fmt: skip
        target = F1_TARGETS.get(set_name)
        rows.append(
            BenchRow(
                f"nab/{set_name}", "window F1", round(c.f1, 4), "ratio",
                target=f">= {target} (CAD OSE)" if target else "",
                met=(c.f1 >= target) if target else None,
                note=f"P {c.precision:.3f} R {c.recall:.3f} tp {c.tp} fn {c.fn}"
                + (f"; published: {pub}" if pub else ""),
                extra={"tp": c.tp, "fn": c.fn, "fp": c.fp},
            )
        )  # fmt: skip
        no_anomaly = set_name == "artificialNoAnomaly"
        rows.append(
            BenchRow(
                f"nab/{set_name}", "false-alarm runs", float(c.fp), "runs",
                target="0" if no_anomaly else "", met=(c.fp == 0) if no_anomaly else None,
            )
        )  # fmt: skip
        if ours[set_name].windows:
            rows.append(
                BenchRow(
                    f"nab/{set_name}", "NAB standard score", round(ours[set_name].nab, 2),
                    "score", round(results["3-sigma"][0][set_name].nab, 2), "3-sigma",
                    target=f"> {NAB_TARGET}" if set_name == "pooled" else "",
                    met=(ours[set_name].nab > NAB_TARGET) if set_name == "pooled" else None,
                    note=f"own threshold {ours[set_name].nab_own:.1f}; IsolationForest "
                    f"{results['naive IsolationForest'][0][set_name].nab:.1f}"
                    + ("; published (all 7 NAB sets): " + ", ".join(
                        f"{k} {v}" for k, v in PUBLISHED_NAB.items()) if set_name == "pooled" else ""),
                )
            )  # fmt: skip
    for name, (_, threshold, seconds) in results.items():
        rows.append(
            BenchRow(
                "nab/runtime", f"{name} seconds (all {len(files)} files)", round(seconds, 2), "s",
                note=f"corpus NAB threshold {threshold:.4g}" if math.isfinite(threshold) else "",
            )
        )  # fmt: skip
    return rows


def _mark(row: BenchRow | None) -> str:
    """`` (target ... met)`` or `` (**misses target ...**)`` after a value that has a target."""
    if row is None or row.met is None:
        return ""
    return f" (target {row.target} met)" if row.met else f" (**misses target {row.target}**)"


def table(rows: list[BenchRow]) -> str:
    """The per-set comparison as markdown (what ``make bench`` prints)."""
    by: dict[tuple[str, str], BenchRow] = {(r.benchmark, r.metric): r for r in rows}
    lines = [
        "| NAB set | detector | precision | recall | window F1 | false-alarm runs | NAB standard |",
        "|---|---|---|---|---|---|---|",
    ]
    for set_name in (*NAB_SETS, "pooled"):
        key = f"nab/{set_name}"
        f1 = by.get((key, "window F1"))
        if f1 is None:
            continue
        tp, fn, fp = (int(f1.extra[k]) for k in ("tp", "fn", "fp"))
        ours = WindowCounts(tp, fn, fp)
        nab = by.get((key, "NAB standard score"))
        alarms = by.get((key, "false-alarm runs"))
        lines.append(
            f"| {set_name} | opslake | {ours.precision:.3f} | {ours.recall:.3f} | {ours.f1:.3f}"
            f"{_mark(f1)} | {fp}{_mark(alarms)} | {nab.value if nab else 'n/a'}{_mark(nab)} |"
        )
        for base in ("opslake-contextual", "3-sigma", "naive IsolationForest"):
            row = by.get((key, f"window F1 vs {base}"))
            if row is None:
                continue
            b = row.extra["baseline_counts"]
            bc = WindowCounts(int(b["tp"]), int(b["fn"]), int(b["fp"]))
            nab_b = row.extra.get("baseline_nab", "") if nab else ""
            lines.append(
                f"| {set_name} | {base} | {bc.precision:.3f} | {bc.recall:.3f} | {bc.f1:.3f} | "
                f"{bc.fp} | {nab_b} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    result = run()
    print(table(result))
    for r in result:
        print(f"{r.benchmark:30s} {r.metric:38s} {r.value:>9} base={r.baseline!s:>8} {r.note}")
