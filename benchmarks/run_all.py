"""Run every benchmark and write ``benchmarks/results/<name>.json`` plus ``RESULTS.md``.

python -m benchmarks.run_all [--quick] [--only placement,anomaly_quality,spark]
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

from benchmarks.common import RESULTS_DIR, BenchRow, write_results

BENCHES = {
    "placement": "benchmarks.bench_placement",
    "anomaly_quality": "benchmarks.bench_anomaly_quality",
    "spark": "benchmarks.bench_spark",
    "stack": "benchmarks.bench_stack",
    "airflow": "benchmarks.bench_airflow",
    "gateway": "benchmarks.bench_gateway",
}


def markdown(results: dict[str, list[BenchRow]]) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Produced by `make bench` on this machine (2 cores, 24 GiB). Ratios are value / baseline, both",
        "measured in the same process.",
        "",
        "| benchmark | metric | value | unit | baseline | ratio | target | met | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rows in results.values():
        for r in rows:
            base = f"{r.baseline:.4g} ({r.baseline_name})" if r.baseline is not None else ""
            ratio = f"{r.ratio:.3g}" if r.ratio is not None else ""
            met = "" if r.met is None else ("yes" if r.met else "**no**")
            lines.append(
                f"| {r.benchmark} | {r.metric} | {r.value:.4g} | {r.unit} | {base} | {ratio} | "
                f"{r.target} | {met} | {r.note} |"
            )
    return "\n".join(lines) + "\n"


def load_results(name: str) -> list[BenchRow]:
    """Rows of an earlier run from ``results/<name>.json`` (empty when it never ran)."""
    path = RESULTS_DIR / f"{name}.json"
    if not path.exists():
        return []
    rows = json.loads(path.read_text())["rows"]
    return [BenchRow(**{k: v for k, v in row.items() if k != "ratio"}) for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller inputs (smoke run)")
    parser.add_argument("--only", default="", help="comma-separated subset of " + ",".join(BENCHES))
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHES if not args.only or b in args.only.split(",")]
    for name in chosen:
        started = time.perf_counter()
        module = importlib.import_module(BENCHES[name])
        rows: list[BenchRow] = module.run(quick=args.quick)
        write_results(name, rows)
        print(f"{name}: {len(rows)} rows in {time.perf_counter() - started:.0f}s", flush=True)
    # The table always shows the latest result of every benchmark, so a partial re-run keeps the rest.
    table = markdown({name: load_results(name) for name in BENCHES})
    anomaly = load_results("anomaly_quality")
    if any(r.benchmark.startswith("nab/") for r in anomaly):
        from benchmarks.nab import table as nab_table

        # The NAB comparison per set, as issue 10 asks: opslake beside the same-process baselines.
        table += "\n## Anomaly detection on the public NAB corpus (window metric, NAB standard)\n\n"
        table += nab_table(anomaly) + "\n"
    (RESULTS_DIR / "RESULTS.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
