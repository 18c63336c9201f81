"""The ``opslake`` command: ``run`` the whole pipeline, ``query`` the catalog with SQL."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from opslake.config import Settings, load_settings
from opslake.exceptions import ConfigError, OpslakeError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

console = Console()
errors = Console(stderr=True)


def _table(title: str, frame: pd.DataFrame) -> Table:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*[f"{v:,.3f}" if isinstance(v, float) else str(v) for v in row])
    return table


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from opslake.lake.session import build_session
    from opslake.pipeline import run_pipeline
    from opslake.report import collect_summary, render_html, write_json
    from opslake.telemetry import GeneratorConfig

    config = GeneratorConfig(
        days=args.days, nodes=args.nodes, workloads=args.workloads, seed=settings.seed
    )
    started = time.perf_counter()
    sessions = []

    def factory():  # type: ignore[no-untyped-def]
        sessions.append(build_session(settings))
        return sessions[-1]

    with console.status("starting") as status:

        def progress(step: str) -> None:
            console.log(f"[bold]{step}[/bold] ({time.perf_counter() - started:.0f}s)")
            status.update(f"running {step}")

        try:
            outcome = run_pipeline(factory, settings, config, progress)
            progress("summary")
            summary = collect_summary(sessions[0], settings, outcome)
            progress("views")
            _apply_views_after_run(settings, sessions[0])
        finally:
            for spark in sessions:
                spark.stop()
    report = render_html(summary, settings.out_dir / "report.html")
    write_json(summary, settings.out_dir / "summary.json")
    rows = pd.DataFrame(sorted(summary.table_rows.items()), columns=["table", "rows"])
    console.print(_table("Rows per table", rows))
    console.print(_table("Ingest: rows in = accepted + rejected", summary.ingest))
    placement = summary.placement
    console.print(
        f"Placement: {int(placement['nodes_used'].sum())} nodes used vs lower bound "
        f"{int(placement['lower_bound'].sum())} over {len(placement)} pools "
        f"({settings.placement_algorithm})"
    )
    a = summary.anomaly
    console.print(
        f"Anomaly (point level vs injected labels): precision {a['precision']:.3f} "
        f"recall {a['recall']:.3f} F1 {a['f1']:.3f} ({a['flagged']} flagged, {a['labelled']} labelled)"
    )
    console.print(_table("Anomaly detection by injected type", summary.anomaly_by_type))
    console.print(_table("Carbon by provider", summary.carbon_by_provider))
    console.print(_table("Top carbon recommendations", summary.recommendations))
    console.print(f"Report: {report}   Lineage: {settings.lineage_file}")
    console.print(f"Done in {time.perf_counter() - started:.0f}s")
    return 0


def _apply_views_after_run(settings: Settings, spark: SparkSession) -> None:
    """Leave the sql/ views in place over the new tables, so ``opslake query @name`` works next.

    On Spark the run's session does it; a SQL engine that is down (Trino) does not fail a run whose
    tables are committed: it is reported, and ``opslake sql apply`` applies them later.
    """
    from opslake.exceptions import ServiceUnavailableError
    from opslake.query import apply_views, engine_for

    try:
        with engine_for(settings, spark) as engine:
            apply_views(engine, settings.catalog_name)
    except ServiceUnavailableError as exc:
        errors.print(f"views not applied ({escape(str(exc))}): run `opslake sql apply`")


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    from opslake.query import engine_dialect, engine_for, resolve

    # A canned query is resolved (and a wrong name reported) before an engine starts.
    sql = resolve(args.sql, settings.catalog_name, engine_dialect(settings))
    with engine_for(settings) as engine:
        frame = engine.query(sql, limit=args.limit)  # the engine stops at the limit
    console.print(_table(escape(args.sql), frame))  # the user's words: @name or their SQL
    return 0


def cmd_sql_apply(args: argparse.Namespace, settings: Settings) -> int:
    from opslake.query import apply_views, engine_for

    with engine_for(settings) as engine:
        for name in apply_views(engine, settings.catalog_name):
            console.print(f"applied sql/views/{name} ({engine.dialect})")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def cmd_lineage_replay(args: argparse.Namespace, settings: Settings) -> int:
    from opslake.lineage import make_sender, replay_spool

    sender = make_sender(settings)
    try:
        sent, left = replay_spool(settings, sender)
    finally:
        sender.close()
    console.print(
        f"lineage replay: {sent} sent to {sender.target}, {left} left in {settings.lineage_spool_file}"
    )
    return 0 if left == 0 else 1


def _stack_settings(args: argparse.Namespace) -> Settings:
    """Stack commands always use the stack profile; ``up`` first makes sure credentials exist."""
    from opslake.config import secrets_file
    from opslake.stack.manager import ensure_secrets

    if args.stack_command == "up":
        ensure_secrets(secrets_file().parent)  # OPSLAKE_STACK_DIR, or ./.stack
    return load_settings(args.profile or "stack")


def cmd_stack(args: argparse.Namespace, settings: Settings) -> int:
    from opslake.stack import manager

    services = args.services.split(",") if args.services else None
    if args.stack_command == "up":
        statuses = manager.up(settings, services, keep_going=True)
        for st in statuses:
            if st.error:
                console.print(f"{st.name:11} [red]FAILED[/red]  {st.error}", soft_wrap=True)
            else:
                console.print(
                    f"{st.name:11} healthy  pid {st.pid}  ports {st.ports}  ({st.seconds_to_healthy:.1f}s)"
                )
            if st.note:
                console.print(f"{'':11} {st.note}", soft_wrap=True, markup=False)
        return 1 if any(st.error for st in statuses) else 0
    elif args.stack_command == "down":
        stopped = manager.down(settings, services)
        console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    elif args.stack_command == "status":
        rows = manager.status(settings, services)
        for st in rows:
            state = "healthy" if st.healthy else ("running" if st.running else "stopped")
            console.print(f"{st.name:11} {state:8} pid {st.pid}  ports {st.ports}")
        return 0 if all(st.healthy for st in rows) else 3
    else:  # logs
        for name in services or manager.DEFAULT_SERVICES:
            path = manager.log_file(settings, name)
            console.rule(str(path))
            if path.exists():
                console.print(
                    "\n".join(path.read_text(errors="replace").splitlines()[-args.lines :]),
                    markup=False,
                )
    return 0


def cmd_airflow(args: argparse.Namespace, settings: Settings) -> int:
    """The ``airflow`` CLI with the stack's Airflow environment (database, keys, DAG folder)."""
    import subprocess

    from opslake.stack.airflow import airflow_bin, airflow_env

    argv = [str(airflow_bin()), *args.airflow_args]
    return subprocess.run(argv, env={**os.environ, **airflow_env(settings)}, check=False).returncode


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    """``opslake gateway`` serves; ``token`` mints a JWT; ``apikey``/``revoke`` manage API keys."""
    from opslake.gateway import keys
    from opslake.gateway.auth import mint_token
    from opslake.gateway.config import gateway_config

    config = gateway_config(settings)
    action = args.gateway_command or "serve"
    if action == "serve":
        from opslake.gateway.app import serve

        serve(settings)
        return 0
    password = keys.init_state(config.state_dir)
    if password:
        errors.print(
            f"created gateway login 'admin' with password {password} (shown once, stored hashed)",
            markup=False,
        )
    if action == "init":
        console.print(f"gateway state in {config.state_dir}")
    elif action == "token":
        ttl = args.ttl or config.token_ttl_s
        token = mint_token(
            config.state_dir, args.subject, args.role, config.issuer, config.audience, ttl
        )
        print(token)  # bare, for $(opslake gateway token)
    elif action == "apikey":
        print(keys.create_api_key(config.state_dir, args.subject, args.role))
    elif action == "revoke":
        if not args.key:
            raise ConfigError("give the API key or its id: opslake gateway revoke --key olk_...")
        console.print(f"revoked API key {keys.revoke_api_key(config.state_dir, args.key)}")
    else:  # rotate
        console.print(f"new signing key {keys.rotate_signing_key(config.state_dir)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opslake", description=__doc__)
    parser.add_argument("--profile", default=None, help="configuration profile (default: embedded)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="generate telemetry and run every job in order")
    run.add_argument("--days", type=int, default=7)
    run.add_argument("--nodes", type=int, default=200)
    run.add_argument("--workloads", type=int, default=2000)
    run.set_defaults(func=cmd_run)
    query = sub.add_parser("query", help="run SQL against the catalog (Trino in the stack profile)")
    query.add_argument(
        "sql",
        help="a SQL statement in the engine's dialect, or @name for sql/queries/<name>.sql",
    )
    query.add_argument("--limit", type=_positive_int, default=100, help="most rows to return")
    query.set_defaults(func=cmd_query)
    sql = sub.add_parser("sql", help="apply the views in sql/views (Trino, or Spark SQL embedded)")
    sql.add_argument("sql_command", choices=["apply"])
    sql.set_defaults(func=cmd_sql_apply)
    lineage = sub.add_parser(
        "lineage", help="re-send spooled OpenLineage events the transport could not deliver"
    )
    lineage.add_argument("lineage_command", choices=["replay"])
    lineage.set_defaults(func=cmd_lineage_replay)
    stack = sub.add_parser(
        "stack",
        help="native services: PostgreSQL, MinIO, Trino, Marquez (API + web), Spark master + worker",
    )
    stack.add_argument("stack_command", choices=["up", "down", "status", "logs"])
    stack.add_argument("--services", default="", help="comma-separated subset (default: all)")
    stack.add_argument("--lines", type=int, default=40, help="log lines per service (logs)")
    stack.set_defaults(func=cmd_stack, settings_factory=_stack_settings)
    airflow = sub.add_parser(
        "airflow", help="the airflow CLI against the stack's Airflow, e.g. `backfill create ...`"
    )
    airflow.add_argument("airflow_args", nargs=argparse.REMAINDER)
    airflow.set_defaults(
        func=cmd_airflow, settings_factory=lambda a: load_settings(a.profile or "stack")
    )
    gateway = sub.add_parser(
        "gateway",
        help="the admin gateway: serve (default), mint a token, manage API keys and signing keys",
    )
    gateway.add_argument(
        "gateway_command",
        nargs="?",
        choices=["serve", "init", "token", "apikey", "revoke", "rotate"],
        default="serve",
    )
    gateway.add_argument("--role", default="admin", choices=["admin", "user", "readonly"])
    gateway.add_argument("--subject", default="admin", help="identity named in the token or key")
    gateway.add_argument("--ttl", type=_positive_int, default=0, help="token lifetime, seconds")
    gateway.add_argument("--key", default="", help="API key (or its id) to revoke")
    gateway.set_defaults(func=cmd_gateway)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        factory = getattr(args, "settings_factory", None)
        settings = factory(args) if factory else load_settings(args.profile)
        return int(args.func(args, settings))
    except OpslakeError as exc:  # a problem the user can fix: a message, not a traceback
        errors.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
