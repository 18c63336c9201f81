"""A small client of the stack's Airflow REST API v2: log in, trigger, backfill, wait, inspect.

Used by the stack tests and the orchestration benchmark; needs the ``airflow`` extra (httpx).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any

import httpx

from opslake.config import Settings
from opslake.stack import airflow

FINISHED = {"success", "failed"}


class AirflowClient:
    """The stack's api-server, logged in as the generated admin."""

    def __init__(self, settings: Settings) -> None:
        self.base = airflow.api_url(settings)
        token = httpx.post(
            f"{self.base}/auth/token",
            json={"username": settings.airflow_admin_user,
                  "password": settings.airflow_admin_password.get_secret_value()},
            timeout=30,
        )  # fmt: skip
        token.raise_for_status()
        self.http = httpx.Client(
            base_url=f"{self.base}/api/v2",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=60,
        )

    def get(self, path: str, **params: Any) -> Any:
        resp = self.http.get(path, params=params)
        resp.raise_for_status()
        return resp.json()

    def send(
        self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any
    ) -> Any:
        resp = self.http.request(method, path, json=body, params=params)
        if resp.status_code >= 400:
            raise AssertionError(f"{method} {path}: {resp.status_code} {resp.text}")
        return resp.json() if resp.content else None

    def wait_parsed(self, dag_ids: Iterable[str], timeout_s: float = 180) -> None:
        """Wait until the dag-processor has serialized every DAG in ``dag_ids``."""
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout_s
        while True:
            found = {d["dag_id"] for d in self.get("/dags", limit=100)["dags"]}
            if wanted <= found:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"DAGs not parsed after {timeout_s}s: {wanted - found}")
            time.sleep(2)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.send("PATCH", f"/dags/{dag_id}", {"is_paused": paused})

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(
            self.get(f"/dags/{dag_id}/dagRuns", limit=100, order_by="-run_after")["dag_runs"]
        )

    def delete_runs(self, dag_id: str) -> None:
        """Forget every run of ``dag_id`` (a test starts from a known history)."""
        for run in self.runs(dag_id):
            self.send("DELETE", f"/dags/{dag_id}/dagRuns/{quote(run['dag_run_id'])}")

    def clear_queued_asset_events(self, dag_id: str) -> None:
        """Drop Asset events waiting to trigger ``dag_id`` (404: there were none)."""
        resp = self.http.delete(f"/dags/{dag_id}/assets/queuedEvents")
        if resp.status_code not in (204, 404):
            raise AssertionError(
                f"clearing queued events of {dag_id}: {resp.status_code} {resp.text}"
            )

    def trigger(self, dag_id: str, start: str, end: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger ``dag_id`` for the data interval ``[start, end)``; returns the run id."""
        body = {"logical_date": end, "data_interval_start": start, "data_interval_end": end,
                "conf": conf or {}}  # fmt: skip
        return str(self.send("POST", f"/dags/{dag_id}/dagRuns", body)["dag_run_id"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id)}"))

    def wait_run(self, dag_id: str, run_id: str, timeout_s: float = 900) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in FINISHED:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"{dag_id} {run_id} still {run['state']} after {timeout_s}s")
            time.sleep(3)

    def wait_idle(self, dag_ids: Iterable[str], timeout_s: float = 900) -> None:
        """Wait until no run of ``dag_ids`` is queued or running (asset-triggered ones included)."""
        deadline = time.monotonic() + timeout_s
        while True:
            busy = [
                (d, r["state"]) for d in dag_ids for r in self.runs(d) if r["state"] not in FINISHED
            ]
            if not busy:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"still busy after {timeout_s}s: {busy}")
            time.sleep(3)

    def backfill(
        self,
        dag_id: str,
        from_date: str,
        to_date: str,
        reprocess: str = "none",
        max_active_runs: int = 1,
    ) -> int:
        """Start a backfill of ``dag_id`` over ``[from_date, to_date]`` (ISO); returns its id.

        ``reprocess``: ``none`` (only missing runs), ``failed`` or ``completed`` (re-run everything).
        """
        body = {"dag_id": dag_id, "from_date": from_date, "to_date": to_date,
                "reprocess_behavior": reprocess, "max_active_runs": max_active_runs}  # fmt: skip
        return int(self.send("POST", "/backfills", body)["id"])

    def wait_backfill(
        self, dag_id: str, backfill_id: int, timeout_s: float = 900
    ) -> list[dict[str, Any]]:
        """Wait until the backfill completed; returns its runs (by data interval, oldest first)."""
        deadline = time.monotonic() + timeout_s
        while (backfill := self.get(f"/backfills/{backfill_id}"))["completed_at"] is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"backfill {backfill_id} not done in {timeout_s}s")
            time.sleep(3)
        return self.backfill_runs(dag_id, backfill["from_date"], backfill["to_date"])

    def backfill_runs(self, dag_id: str, from_date: str, to_date: str) -> list[dict[str, Any]]:
        """Backfill runs of ``dag_id`` whose data interval starts in ``[from_date, to_date]``."""
        lo, hi = _instant(from_date), _instant(to_date)
        runs = [r for r in self.runs(dag_id) if r["run_type"] == "backfill"
                and lo <= _instant(r["data_interval_start"]) <= hi]  # fmt: skip
        return sorted(runs, key=lambda r: _instant(r["data_interval_start"]))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances"
        return list(self.get(path)["task_instances"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/logs/{try_number}"
        resp = self.http.get(path, headers={"Accept": "application/json"})
        resp.raise_for_status()
        # Structured log records (event, level, error details); one JSON line each.
        return "\n".join(json.dumps(r) if isinstance(r, dict) else str(r)
                         for r in resp.json()["content"])  # fmt: skip


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def quote(run_id: str) -> str:
    """Run ids hold ``+`` and ``:``: they must be escaped in a URL path."""
    return urllib.parse.quote(run_id, safe="")
