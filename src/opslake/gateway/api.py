"""The decision API, ``/api/v1/…``: the platform's decisions, read only, for services and people.

Four questions, each one SQL file in ``sql/api`` (Trino SQL, transpiled for Spark like ``sql/views``):
the latest placement plan per pool, a node's anomaly events in a time range, carbon by provider, region
and day, and the carbon recommendations of a day. Query parameters are validated by pydantic models and
bound into the SQL as literals built by sqlglot (quoted and escaped for the engine's dialect), never by
pasting text. Pages are keyset pages: ``next_page_token`` is an opaque, base64url JSON of the last
row's sort key and a fingerprint of the filters it belongs to.

Every call goes through the gateway's own checks: authentication (Bearer JWT, API key or session
cookie; 401), a role among ``admin``, ``user`` and ``readonly`` (403), the per-identity rate limit
(429) and one audit line with route ``api``. The engine (Trino on the stack profile, Spark embedded) is
opened once per application, on first use (so the gateway starts while Trino is still starting), and
closed with the application; its blocking calls run in worker threads, at most
``ApiConfig.max_concurrency`` at a time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    ExitStack,
    asynccontextmanager,
)
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import anyio
import anyio.to_thread
import pandas as pd
import sqlglot
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.json_schema import models_json_schema
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from opslake.config import Settings
from opslake.exceptions import QueryError, ServiceUnavailableError
from opslake.gateway.auth import AuthError, Identity
from opslake.gateway.config import Upstream
from opslake.gateway.proxy import Exchange
from opslake.gateway.ratelimit import retry_after
from opslake.query import SOURCE_DIALECT, QueryEngine, engine_for, render, sql_dir

if TYPE_CHECKING:
    from opslake.gateway.app import Gateway

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
API_ROLES = ("admin", "user", "readonly")
READ_METHODS = ("GET", "HEAD")
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
# The route name of every decision API call in audit lines and metrics.
API_ROUTE = Upstream("api", API_PREFIX + "/", "")

# Names (pools, nodes, providers, regions) are whatever the sources call them, e.g.
# "azure-westeurope-D4s_v5" or a Prometheus instance "10.0.0.7:9100": printable ASCII, quotes and
# backslashes included, since values reach SQL only as escaped literals (``bind``). A path segment
# cannot hold "/" or a space.
NAME_PATTERN = r"^[ -~]{1,256}$"
SEGMENT_PATTERN = r"^[!-.0-~]{1,256}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=256)]
Segment = Annotated[str, Field(pattern=SEGMENT_PATTERN, max_length=256)]
PageSize = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)]
PageToken = Annotated[str, Field(min_length=1, max_length=2048)]


# --- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiConfig:
    """Where the decision API reads and with which engine.

    Attributes:
        catalog: Catalog holding the tables (``lake``).
        engine: Opens the engine (a context manager, closed when the application stops).
        analytics: Namespace of the analytics tables and views.
        max_concurrency: Engine calls running at once; more wait for a free slot.
        sql_dir: Folder holding ``api/*.sql`` (the shipped ``sql/`` when None).
    """

    catalog: str
    engine: Callable[[], AbstractContextManager[QueryEngine]]
    analytics: str = "analytics"
    max_concurrency: int = 4
    sql_dir: Path | None = None


def api_config(settings: Settings) -> ApiConfig:
    """The decision API over the catalog and engine ``settings`` name (``sql_engine``)."""
    return ApiConfig(catalog=settings.catalog_name, engine=partial(engine_for, settings))


# --- parameters -----------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    """An aware UTC datetime (a naive one is read as UTC); ValueError when out of range."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time out of range") from None


class Params(BaseModel):
    """Query parameters: unknown ones are refused (a typo must not silently widen the answer)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PlansParams(Params):
    pool: Name | None = Field(None, description="Only this pool's plan.", examples=["p1"])
    page_size: PageSize = Field(DEFAULT_PAGE_SIZE, description="Rows per page (at most 1000).")
    page_token: PageToken | None = Field(
        None, description="`next_page_token` of the previous page."
    )


class PoolPlanParams(Params):
    page_size: PageSize = Field(
        DEFAULT_PAGE_SIZE, description="Assignments per page (at most 1000)."
    )
    page_token: PageToken | None = Field(
        None, description="`next_page_token` of the previous page."
    )


class EventsParams(Params):
    node_id: Name = Field(description="The node.", examples=["n1"])
    start: datetime = Field(
        description="Range start (RFC 3339; without an offset: UTC). Events ending at or after it."
    )
    end: datetime = Field(description="Range end, exclusive: events starting before it.")
    page_size: PageSize = Field(DEFAULT_PAGE_SIZE, description="Rows per page (at most 1000).")
    page_token: PageToken | None = Field(
        None, description="`next_page_token` of the previous page."
    )

    @field_validator("start", "end")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return _utc(value)

    @model_validator(mode="after")
    def _ordered(self) -> EventsParams:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class CarbonDailyParams(Params):
    provider: Name | None = Field(
        None, description="Only this provider (aws, gcp, azure, ...).", examples=["aws"]
    )
    region: Name | None = Field(None, description="Only this region.", examples=["eu-west-1"])
    start: date | None = Field(None, description="First day (inclusive).")
    end: date | None = Field(None, description="Last day (inclusive).")
    page_size: PageSize = Field(DEFAULT_PAGE_SIZE, description="Rows per page (at most 1000).")
    page_token: PageToken | None = Field(
        None, description="`next_page_token` of the previous page."
    )

    @model_validator(mode="after")
    def _ordered(self) -> CarbonDailyParams:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError("start must not be after end")
        return self


class RecommendationsParams(Params):
    dt: date | None = Field(None, description="The day (default: the latest with any advice).")
    kind: Literal["time_shift", "location_shift"] | None = Field(
        None, description="Only this kind."
    )
    page_size: PageSize = Field(DEFAULT_PAGE_SIZE, description="Rows per page (at most 1000).")
    page_token: PageToken | None = Field(
        None, description="`next_page_token` of the previous page."
    )


class PoolPath(Params):
    pool: Segment = Field(description="The pool.", examples=["p1"])


# --- responses ------------------------------------------------------------------------------------


class PoolPlan(BaseModel):
    """The latest placement run of one pool: nodes used against the lower bound."""

    pool_id: str
    dt: date = Field(description="Day of the run (the plan's date).")
    algorithm: str | None
    workloads: int | None = Field(description="Workloads placed in this pool.")
    nodes_used: int | None
    lower_bound: int | None = Field(description="Fewest nodes any packing could use (L1/L2 bound).")
    gap: float | None = Field(description="(nodes_used - lower_bound) / lower_bound.")
    cpu_utilisation: float | None
    mem_utilisation: float | None
    cost_per_hour: float | None
    grid_gco2_per_kwh: float | None


class Assignment(BaseModel):
    """One workload of a pool's plan: the node it goes to, or why it was not placed."""

    workload_id: str
    node_index: int | None
    placed: bool | None
    reason: str | None
    score: float | None
    algorithm: str | None


class PlanPage(BaseModel):
    items: list[PoolPlan]
    next_page_token: str | None = Field(
        description="Pass as page_token for the next page; null at the end."
    )


class PoolPlanDetail(BaseModel):
    plan: PoolPlan
    assignments: list[Assignment] = Field(description="The plan's workloads, by workload_id.")
    next_page_token: str | None = Field(description="Pass as page_token for the next assignments.")


class AnomalyEvent(BaseModel):
    """An alert: a node metric's consecutive exceedances merged into one event."""

    node_id: str
    metric: str
    start_ts: datetime
    end_ts: datetime | None
    peak_ts: datetime | None
    peak_score: float | None
    rows: int | None = Field(description="5-minute samples in the event.")
    reason: str | None
    provider: str | None
    region: str | None
    dt: date | None = Field(description="Start date (the table's partition).")
    detector_version: str | None


class EventPage(BaseModel):
    items: list[AnomalyEvent]
    next_page_token: str | None = Field(
        description="Pass as page_token for the next page; null at the end."
    )


class CarbonDay(BaseModel):
    """Energy and emissions of one provider and region on one day."""

    dt: date
    provider: str
    region: str
    nodes: int | None
    vcpu_hours: float | None
    kwh: float | None
    operational_kgco2e: float | None
    embodied_kgco2e: float | None
    kgco2e: float | None
    sci_gco2e_per_vcpu_hour: float | None = Field(
        description="gCO2e per vCPU-hour; null without use."
    )


class CarbonDayPage(BaseModel):
    items: list[CarbonDay]
    next_page_token: str | None = Field(
        description="Pass as page_token for the next page; null at the end."
    )


class Recommendation(BaseModel):
    """Time- or location-shift advice for one placed workload."""

    dt: date
    workload_id: str
    kind: str
    current: str | None
    suggested: str | None
    current_gco2e: float | None
    suggested_gco2e: float | None
    saving_gco2e: float
    saving_pct: float | None


class RecommendationPage(BaseModel):
    items: list[Recommendation]
    next_page_token: str | None = Field(
        description="Pass as page_token for the next page; null at the end."
    )


class ErrorBody(BaseModel):
    """Every error answer."""

    error: str = Field(description="What went wrong, in a few words.")
    detail: str | None = Field(None, description="Specifics: the parameter, the service, ...")


# --- SQL binding ----------------------------------------------------------------------------------

SqlValue = str | int | float | bool | None


def sql_literal(value: SqlValue) -> exp.Expression:
    """``value`` as a SQL literal node; sqlglot quotes and escapes it for the target dialect.

    Raises ValueError for text holding NUL and for non-finite floats (no engine reads them back).
    """
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot bind non-finite float {value!r}")
        return exp.cast(exp.Literal.number(repr(value)), exp.DataType.Type.DOUBLE)
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("cannot bind text holding NUL")
        return exp.Literal.string(value)
    raise TypeError(f"cannot bind {type(value).__name__}")


def bind(sql: str, params: Mapping[str, SqlValue], dialect: str) -> str:
    """``sql`` (Trino, with ``:name`` placeholders) in ``dialect`` with each placeholder a literal.

    Every placeholder must have a value and every value a placeholder (ValueError otherwise).
    """
    tree = sqlglot.parse_one(sql, read=SOURCE_DIALECT)
    names = {node.name for node in tree.find_all(exp.Placeholder)}
    if names != set(params):
        raise ValueError(f"placeholders {sorted(names)} do not match parameters {sorted(params)}")

    def replace(node: exp.Expression) -> exp.Expression:
        return sql_literal(params[node.name]) if isinstance(node, exp.Placeholder) else node

    try:
        return tree.transform(replace).sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise QueryError(f"cannot translate the API SQL to {dialect}: {exc}") from exc


def ts_text(value: datetime) -> str:
    """A UTC instant as text both Trino and Spark cast to a timestamp (with time zone)."""
    v = _utc(value)  # strftime's %Y does not pad years below 1000, which the engines refuse
    return f"{v.year:04d}-{v:%m-%d %H:%M:%S.%f} UTC"


# --- page tokens ----------------------------------------------------------------------------------


def _bad_token(detail: str = "page_token is not one this API issued") -> ApiError:
    return ApiError(400, "invalid page_token", detail)


def fingerprint(operation: str, filters: Mapping[str, Any]) -> str:
    """A short digest of the operation and filters a page token belongs to."""
    text = json.dumps([operation, filters], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_token(fp: str, key: Sequence[SqlValue]) -> str:
    data = json.dumps({"f": fp, "k": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_token(token: str, fp: str, kinds: Sequence[type]) -> list[SqlValue]:
    """The sort key in ``token``, checked against the filters' fingerprint and the key's types.

    Raises ApiError (400) for anything but a token this API issued for the same filters.
    """
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise _bad_token() from None
    if not isinstance(data, dict) or not isinstance(data.get("k"), list):
        raise _bad_token()
    if data.get("f") != fp:
        raise _bad_token("page_token belongs to other filters (or the data changed since)")
    key: list[SqlValue] = []
    for value, kind in zip(data["k"], kinds, strict=False):
        if kind is str and isinstance(value, str) and "\x00" not in value and len(value) <= 512:
            key.append(value)
        elif kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                raise _bad_token() from None
            if not math.isfinite(number):
                raise _bad_token()
            key.append(number)
        else:
            raise _bad_token()
    if len(key) != len(kinds) or len(data["k"]) != len(kinds):
        raise _bad_token()
    return key


# --- rows -----------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A cell as a plain Python value: NULL/NaN as None, timestamps as aware UTC datetimes."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        if pd.isna(value):
            return None
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalars
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts of plain values."""
    columns = [str(c) for c in frame.columns]
    return [
        {c: _plain(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


M = TypeVar("M", bound=BaseModel)


def models(frame: pd.DataFrame, model: type[M]) -> list[M]:
    return [model.model_validate(row) for row in records(frame)]


# --- errors ---------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer: status, a few words and specifics."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = dict(headers or {})


def _validation_detail(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "parameters"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def parse(model: type[M], values: Mapping[str, str]) -> M:
    """Validated parameters, or a 400 naming each bad one."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        raise ApiError(400, "invalid parameters", _validation_detail(exc)) from None


def _missing_data(message: str) -> bool:
    return any(
        s in message for s in ("TABLE_OR_VIEW_NOT_FOUND", "TABLE_NOT_FOUND", "does not exist")
    )


# --- the API --------------------------------------------------------------------------------------


class EngineHolder:
    """Opens the engine on first use (then keeps it) and closes it with the application."""

    def __init__(self, open_engine: Callable[[], AbstractContextManager[QueryEngine]]) -> None:
        self._open = open_engine
        self._stack = ExitStack()
        self._engine: QueryEngine | None = None
        self._lock = threading.Lock()

    def get(self) -> QueryEngine:
        """The engine (opened now when it is not yet): called from worker threads."""
        with self._lock:
            if self._engine is None:
                self._engine = self._stack.enter_context(self._open())
            return self._engine

    def close(self) -> None:
        with self._lock:
            self._engine = None
            self._stack.close()


@dataclass(frozen=True)
class Operation:
    """One API operation: its path, handler, parameters and answers (for routing and OpenAPI)."""

    path: str
    operation_id: str
    summary: str
    params: type[Params]
    response: type[BaseModel]
    handler: Callable[[Request], Any]
    path_params: type[Params] | None = None
    not_found: bool = False


class DecisionApi:
    """The ``/api/v1`` routes of one gateway application."""

    def __init__(self, config: ApiConfig, gateway: Gateway) -> None:
        self.config = config
        self.gateway = gateway
        self.engine = EngineHolder(config.engine)
        self.limiter: anyio.CapacityLimiter | None = None
        base = config.sql_dir or sql_dir()
        self._sql = {
            path.stem: render(path, config.catalog, analytics=config.analytics)
            for path in sorted((base / "api").glob("*.sql"))
        }
        self.operations = (
            Operation(
                "/placement/plans", "listPlacementPlans",
                "The latest placement plan of each pool, by pool",
                PlansParams, PlanPage, self.plans,
            ),
            Operation(
                "/placement/pools/{pool}/plan", "getPoolPlan",
                "One pool's latest placement plan with its workload assignments",
                PoolPlanParams, PoolPlanDetail, self.pool_plan, PoolPath, not_found=True,
            ),
            Operation(
                "/anomalies/events", "listAnomalyEvents",
                "A node's anomaly events overlapping a time range, oldest first",
                EventsParams, EventPage, self.events,
            ),
            Operation(
                "/carbon/daily", "listCarbonDaily",
                "Energy and emissions by provider, region and day",
                CarbonDailyParams, CarbonDayPage, self.carbon_daily,
            ),
            Operation(
                "/carbon/recommendations", "listCarbonRecommendations",
                "A day's carbon recommendations, biggest saving first",
                RecommendationsParams, RecommendationPage, self.recommendations,
            ),
        )  # fmt: skip
        self._openapi = json.dumps(openapi_document(self.operations)).encode()

    # --- lifecycle and plumbing ------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        self.limiter = anyio.CapacityLimiter(self.config.max_concurrency)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(self.engine.close)

    def routes(self) -> list[BaseRoute]:
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        routes: list[BaseRoute] = [
            Route(API_PREFIX + "/openapi.json", self.openapi, methods=["GET"])
        ]
        for op in self.operations:
            routes.append(Route(API_PREFIX + op.path, partial(self._serve, op), methods=methods))
        routes.append(Route(API_PREFIX + "/{rest:path}", self._unknown, methods=methods))
        return routes

    async def openapi(self, request: Request) -> Response:
        return Response(self._openapi, media_type="application/json")

    async def _run(self, sql_name: str, params: Mapping[str, SqlValue]) -> pd.DataFrame:
        """Rows of ``sql/api/<sql_name>.sql`` with ``params`` bound, in a worker thread."""

        def run() -> pd.DataFrame:
            engine = self.engine.get()
            return engine.query(bind(self._sql[sql_name], params, engine.dialect))

        return await anyio.to_thread.run_sync(run, limiter=self.limiter)

    def _checks(self, request: Request) -> Identity:
        """Authentication, role, method and rate limit, in that order (ApiError on refusal)."""
        try:
            identity, _ = self.gateway.identify(request)
        except AuthError as exc:
            challenge = 'Bearer realm="opslake", error="invalid_token"'
            raise ApiError(
                exc.status, "unauthenticated", exc.reason, {"www-authenticate": challenge}
            ) from None
        if identity.role not in API_ROLES:
            raise ApiError(403, "forbidden", f"role {identity.role!r} may not use {API_PREFIX}")
        if request.method not in READ_METHODS:
            raise ApiError(
                405,
                "method not allowed",
                "the decision API is read only (GET)",
                {"allow": ", ".join(READ_METHODS)},
            )
        wait = self.gateway.buckets.take(identity.key)
        if wait:
            raise ApiError(429, "rate limit exceeded", None, {"retry-after": retry_after(wait)})
        return identity

    async def _serve(self, op: Operation | None, request: Request) -> Response:
        started = time.perf_counter()
        exchange = Exchange()
        identity: Identity | None = None
        try:
            identity = self._checks(request)
            if op is None:
                raise ApiError(404, "not found", f"no API operation at {request.url.path}")
            model: BaseModel = await op.handler(request)
            response: Response = JSONResponse(model.model_dump(mode="json"))
        except ApiError as exc:
            response = self._error(exc, exchange)
        except ServiceUnavailableError as exc:
            error = ApiError(503, f"{exc.service} is unavailable", str(exc))
            response = self._error(error, exchange)
        except QueryError as exc:
            message = str(exc)
            if _missing_data(message):
                error = ApiError(503, "decision data not available yet (run the pipeline)", message)
                response = self._error(error, exchange)
            else:
                logger.error("decision API query failed: %s", message)
                error = ApiError(502, "the SQL engine failed the query", message)
                response = self._error(error, exchange)
        except Exception:  # a bug: still one audit line and a JSON answer, and the traceback logged
            logger.exception("decision API failed on %s", request.url.path)
            response = self._error(ApiError(500, "internal error"), exchange)
        exchange.status = response.status_code
        exchange.bytes_out = len(response.body)
        self.gateway._once(request, identity, API_ROUTE, exchange, started)()
        return response

    async def _unknown(self, request: Request) -> Response:
        return await self._serve(None, request)

    @staticmethod
    def _error(exc: ApiError, exchange: Exchange) -> Response:
        exchange.error = exc.error
        body = ErrorBody(error=exc.error, detail=exc.detail).model_dump()
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    # --- operations ------------------------------------------------------------------------------

    async def plans(self, request: Request) -> PlanPage:
        p = parse(PlansParams, request.query_params)
        fp = fingerprint("plans", {"pool": p.pool})
        after = decode_token(p.page_token, fp, (str,))[0] if p.page_token else None
        frame = await self._run(
            "placement_plans", {"pool": p.pool, "after_pool": after, "limit": p.page_size + 1}
        )
        items = models(frame, PoolPlan)
        page, more = items[: p.page_size], len(items) > p.page_size
        token = encode_token(fp, [page[-1].pool_id]) if more else None
        return PlanPage(items=page, next_page_token=token)

    async def pool_plan(self, request: Request) -> PoolPlanDetail:
        pool = parse(PoolPath, request.path_params).pool
        p = parse(PoolPlanParams, request.query_params)
        plans = models(
            await self._run("placement_plans", {"pool": pool, "after_pool": None, "limit": 1}),
            PoolPlan,
        )
        if not plans:
            raise ApiError(404, "unknown pool", f"no placement plan for pool {pool!r}")
        plan = plans[0]
        # The token names the plan's day: a newer plan landing between pages makes it stale.
        fp = fingerprint("pool_plan", {"pool": pool, "dt": plan.dt.isoformat()})
        after = decode_token(p.page_token, fp, (str,))[0] if p.page_token else None
        frame = await self._run(
            "pool_assignments",
            {
                "pool": pool,
                "dt": plan.dt.isoformat(),
                "after_workload": after,
                "limit": p.page_size + 1,
            },
        )
        items = models(frame, Assignment)
        page, more = items[: p.page_size], len(items) > p.page_size
        token = encode_token(fp, [page[-1].workload_id]) if more else None
        return PoolPlanDetail(plan=plan, assignments=page, next_page_token=token)

    async def events(self, request: Request) -> EventPage:
        p = parse(EventsParams, request.query_params)
        filters = {"node_id": p.node_id, "start": ts_text(p.start), "end": ts_text(p.end)}
        fp = fingerprint("events", filters)
        after_start, after_metric = (
            decode_token(p.page_token, fp, (str, str)) if p.page_token else (None, None)
        )
        if after_start is not None:
            after_start = ts_text(_token_datetime(str(after_start)))
        frame = await self._run(
            "anomaly_events",
            {
                "node_id": p.node_id,
                "start_ts": ts_text(p.start),
                "end_ts": ts_text(p.end),
                "end_date": p.end.date().isoformat(),
                "after_start": after_start,
                "after_metric": after_metric,
                "limit": p.page_size + 1,
            },
        )
        items = models(frame, AnomalyEvent)
        page, more = items[: p.page_size], len(items) > p.page_size
        token = None
        if more:
            last = page[-1]
            token = encode_token(fp, [last.start_ts.isoformat(), last.metric])
        return EventPage(items=page, next_page_token=token)

    async def carbon_daily(self, request: Request) -> CarbonDayPage:
        p = parse(CarbonDailyParams, request.query_params)
        start = p.start.isoformat() if p.start else None
        end = p.end.isoformat() if p.end else None
        filters = {"provider": p.provider, "region": p.region, "start": start, "end": end}
        fp = fingerprint("carbon_daily", filters)
        key: list[SqlValue] = (
            decode_token(p.page_token, fp, (str, str, str)) if p.page_token else [None] * 3
        )
        if key[0] is not None:
            key[0] = _token_date(str(key[0])).isoformat()
        frame = await self._run(
            "carbon_daily",
            {
                "provider": p.provider,
                "region": p.region,
                "start_date": start,
                "end_date": end,
                "after_dt": key[0],
                "after_provider": key[1],
                "after_region": key[2],
                "limit": p.page_size + 1,
            },
        )
        items = models(frame, CarbonDay)
        page, more = items[: p.page_size], len(items) > p.page_size
        token = None
        if more:
            last = page[-1]
            token = encode_token(fp, [last.dt.isoformat(), last.provider, last.region])
        return CarbonDayPage(items=page, next_page_token=token)

    async def recommendations(self, request: Request) -> RecommendationPage:
        p = parse(RecommendationsParams, request.query_params)
        day = p.dt.isoformat() if p.dt else None
        fp = fingerprint("recommendations", {"dt": day, "kind": p.kind})
        key: list[SqlValue] = [day, None, None, None]
        if p.page_token:
            # The token names the day of its page, so "latest" stays the same day across pages.
            key = decode_token(p.page_token, fp, (str, float, str, str))
            key[0] = _token_date(str(key[0])).isoformat()
        frame = await self._run(
            "carbon_recommendations",
            {
                "dt": key[0],
                "kind": p.kind,
                "after_saving": None if key[1] is None else float(key[1]),
                "after_workload": key[2],
                "after_kind": key[3],
                "limit": p.page_size + 1,
            },
        )
        items = models(frame, Recommendation)
        page, more = items[: p.page_size], len(items) > p.page_size
        token = None
        if more:
            last = page[-1]
            token = encode_token(
                fp, [last.dt.isoformat(), last.saving_gco2e, last.workload_id, last.kind]
            )
        return RecommendationPage(items=page, next_page_token=token)


def _token_datetime(text: str) -> datetime:
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        raise _bad_token() from None


def _token_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _bad_token() from None


def decision_api(
    gateway: Gateway,
) -> tuple[list[BaseRoute], Callable[[Starlette], AbstractAsyncContextManager[None]]]:
    """The decision API's routes and the application lifespan including it (the gateway's alone
    when ``gateway.config.api`` is None)."""
    config = gateway.config.api
    if config is None:
        return [], gateway.lifespan
    api = DecisionApi(config, gateway)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with gateway.lifespan(app), api.lifespan():
            yield

    return api.routes(), lifespan


# --- OpenAPI --------------------------------------------------------------------------------------

REF = "#/components/schemas/{model}"
ERRORS = {
    "400": "Invalid parameters or page token",
    "401": "No or invalid credentials (Bearer JWT, X-API-Key or session cookie)",
    "403": "The caller's role may not use the decision API",
    "429": "Rate limit exceeded (see Retry-After)",
    "502": "The SQL engine failed the query",
    "503": "The SQL engine (Trino, or Spark embedded) is unavailable, or the data is not there yet",
}


def _parameters(model: type[Params], where: str) -> list[dict[str, Any]]:
    """OpenAPI parameters from a parameter model (an optional value's ``null`` branch dropped)."""
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        if "anyOf" in prop:
            branches = [b for b in prop.pop("anyOf") if b.get("type") != "null"]
            prop = {**branches[0], **prop} if len(branches) == 1 else {"anyOf": branches, **prop}
        if prop.get("default") is None:
            prop.pop("default", None)
        param: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": prop,
        }
        if description:
            param["description"] = description
        if prop.get("examples"):
            param["example"] = prop["examples"][0]
        out.append(param)
    return out


def _json(ref: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


def openapi_document(operations: Sequence[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the decision API, schemas generated from the pydantic models."""
    response_models = [op.response for op in operations] + [ErrorBody]
    _, definitions = models_json_schema(
        [(m, "serialization") for m in response_models], ref_template=REF
    )
    error_ref = REF.format(model="ErrorBody")
    paths: dict[str, Any] = {}
    for op in operations:
        params = _parameters(op.path_params, "path") if op.path_params else []
        params += _parameters(op.params, "query")
        responses = {"200": _json(REF.format(model=op.response.__name__), "OK")}
        codes = dict(ERRORS)
        if op.not_found:
            codes["404"] = "No placement plan for this pool"
        for code in sorted(codes):
            responses[code] = _json(error_ref, codes[code])
        # The gateway's guard refuses a malformed request line before routing, in plain text.
        responses["400"]["content"]["text/plain"] = {"schema": {"type": "string"}}
        paths[API_PREFIX + op.path] = {
            "get": {
                "operationId": op.operation_id,
                "summary": op.summary,
                "parameters": params,
                "responses": responses,
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "opslake decision API",
            "version": "1",
            "description": (
                "Read-only answers from the lake: placement plans, anomaly events, carbon. "
                "Roles admin, user and readonly. Pages: pass `next_page_token` as `page_token`."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        "security": [{"bearerAuth": []}, {"apiKeyAuth": []}],
    }
