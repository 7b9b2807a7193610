"""The ASGI app: pages, the JSON API, actions and ``/metrics`` (see docs/dashboard.md)."""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlencode

import jinja2
import trio
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .._errors import BackendRefusedError, BackendUnavailableError, QueueError
from .._model import JOB_STATES
from ._sampler import Sampler
from ._security import SESSION_COOKIE, SESSION_SECONDS, Refusal, Security
from ._sources import Source, as_source
from ._views import (
    COUNT_CAP,
    failed_view,
    job_view,
    jobs_view,
    overview_view,
    queue_view,
    recurring_view,
    to_json,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

    from starlette.requests import Request

    from .._manager import QueueManager
    from .._protocols import Queue

__all__ = ["create_app"]

logger = logging.getLogger("checkqueue_actors.dashboard")

_ACTIONS: Final = (
    "pause",
    "resume",
    "cancel-job",
    "retry-failed",
    "drop-failed",
    "cancel-recurring",
)
_SECURITY_HEADERS: Final = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
_FAILED_LIMIT: Final = 500
"""Failed entries a page shows at most."""


class _NotFound(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _static(name: str) -> bytes:
    return resources.files("checkqueue_actors.dashboard").joinpath("static", name).read_bytes()


def _safe_next(value: str | None, base: str) -> str:
    """A same-app path to go back to after a form (never another site)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return base + "/"


class _Dashboard:
    """The state behind the routes."""

    def __init__(
        self,
        source: Source,
        security: Security,
        registry: object | None,
        sample_interval: float,
        title: str,
    ) -> None:
        self.source = source
        self.security = security
        self.registry = registry
        self.sampler = Sampler(sample_interval)
        self.title = title
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("checkqueue_actors.dashboard", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["tojson_pretty"] = to_json
        self.env.filters["duration"] = _duration
        self.css = _static("dashboard.css")
        self.js = _static("dashboard.js")

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncGenerator[None]:
        async with self.source.running(), trio.open_nursery() as nursery:
            nursery.start_soon(self.sampler.run, self.source)
            try:
                yield
            finally:
                nursery.cancel_scope.cancel()

    # -- helpers ------------------------------------------------------------------------------

    async def queue(self, name: str | None) -> tuple[str, Queue[Any]]:
        if not name:
            msg = "no queue named"
            raise _NotFound(msg)
        queue = await self.source.get_queue(name)
        if queue is None:
            msg = f"no queue {name!r}"
            raise _NotFound(msg)
        return name, queue

    def page(self, request: Request, template: str, status: int = 200, **values: Any) -> Response:
        session = self.security.session(request)
        base = request.scope.get("root_path", "")
        html = self.env.get_template(template).render(
            title=self.title,
            base=base,
            here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            can_act=self.security.actions_enabled and session is not None,
            may_log_in=self.security.actions_enabled and session is None,
            logged_in=session is not None,
            read_only=self.security.read_only,
            csrf=session.csrf if session is not None else "",
            qs=_qs,
            states=JOB_STATES,
            count_cap=COUNT_CAP,
            **values,
        )
        return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)

    def error_page(self, request: Request, status: int, message: str) -> Response:
        return self.page(request, "error.html", status=status, status_code=status, message=message)


def _qs(**params: object) -> str:
    """A query string of the params that are not None."""
    return urlencode({k: v for k, v in params.items() if v is not None and v != ""})


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return "just now"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


def _json(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status, headers=_SECURITY_HEADERS)


def _state_arg(value: str | None) -> str | None:
    if not value:
        return None
    if value not in JOB_STATES:
        msg = f"state must be one of {', '.join(JOB_STATES)}"
        raise ValueError(msg)
    return value


def _page_arg(value: str | None) -> int:
    try:
        page = int(value or "1")
    except ValueError:
        page = 1
    return max(1, page)


def _handled(
    dash: _Dashboard, *, api: bool
) -> Callable[[Callable[[Request], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]]:
    """Turn the expected failures of a route into a page or a JSON error."""

    def wrap(
        route: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await route(request)
            except _NotFound as exc:
                status, message = 404, exc.message
            except Refusal as exc:
                status, message = exc.status, exc.message
            except (BackendUnavailableError, BackendRefusedError) as exc:
                # the backend's own messages name the address, never a password
                status, message = 503, str(exc)
            except (ValueError, TypeError, QueueError) as exc:
                status, message = 400, str(exc)
            if api:
                headers = {"www-authenticate": "Bearer"} if status == 401 else None
                response = _json({"error": message}, status)
                if headers:
                    response.headers.update(headers)
                return response
            return dash.error_page(request, status, message)

        return endpoint

    return wrap


async def _form(request: Request) -> dict[str, str]:
    """The fields of a urlencoded form or a JSON object body (strings only)."""
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            value = json.loads(body or b"{}")
        except ValueError as exc:
            msg = "the body is not valid JSON"
            raise ValueError(msg) from exc
        if not isinstance(value, dict):
            msg = "the JSON body must be an object"
            raise ValueError(msg)
        fields: dict[str, object] = value  # pyright: ignore[reportUnknownVariableType]
        return {str(k): str(v) for k, v in fields.items() if v is not None}
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in parsed.items()}


def _routes(dash: _Dashboard) -> list[Route]:  # one closure per route
    page = _handled(dash, api=False)
    api = _handled(dash, api=True)

    # -- pages ----------------------------------------------------------------------------

    @page
    async def overview(request: Request) -> Response:
        names = await dash.source.queue_names()
        queues = [(await dash.queue(name))[1] for name in names]
        data = await overview_view(names, queues, dash.sampler)
        return dash.page(request, "overview.html", data=data, api_url="api/queues")

    @page
    async def queue_page(request: Request) -> Response:
        name, queue = await dash.queue(request.query_params.get("name"))
        presence = await dash.source.presence(name, queue)
        data = await queue_view(name, queue, presence, dash.sampler)
        return dash.page(request, "queue.html", data=data, api_url="api/queue?" + _qs(name=name))

    @page
    async def jobs_page(request: Request) -> Response:
        params = request.query_params
        name, queue = await dash.queue(params.get("queue"))
        state = _state_arg(params.get("state"))
        group = params.get("group") or None
        data = await jobs_view(queue, state, group, _page_arg(params.get("page")))
        groups = [g.name for g in (await dash.source.presence(name, queue)).groups]
        return dash.page(request, "jobs.html", queue=name, data=data, groups=groups)

    @page
    async def job_page(request: Request) -> Response:
        params = request.query_params
        name, queue = await dash.queue(params.get("queue"))
        job_id = params.get("id") or ""
        job = await queue.get_job(job_id)
        if job is None:
            msg = f"queue {name!r} holds no job {job_id!r} (finished, or unknown)"
            raise _NotFound(msg)
        return dash.page(request, "job.html", queue=name, job=job_view(job))

    @page
    async def failed_page(request: Request) -> Response:
        params = request.query_params
        name, queue = await dash.queue(params.get("queue"))
        group = params.get("group") or None
        entries = await queue.get_failed_jobs(consumer_group=group, limit=_FAILED_LIMIT)
        groups = [g.name for g in (await dash.source.presence(name, queue)).groups]
        return dash.page(
            request,
            "failed.html",
            queue=name,
            group=group,
            groups=groups,
            entries=[failed_view(e) for e in entries],
            limit=_FAILED_LIMIT,
        )

    @page
    async def login_page(request: Request) -> Response:
        if request.method == "GET":
            return dash.page(
                request,
                "login.html",
                next=_safe_next(request.query_params.get("next"), ""),
                refused=None,
            )
        dash.security.check_same_origin(request)
        fields = await _form(request)
        target = _safe_next(fields.get("next"), request.scope.get("root_path", ""))
        if not dash.security.actions_enabled:
            raise Refusal(403, "there is nothing to log in to: actions are disabled")
        if not dash.security.token_matches(fields.get("token", "")):
            logger.warning("dashboard: a login with a wrong token was refused")
            return dash.page(request, "login.html", status=401, next=target, refused="wrong token")
        response = RedirectResponse(target, status_code=303, headers=_SECURITY_HEADERS)
        response.set_cookie(
            SESSION_COOKIE,
            dash.security.open_session(),
            max_age=int(SESSION_SECONDS),
            path=(request.scope.get("root_path", "") or "/"),
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    @page
    async def logout(request: Request) -> Response:
        dash.security.check_same_origin(request)
        dash.security.close_session(request)
        response = RedirectResponse(
            request.scope.get("root_path", "") + "/", status_code=303, headers=_SECURITY_HEADERS
        )
        response.delete_cookie(SESSION_COOKIE, path=(request.scope.get("root_path", "") or "/"))
        return response

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "dashboard.css":
            body, kind = dash.css, "text/css"
        elif name == "dashboard.js":
            body, kind = dash.js, "text/javascript"
        else:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(body, media_type=kind, headers={"cache-control": "max-age=300"})

    async def metrics(_request: Request) -> Response:
        try:
            from prometheus_client import REGISTRY, generate_latest
            from prometheus_client.exposition import CONTENT_TYPE_LATEST
        except ImportError:
            return Response(
                "/metrics needs prometheus_client: pip install prometheus_client\n",
                status_code=404,
                media_type="text/plain",
            )
        registry: Any = dash.registry if dash.registry is not None else REGISTRY
        return Response(generate_latest(registry), headers={"content-type": CONTENT_TYPE_LATEST})

    # -- JSON API -------------------------------------------------------------------------

    @api
    async def api_queues(_request: Request) -> Response:
        names = await dash.source.queue_names()
        queues = [(await dash.queue(name))[1] for name in names]
        return _json(await overview_view(names, queues, dash.sampler))

    @api
    async def api_queue(request: Request) -> Response:
        name, queue = await dash.queue(request.query_params.get("name"))
        presence = await dash.source.presence(name, queue)
        return _json(await queue_view(name, queue, presence, dash.sampler))

    @api
    async def api_jobs(request: Request) -> Response:
        params = request.query_params
        _name, queue = await dash.queue(params.get("queue"))
        state = _state_arg(params.get("state"))
        data = await jobs_view(
            queue, state, params.get("group") or None, _page_arg(params.get("page"))
        )
        return _json(data)

    @api
    async def api_job(request: Request) -> Response:
        params = request.query_params
        name, queue = await dash.queue(params.get("queue"))
        job_id = params.get("id") or ""
        job = await queue.get_job(job_id)
        if job is None:
            msg = f"queue {name!r} holds no job {job_id!r}"
            raise _NotFound(msg)
        return _json(job_view(job))

    @api
    async def api_failed(request: Request) -> Response:
        params = request.query_params
        _name, queue = await dash.queue(params.get("queue"))
        limit = int(params.get("limit") or "100")
        entries = await queue.get_failed_jobs(
            consumer_group=params.get("group") or None, limit=limit
        )
        return _json({"failed": [failed_view(e) for e in entries]})

    @api
    async def api_recurring(request: Request) -> Response:
        _name, queue = await dash.queue(request.query_params.get("queue"))
        found: list[dict[str, Any]] = []
        for job_id in sorted(await queue.list_recurring_jobs()):
            details = await queue.get_recurring_job_details(job_id)
            if details is not None:
                found.append(recurring_view(details))
        return _json({"recurring": found})

    async def action(request: Request) -> Response:
        """Every action: a JSON reply, or for a form a redirect back (errors as pages)."""
        is_form = request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        )
        route = page if is_form else api

        @route
        async def run(request: Request) -> Response:
            kind = request.path_params["action"]
            if kind not in _ACTIONS:
                msg = f"no action {kind!r}"
                raise _NotFound(msg)
            fields = await _form(request)
            csrf = fields.get("csrf") or request.headers.get("x-csrf-token")
            dash.security.check_action(request, csrf)
            name, queue = await dash.queue(fields.get("queue"))
            result = await _act(kind, queue, fields)
            logger.info("dashboard: %s on queue %r: %s", kind, name, result)
            if is_form:
                target = _safe_next(fields.get("next"), request.scope.get("root_path", ""))
                return RedirectResponse(target, status_code=303, headers=_SECURITY_HEADERS)
            return _json({"ok": True, **result})

        return await run(request)

    return [
        Route("/", overview),
        Route("/queue", queue_page),
        Route("/jobs", jobs_page),
        Route("/job", job_page),
        Route("/failed", failed_page),
        Route("/login", login_page, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/static/{name}", static),
        Route("/metrics", metrics),
        Route("/api/queues", api_queues),
        Route("/api/queue", api_queue),
        Route("/api/jobs", api_jobs),
        Route("/api/job", api_job),
        Route("/api/failed", api_failed),
        Route("/api/recurring", api_recurring),
        Route("/api/actions/{action}", action, methods=["POST"]),
    ]


async def _act(kind: str, queue: Queue[Any], fields: dict[str, str]) -> dict[str, Any]:
    group = fields.get("group") or None
    if kind == "pause":
        await queue.pause(group)
        return {"paused": True, "group": group}
    if kind == "resume":
        await queue.resume(group)
        return {"paused": False, "group": group}
    if kind == "cancel-job":
        return {"cancelled": await queue.cancel_job(_required(fields, "job_id"))}
    if kind == "retry-failed":
        job_id = _required(fields, "job_id")
        return {
            "retried": await queue.retry_failed_job(
                job_id, consumer_group=_required(fields, "group")
            )
        }
    if kind == "drop-failed":
        return {"dropped": await queue.drop_failed_jobs(consumer_group=group)}
    await queue.cancel_recurring(_required(fields, "recurring_id"))
    return {"cancelled": True}


def _required(fields: dict[str, str], key: str) -> str:
    value = fields.get(key)
    if not value:
        msg = f"the field {key!r} is required"
        raise ValueError(msg)
    return value


def create_app(
    source: QueueManager | Source | str | Sequence[Queue[Any]],
    *,
    token: str | None = None,
    read_only: bool = False,
    key_prefix: str | None = None,
    registry: object | None = None,
    sample_interval: float = 5.0,
    title: str = "checkqueue",
) -> Starlette:
    """The dashboard as an ASGI app (Starlette), to serve with hypercorn under trio.

    Args:
      source: A ``QueueManager`` (its queues: ``manager.queue_names()``), a
        ``RedisSource``, a Redis URL (``redis://`` or ``rediss://``; the queues
        recorded under ``key_prefix``), or a sequence of queue objects.
      token: The secret that actions need (``Authorization: Bearer <token>``, or the
        login form's session). None: every action is refused.
      read_only: Refuse every action and show no buttons.
      key_prefix: With a URL source, the key prefix (default ``"cq"``).
      registry: The ``prometheus_client`` registry ``/metrics`` serves (default: the
        global one).
      sample_interval: Seconds between two samples of every queue's stats (the
        throughput sparklines cover the last 15 minutes).
      title: Shown in every page's header.
    Raises:
      TypeError: for another kind of ``source``.
      ValueError: for an empty ``token`` or a ``sample_interval`` that is not > 0.
    The app's lifespan (hypercorn runs it) starts the sampling and, for a Redis
    source, opens and finally stops its queue objects.
    """
    if not sample_interval > 0:
        msg = f"sample_interval must be > 0, not {sample_interval!r}"
        raise ValueError(msg)
    dash = _Dashboard(
        as_source(source, key_prefix),
        Security(token, read_only=read_only),
        registry,
        sample_interval,
        title,
    )
    app = Starlette(routes=_routes(dash), lifespan=dash.lifespan)
    app.state.dashboard = dash
    return app
