"""Shared result format for benchmarks: every figure is reported against a baseline run in the same process."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"
BENCH_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "bench"


@dataclass
class BenchRow:
    """One line of the benchmark table."""

    benchmark: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None  # the same measure for the baseline, same process
    baseline_name: str = ""
    target: str = ""  # human-readable target, e.g. ">= 0.7x"
    met: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        # A ratio of two negative scores (NAB's can be) reads backwards: show none rather than mislead.
        if self.baseline is None or self.baseline <= 0 or self.value < 0:
            return None
        return self.value / float(self.baseline)  # type: ignore[arg-type]


def bench_data_dir() -> Path:
    """Where ../shared/bench lives (override with OPSLAKE_BENCH_DATA)."""
    import os

    return Path(os.environ.get("OPSLAKE_BENCH_DATA", str(BENCH_DATA)))


class Timer:
    """Context manager measuring wall time in seconds."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def write_results(name: str, rows: list[BenchRow]) -> Path:
    """Write rows as JSON (machine-readable) under benchmarks/results/<name>.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "rows": [asdict(r) | {"ratio": r.ratio} for r in rows],
    }
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def _cpus() -> int:
    import os

    return os.cpu_count() or 1
