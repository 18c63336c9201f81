"""The admin gateway's cost on loopback: requests/s and the latency it adds to calling the upstream directly.

Three processes on this machine's loopback, each on a free port:

- the **upstream**: a bare ASGI app under uvicorn answering every GET with a fixed 1 KiB body. It is
  not a datalake service on purpose: it costs next to nothing, so what the gateway adds is what shows.
- the **gateway**: ``build_app(config)`` served with the gateway's own ``server_config`` (what
  ``opslake gateway serve`` runs), routing ``/datalake/trino/`` to the upstream, with its state (RSA keys)
  in a temporary directory, the audit log on and the benchmark identity's rate limit raised so no 429
  is measured.
- the **load generator**: N keep-alive HTTP/1.1 connections on asyncio streams (uvloop), each sending
  GETs one after another (closed loop) until a request count or a time bound is reached. It is a small
  hand-written client rather than httpx: it speaks plain HTTP/1.1 but spends far less CPU per request,
  which matters when client, gateway and upstream share two cores.

The same load runs against the upstream directly (baseline) and through the gateway with an admin
Bearer JWT, alternating, several rounds; figures are the median round. Throughput is measured with
many connections (saturating, closed loop), latency at a fixed offered rate (open loop). Every response
must be 200 with the full body, and the gateway must write one audit line per proxied request.

This machine is shared (other builds and tests run beside the benchmark), and each request through
the gateway wakes three processes instead of one, so queueing for a CPU behind unrelated work shows
up as "added latency". The latency phase therefore runs twice: with ordinary scheduling, and (when
allowed: root) "isolated", with the benchmark's processes at real-time priority for the paced phase
only (~30% of one core), which measures what the gateway itself adds. Both are reported; the gateway's
CPU time per request, which other work does not inflate much, is reported too.

python -m benchmarks.bench_gateway [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from benchmarks.common import BenchRow

BODY = b"x" * 1024
ROUTE = "/datalake/trino/v1/info"
ISSUER, AUDIENCE = "opslake-bench", "opslake-bench"
THROUGHPUT_CONNECTIONS = 32
LATENCY_CONNECTIONS = 16
LATENCY_RATE = 500.0  # req/s offered in the latency phases: half the throughput target
ISOLATED_PRIORITY = 10  # SCHED_FIFO priority of the "isolated" latency phase


# --- the upstream ------------------------------------------------------------------------------


async def _upstream_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A fixed 1 KiB answer to any HTTP request."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(len(BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def _serve_upstream(port: int) -> None:
    import uvicorn

    uvicorn.run(
        _upstream_app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


# --- the gateway -------------------------------------------------------------------------------


def _serve_gateway(port: int, upstream_url: str, state_dir: str) -> None:
    import uvicorn

    from opslake.gateway.app import build_app, server_config

    config = gateway_config(Path(state_dir), upstream_url)
    uvicorn.Server(server_config(build_app(config), "127.0.0.1", port)).run()


def gateway_config(state_dir: Path, upstream_url: str) -> Any:
    """The gateway routing ``/datalake/trino/`` to the upstream; no rate limit gets in the way."""
    from opslake.gateway.config import GatewayConfig, Upstream

    return GatewayConfig(
        state_dir=state_dir,
        upstreams=(Upstream("trino", "/datalake/trino/", upstream_url, strip="/datalake/trino"),),
        issuer=ISSUER,
        audience=AUDIENCE,
        rate_per_s=1e6,
        rate_burst=1_000_000,
        audit_log=state_dir / "audit.jsonl",
    )


# --- the load generator ------------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    """Status and body length of one HTTP/1.1 response (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = -1
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        await reader.readexactly(max(length, 0))
        return status, max(length, 0)
    size = 0
    while True:
        chunk = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(chunk + 2)
        size += chunk
        if chunk == 0:
            return status, size


async def _connection(
    port: int,
    request: bytes,
    budget: list[int],
    deadline: float,
    out: dict[str, Any],
    interval: float = 0.0,
    first_at: float = 0.0,
) -> None:
    """One keep-alive connection sending requests one after another.

    ``interval`` 0: each request as soon as the previous answer is in (closed loop). Otherwise one
    request every ``interval`` seconds from ``first_at`` (open loop): a request that could not start
    on time because the previous answer was late is timed from when it should have started, so a
    slow answer also counts against the requests queued behind it (no coordinated omission).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    latencies: list[float] = out["latencies"]
    due = first_at
    try:
        while budget[0] > 0 and time.perf_counter() < deadline:
            budget[0] -= 1
            now = time.perf_counter()
            if interval and due > now:
                await asyncio.sleep(due - now)
                now = (
                    time.perf_counter()
                )  # idle until due: the timer's lateness is not the server's
            started = min(now, due) if interval else now
            writer.write(request)
            status, size = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            out["statuses"][status] = out["statuses"].get(status, 0) + 1
            if size != len(BODY):
                out["short"] += 1
            due += interval
    finally:
        writer.close()


async def _load(
    port: int,
    path: str,
    token: str,
    connections: int,
    requests: int,
    seconds: float,
    rate: float = 0.0,
) -> dict[str, Any]:
    """``requests`` GETs of ``path`` within ``seconds`` over ``connections`` connections.

    ``rate`` 0 sends as fast as answers come back; otherwise ``rate`` requests a second in all,
    spread evenly over the connections.
    """
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}\r\n".encode()
    out: dict[str, Any] = {"latencies": [], "statuses": {}, "short": 0}
    budget = [requests]
    started = time.perf_counter()
    deadline = started + seconds
    interval = connections / rate if rate else 0.0
    await asyncio.gather(
        *(
            _connection(port, request, budget, deadline, out, interval, started + i / rate)
            if rate
            else _connection(port, request, budget, deadline, out)
            for i in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    lat = sorted(out["latencies"])
    return {
        "requests": len(lat),
        "seconds": elapsed,
        "rps": len(lat) / elapsed,
        "p50_ms": _quantile(lat, 0.50) * 1000,
        "p95_ms": _quantile(lat, 0.95) * 1000,
        "p99_ms": _quantile(lat, 0.99) * 1000,
        "statuses": out["statuses"],
        "short": out["short"],
    }


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _loadgen(conn: Connection) -> None:
    """The load-generator process: runs ``_load`` for each command received, answers its summary."""
    import uvloop

    while True:
        command = conn.recv()
        if command is None:
            return
        conn.send(uvloop.run(_load(*command)))


# --- orchestration -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process has used (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def can_isolate() -> bool:
    """Whether this process may give the benchmark's processes real-time priority (root)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(ISOLATED_PRIORITY))
    except (OSError, AttributeError):
        return False
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return True


@contextlib.contextmanager
def _realtime(pids: list[int | None]) -> Iterator[None]:
    """The processes' main threads (their event loops) at SCHED_FIFO for the block's duration.

    Used for the paced phases only: they need ~30% of one core, so the rest of the machine keeps
    running; the kernel caps real-time tasks at 95% of the CPU time in any case.
    """
    done = []
    try:
        for pid in pids:
            if pid is not None:
                os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(ISOLATED_PRIORITY))
                done.append(pid)
        yield
    finally:
        for pid in done:
            with contextlib.suppress(OSError):
                os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))


def _wait_listening(port: int, process: BaseProcess, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.is_alive():
            raise RuntimeError(f"server on port {port} exited ({process.exitcode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start in {timeout:.0f}s")


class Bench:
    """The three processes, started on entry and stopped on exit."""

    def __init__(self, state_dir: Path) -> None:
        from opslake.gateway.auth import mint_token
        from opslake.gateway.keys import init_state

        init_state(state_dir)
        self.state_dir = state_dir
        self.token = mint_token(state_dir, "bench", "admin", ISSUER, AUDIENCE, 3600)
        self.upstream_port, self.gateway_port = _free_port(), _free_port()
        ctx = mp.get_context("spawn")
        upstream_url = f"http://127.0.0.1:{self.upstream_port}"
        self.processes: list[BaseProcess] = [
            ctx.Process(target=_serve_upstream, args=(self.upstream_port,), daemon=True),
            ctx.Process(
                target=_serve_gateway,
                args=(self.gateway_port, upstream_url, str(state_dir)),
                daemon=True,
            ),
        ]
        self.conn, child = ctx.Pipe()
        self.processes.append(ctx.Process(target=_loadgen, args=(child,), daemon=True))

    def __enter__(self) -> Bench:
        for process in self.processes:
            process.start()
        _wait_listening(self.upstream_port, self.processes[0])
        _wait_listening(self.gateway_port, self.processes[1])
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join(5)

    def run(
        self,
        via_gateway: bool,
        connections: int,
        requests: int,
        seconds: float,
        rate: float = 0.0,
        isolated: bool = False,
    ) -> dict[str, Any]:
        port = self.gateway_port if via_gateway else self.upstream_port
        path = ROUTE if via_gateway else ROUTE.removeprefix("/datalake/trino")
        token = self.token if via_gateway else ""
        gateway_pid = self.processes[1].pid
        cpu_before = _cpu_seconds(gateway_pid)
        with _realtime([p.pid for p in self.processes]) if isolated else contextlib.nullcontext():
            self.conn.send((port, path, token, connections, requests, seconds, rate))
            result: dict[str, Any] = self.conn.recv()
        # CPU per request holds up when other work shares the cores; wall-clock figures do not.
        cpu = _cpu_seconds(gateway_pid) - cpu_before
        result["gateway_cpu_ms"] = 1000 * cpu / max(result["requests"], 1)
        bad = {s: n for s, n in result["statuses"].items() if s != 200}
        if bad or result["short"]:
            where = "gateway" if via_gateway else "upstream"
            raise RuntimeError(f"{where}: non-200 answers {bad}, short bodies {result['short']}")
        return result

    def audit_lines(self) -> int:
        with (self.state_dir / "audit.jsonl").open("rb") as handle:
            return sum(1 for _ in handle)


def measure(quick: bool) -> dict[str, Any]:
    """Alternating direct/gateway rounds of a throughput phase and latency phases."""
    rounds = 2 if quick else 4
    seconds = 0.8 if quick else 2.5
    cap = 20_000 if quick else 50_000  # requests per phase: bounds the count whatever the speed
    phases = {  # connections, offered rate (0: as fast as answers come), real-time priority
        "throughput": (THROUGHPUT_CONNECTIONS, 0.0, False),
        "latency": (LATENCY_CONNECTIONS, LATENCY_RATE, False),
    }
    if can_isolate():
        phases["latency_isolated"] = (LATENCY_CONNECTIONS, LATENCY_RATE, True)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="opslake-gw-bench-") as tmp:
        state = Path(tmp) / "state"
        with Bench(state) as bench:
            for via in (False, True):  # warm-up: imports, caches, the upstream connection pool
                bench.run(via, THROUGHPUT_CONNECTIONS, 2_000, 0.5 if quick else 1.0)
            time.sleep(0.3)  # an audit line is written once its response is sent: let them land
            audited_before = bench.audit_lines()
            proxied = 0
            results: dict[str, dict[str, list[dict[str, Any]]]] = {
                phase: {"direct": [], "gateway": []} for phase in phases
            }
            for _ in range(rounds):
                for phase, (connections, rate, isolated) in phases.items():
                    for via in (False, True):
                        result = bench.run(via, connections, cap, seconds, rate, isolated)
                        results[phase]["gateway" if via else "direct"].append(result)
                        proxied += result["requests"] if via else 0
            time.sleep(0.3)
            audited = bench.audit_lines() - audited_before
    # What else ran: other work on the machine stretches the wall-clock figures (not the CPU ones).
    load = (load_before, os.getloadavg()[0])
    return {
        "results": results,
        "proxied": proxied,
        "audited": audited,
        "rounds": rounds,
        "load": load,
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def rows_from(measured: dict[str, Any]) -> list[BenchRow]:
    results = measured["results"]
    thr_gw, thr_direct = results["throughput"]["gateway"], results["throughput"]["direct"]
    gw_rps, direct_rps = _median(thr_gw, "rps"), _median(thr_direct, "rps")
    best_rps = max(r["rps"] for r in thr_gw)
    count = sum(r["requests"] for phase in results.values() for r in phase["gateway"])
    audited_ok = measured["audited"] == measured["proxied"]
    rows = [
        BenchRow(
            benchmark="gateway",
            metric=f"requests/s through the gateway ({THROUGHPUT_CONNECTIONS} keep-alive connections)",
            value=gw_rps,
            unit="req/s",
            baseline=direct_rps,
            baseline_name="same load direct to the upstream",
            target=">= 1000 req/s",
            met=gw_rps >= 1000 and audited_ok,
            note=(
                f"median of {measured['rounds']} rounds (best {best_rps:,.0f}); admin JWT, 1 KiB "
                f"answers, all {count:,} gateway answers 200; audit lines {measured['audited']:,} "
                f"for {measured['proxied']:,} proxied; client, gateway and upstream share 2 cores "
                f"(load average {measured['load'][0]:.1f} before, {measured['load'][1]:.1f} after)"
            ),
            extra={"gateway": thr_gw, "direct": thr_direct},
        )
    ]
    isolated = "latency_isolated" in results
    if isolated:
        rows += latency_rows(measured, "latency_isolated", ("p50", "p95", "p99"), target=True)
    rows += latency_rows(measured, "latency", ("p95",) if isolated else ("p50", "p95", "p99"),
                         target=not isolated)  # fmt: skip
    cpu = _median(thr_gw, "gateway_cpu_ms")  # saturated: no idle wake-ups in the figure
    rows.append(
        BenchRow(
            benchmark="gateway",
            metric="gateway CPU time per proxied request",
            value=cpu,
            unit="ms",
            note=(
                f"user + system CPU of the gateway process / requests (median of the throughput "
                f"phases): at most "
                f"{1000 / cpu:,.0f} req/s per core however busy the machine is"
            ),
        )
    )
    # The latency at the saturating load too: what a burst of many clients sees.
    gw95, direct95 = _median(thr_gw, "p95_ms"), _median(thr_direct, "p95_ms")
    rows.append(
        BenchRow(
            benchmark="gateway",
            metric=f"p95 latency at saturation ({THROUGHPUT_CONNECTIONS} connections)",
            value=gw95,
            unit="ms",
            baseline=direct95,
            baseline_name="direct p95 at the same concurrency",
            note="closed loop: mostly queueing, latency ~ connections / throughput",
        )
    )
    return rows


def latency_rows(
    measured: dict[str, Any], phase: str, quantiles: tuple[str, ...], target: bool
) -> list[BenchRow]:
    """Latency the gateway adds in a paced phase, per quantile."""
    lat_gw, lat_direct = measured["results"][phase]["gateway"], measured["results"][phase]["direct"]
    how = (
        "the benchmark's processes at real-time priority (SCHED_FIFO) while paced, so other work "
        "on the shared machine does not preempt them"
        if phase == "latency_isolated"
        else "ordinary scheduling, sharing the cores with whatever else runs"
    )
    rows = []
    for q in quantiles:
        key = f"{q}_ms"
        gw, direct = _median(lat_gw, key), _median(lat_direct, key)
        # Per round, gateway minus the direct run just before it (the same neighbours on the CPUs).
        added = statistics.median(g[key] - d[key] for g, d in zip(lat_gw, lat_direct, strict=True))
        rows.append(
            BenchRow(
                benchmark="gateway",
                metric=(
                    f"{q} latency added at {LATENCY_RATE:.0f} req/s offered"
                    + (" (isolated)" if phase == "latency_isolated" else " (shared CPUs)")
                ),
                value=added,
                unit="ms",
                target="< 5 ms" if target and q == "p95" else "",
                met=added < 5 if target and q == "p95" else None,
                note=(
                    f"median over {measured['rounds']} rounds of gateway - direct (medians: gateway "
                    f"{gw:.2f} ms, direct {direct:.2f} ms); open loop over {LATENCY_CONNECTIONS} "
                    f"connections, timed from when each request was due; {how}"
                ),
                extra={"gateway": lat_gw, "direct": lat_direct},
            )
        )
    return rows


def run(quick: bool = False) -> list[BenchRow]:
    return rows_from(measure(quick))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    for row in run(args.quick):
        print(f"{row.metric}: {row.value:.4g} {row.unit} (baseline {row.baseline}) {row.note}")
    print(f"{time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
