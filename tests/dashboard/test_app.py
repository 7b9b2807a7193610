"""The dashboard app over the in-memory backend, through an ASGI client (no browser).

Every page and API endpoint, the actions and their protection: the token (Bearer or
a login session), CSRF, cross-site refusals, read-only mode, no token configured.
"""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import trio

from checkqueue_actors import QueueJob, QueuePluginRegistry, open_queue_manager
from checkqueue_actors.dashboard import create_app

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from checkqueue_actors import QueueManager

TOKEN = "s3cret-token-value"
BASE = "http://dash.test"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SAME_ORIGIN = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}


async def _fill(manager: QueueManager) -> None:
    """Queue "emails": one completed job, one failed ("bad"), one delayed ("later") with
    headers, one paused group's waiting job, a recurring schedule; queue "reports"."""
    emails = manager.get_queue("emails")

    async def mail(job: QueueJob[Any]) -> None:
        if job.data == {"to": "bad"}:
            raise RuntimeError("mailbox <full>")

    async def audit(job: QueueJob[Any]) -> None:
        del job

    await emails.consume(mail, consumer_group="mailers", max_retries=0)
    await emails.consume(audit, consumer_group="audit")
    await emails.pause("audit")
    await emails.enqueue({"to": "ada"}, job_id="ok-1")
    await emails.enqueue({"to": "bad"}, job_id="bad-1")
    await emails.enqueue(
        {"to": "later"}, job_id="later-1", start_delay=3600, headers={"trace": "abc"}
    )
    await emails.schedule_recurring(
        {"to": "digest"}, job_id="digest", interval_seconds=3600, start_delay=3600
    )
    manager.get_queue("reports")
    for _ in range(100):
        if (await emails.get_stats()).failed == 1:
            break
        await trio.sleep(0.01)


@asynccontextmanager
async def _client(manager: QueueManager, **options: Any) -> AsyncGenerator[httpx.AsyncClient]:
    app = create_app(manager, sample_interval=0.05, **options)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client


@pytest.fixture
async def manager() -> AsyncGenerator[QueueManager]:
    async with open_queue_manager(QueuePluginRegistry()) as manager:
        await _fill(manager)
        yield manager


async def _login(client: httpx.AsyncClient) -> str:
    """Log in through the form; the CSRF token of the session (read from a page)."""
    reply = await client.post(
        "/login", data={"token": TOKEN, "next": "/queue?name=emails"}, headers=SAME_ORIGIN
    )
    assert reply.status_code == 303
    assert reply.headers["location"] == "/queue?name=emails"
    cookie = reply.headers["set-cookie"]
    assert "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    assert TOKEN not in cookie
    page = await client.get("/queue?name=emails")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


async def test_overview_lists_every_queue_with_counts(manager: QueueManager) -> None:
    async with _client(manager, token=TOKEN) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert "emails" in page.text
        assert "reports" in page.text
        assert "<svg" in page.text
        assert "content-security-policy" in page.headers
        data = (await client.get("/api/queues")).json()
        rows = {row["name"]: row for row in data["queues"]}
        assert set(rows) == {"emails", "reports"}
        assert rows["emails"]["stats"]["failed"] == 1
        # jobs owed: ok-1 and bad-1 (to the paused "audit"), later-1 (delayed)
        assert rows["emails"]["stats"]["pending"] == 3
        assert rows["emails"]["paused"] is False
        assert data["live"]["emails\nfailed"] == 1


async def test_sampling_fills_the_sparkline(manager: QueueManager) -> None:
    async with _client(manager) as client:
        row: dict[str, Any] = {}
        for _ in range(200):
            row = (await client.get("/api/queues")).json()["queues"][0]
            if row["spark"]:
                break
            await trio.sleep(0.05)
        assert len(row["throughput"]) >= 1
        assert row["spark"].count(",") >= 2


async def test_queue_page_shows_groups_counts_and_schedules(manager: QueueManager) -> None:
    async with _client(manager) as client:
        data = (await client.get("/api/queue", params={"name": "emails"})).json()
        groups = {g["name"]: g for g in data["groups"]}
        assert set(groups) == {"mailers", "audit"}
        assert groups["audit"]["paused"] is True
        assert groups["mailers"]["paused"] is False
        assert groups["mailers"]["counts"]["failed"] == 1
        assert groups["mailers"]["counts"]["delayed"] == 1
        assert groups["audit"]["counts"]["waiting"] == 2  # paused: ok-1 and bad-1 wait
        assert groups["mailers"]["consumers_here"] == 1
        assert data["processes_alive"] is None  # the in-memory backend: no such thing
        assert [r["job_id"] for r in data["recurring"]] == ["digest"]
        assert data["recurring"][0]["next_run_at"] is not None
        page = await client.get("/queue", params={"name": "emails"})
        assert page.status_code == 200
        assert "mailers" in page.text
        assert "digest" in page.text
        assert "1 in this process" in page.text


async def test_jobs_pages_filter_and_paginate(manager: QueueManager) -> None:
    emails = manager.get_queue("emails")
    for i in range(120):
        await emails.enqueue({"n": i}, job_id=f"bulk-{i:03d}", priority=-1)
    async with _client(manager) as client:
        first = (
            await client.get(
                "/api/jobs", params={"queue": "emails", "state": "waiting", "group": "audit"}
            )
        ).json()
        assert len(first["jobs"]) == 50
        assert first["has_next"] is True
        # delivery order: priority 0 first (ok-1, bad-1), then the bulk ones in order
        ids = [job["id"] for job in first["jobs"]]
        assert ids[:3] == ["ok-1", "bad-1", "bulk-000"]
        third = (
            await client.get(
                "/api/jobs",
                params={"queue": "emails", "state": "waiting", "group": "audit", "page": 3},
            )
        ).json()
        assert [job["id"] for job in third["jobs"]][-1] == "bulk-119"
        assert third["has_next"] is False
        delayed = (
            await client.get("/api/jobs", params={"queue": "emails", "state": "delayed"})
        ).json()
        assert [job["id"] for job in delayed["jobs"]] == ["later-1"]
        page = await client.get("/jobs", params={"queue": "emails", "state": "waiting", "page": 2})
        assert page.status_code == 200
        assert "bulk-048" in page.text
        bad = await client.get("/api/jobs", params={"queue": "emails", "state": "nope"})
        assert bad.status_code == 400


async def test_job_page_shows_payload_headers_and_error(manager: QueueManager) -> None:
    async with _client(manager) as client:
        job = (await client.get("/api/job", params={"queue": "emails", "id": "later-1"})).json()
        assert job["data"] == {"to": "later"}
        assert job["headers"] == {"trace": "abc"}
        assert job["groups"]["mailers"]["state"] == "delayed"
        page = await client.get("/job", params={"queue": "emails", "id": "bad-1"})
        assert page.status_code == 200
        assert "&#34;to&#34;: &#34;bad&#34;" in page.text  # formatted JSON, escaped
        assert "RuntimeError: mailbox &lt;full&gt;" in page.text  # escaped, never raw
        missing = await client.get("/job", params={"queue": "emails", "id": "nope"})
        assert missing.status_code == 404
        assert (
            await client.get("/api/job", params={"queue": "emails", "id": "x"})
        ).status_code == 404


async def test_failed_and_recurring_endpoints(manager: QueueManager) -> None:
    async with _client(manager) as client:
        failed = (await client.get("/api/failed", params={"queue": "emails"})).json()["failed"]
        assert [(f["job_id"], f["consumer_group"]) for f in failed] == [("bad-1", "mailers")]
        assert failed[0]["error"] == "RuntimeError: mailbox <full>"
        none = await client.get("/api/failed", params={"queue": "emails", "group": "audit"})
        assert none.json()["failed"] == []
        page = await client.get("/failed", params={"queue": "emails", "group": "mailers"})
        assert "bad-1" in page.text
        recurring = (await client.get("/api/recurring", params={"queue": "emails"})).json()
        assert recurring["recurring"][0]["interval_seconds"] == 3600


async def test_unknown_queue_is_404_and_creates_nothing(manager: QueueManager) -> None:
    async with _client(manager) as client:
        for url in ("/queue?name=ghost", "/jobs?queue=ghost", "/api/queue?name=ghost"):
            assert (await client.get(url)).status_code == 404
        assert (await client.get("/queue")).status_code == 404
    assert manager.queue_names() == ["emails", "reports"]


async def test_bearer_token_actions(manager: QueueManager) -> None:
    emails = manager.get_queue("emails")
    async with _client(manager, token=TOKEN) as client:

        async def act(kind: str, **fields: str) -> dict[str, Any]:
            reply = await client.post(
                f"/api/actions/{kind}", json={"queue": "emails", **fields}, headers=AUTH
            )
            assert reply.status_code == 200, reply.text
            result: dict[str, Any] = reply.json()
            return result

        await act("pause", group="mailers")
        assert await emails.is_paused("mailers")
        await act("resume", group="mailers")
        assert not await emails.is_paused("mailers")
        await act("pause")
        assert await emails.is_paused()
        await act("resume")
        assert not await emails.is_paused()
        assert (await act("cancel-job", job_id="later-1"))["cancelled"] is True
        assert await emails.get_job("later-1") is None
        assert (await act("retry-failed", job_id="bad-1", group="mailers"))["retried"] is True
        for _ in range(100):
            if await emails.get_failed_jobs():
                break
            await trio.sleep(0.01)
        assert (await act("drop-failed", group="mailers"))["dropped"] == 1
        assert await emails.get_failed_jobs() == []
        await act("cancel-recurring", recurring_id="digest")
        assert await emails.list_recurring_jobs() == []
        missing = await client.post(
            "/api/actions/retry-failed", json={"queue": "emails"}, headers=AUTH
        )
        assert missing.status_code == 400
        unknown = await client.post("/api/actions/explode", json={"queue": "emails"}, headers=AUTH)
        assert unknown.status_code == 404


async def test_actions_refused_without_the_token(manager: QueueManager) -> None:
    emails = manager.get_queue("emails")
    async with _client(manager, token=TOKEN) as client:
        none = await client.post("/api/actions/pause", json={"queue": "emails"})
        assert none.status_code == 401
        assert none.headers["www-authenticate"] == "Bearer"
        wrong = await client.post(
            "/api/actions/pause", json={"queue": "emails"}, headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401
        basic = await client.post(
            "/api/actions/pause",
            json={"queue": "emails"},
            headers={"Authorization": f"Basic {TOKEN}"},
        )
        assert basic.status_code == 401
        assert TOKEN not in basic.text
        got = await client.get("/api/actions/pause")
        assert got.status_code == 405  # no state change on GET
    assert not await emails.is_paused()


async def test_no_token_configured_refuses_every_action(manager: QueueManager) -> None:
    async with _client(manager) as client:
        reply = await client.post("/api/actions/pause", json={"queue": "emails"}, headers=AUTH)
        assert reply.status_code == 403
        assert "no token" in reply.json()["error"]
        page = await client.get("/queue", params={"name": "emails"})
        assert "Log in" not in page.text
        assert "/api/actions/" not in page.text
    assert not await manager.get_queue("emails").is_paused()


async def test_read_only_refuses_and_hides_actions(manager: QueueManager) -> None:
    async with _client(manager, token=TOKEN, read_only=True) as client:
        reply = await client.post("/api/actions/pause", json={"queue": "emails"}, headers=AUTH)
        assert reply.status_code == 403
        assert "read-only" in reply.json()["error"]
        login = await client.post("/login", data={"token": TOKEN}, headers=SAME_ORIGIN)
        assert login.status_code == 403
        for url in ("/queue?name=emails", "/failed?queue=emails", "/job?queue=emails&id=bad-1"):
            page = await client.get(url)
            assert "/api/actions/" not in page.text
            assert "read-only" in page.text
    assert not await manager.get_queue("emails").is_paused()


async def test_login_session_and_csrf(manager: QueueManager) -> None:
    emails = manager.get_queue("emails")
    async with _client(manager, token=TOKEN) as client:
        anonymous = await client.get("/queue", params={"name": "emails"})
        assert "Log in to act" in anonymous.text
        assert "/api/actions/" not in anonymous.text
        wrong = await client.post("/login", data={"token": "guess"}, headers=SAME_ORIGIN)
        assert wrong.status_code == 401
        assert "set-cookie" not in wrong.headers
        csrf = await _login(client)
        page = await client.get("/queue", params={"name": "emails"})
        assert TOKEN not in page.text
        form = {"queue": "emails", "group": "mailers", "next": "/queue?name=emails"}
        # a session without the CSRF token is refused
        refused = await client.post("/api/actions/pause", data=form, headers=SAME_ORIGIN)
        assert refused.status_code == 403
        refused = await client.post(
            "/api/actions/pause", data={**form, "csrf": "forged"}, headers=SAME_ORIGIN
        )
        assert refused.status_code == 403
        assert not await emails.is_paused("mailers")
        # with it: done, and the form goes back where it came from
        done = await client.post(
            "/api/actions/pause", data={**form, "csrf": csrf}, headers=SAME_ORIGIN
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/queue?name=emails"
        assert await emails.is_paused("mailers")
        # never redirected to another site
        away = await client.post(
            "/api/actions/resume",
            data={**form, "csrf": csrf, "next": "//evil.example/"},
            headers=SAME_ORIGIN,
        )
        assert away.headers["location"] == "/"
        # a JSON call of the session needs the CSRF header
        assert (
            await client.post("/api/actions/pause", json={"queue": "emails"}, headers=SAME_ORIGIN)
        ).status_code == 403
        ok = await client.post(
            "/api/actions/pause",
            json={"queue": "emails"},
            headers={**SAME_ORIGIN, "X-CSRF-Token": csrf},
        )
        assert ok.status_code == 200
        # logging out ends the session
        out = await client.post("/logout", headers=SAME_ORIGIN)
        assert out.status_code == 303
        client.cookies.clear()
        again = await client.post(
            "/api/actions/resume", data={**form, "csrf": csrf}, headers=SAME_ORIGIN
        )
        assert again.status_code == 401


async def test_cross_site_posts_are_refused(manager: QueueManager) -> None:
    emails = manager.get_queue("emails")
    async with _client(manager, token=TOKEN) as client:
        csrf = await _login(client)
        form = {"queue": "emails", "csrf": csrf}
        for headers in (
            {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
            {"Origin": "https://evil.example"},
        ):
            reply = await client.post("/api/actions/pause", data=form, headers=headers)
            assert reply.status_code == 403
            bearer = await client.post(
                "/api/actions/pause", json={"queue": "emails"}, headers={**headers, **AUTH}
            )
            assert bearer.status_code == 403
            login = await client.post("/login", data={"token": TOKEN}, headers=headers)
            assert login.status_code == 403
    assert not await emails.is_paused()


async def test_metrics(manager: QueueManager) -> None:
    from prometheus_client import CollectorRegistry, Counter

    registry = CollectorRegistry()
    Counter("dashboard_test_events", "a test counter", registry=registry).inc(3)
    async with _client(manager, registry=registry) as client:
        reply = await client.get("/metrics")
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/plain")
        assert "dashboard_test_events_total 3.0" in reply.text


async def test_metrics_without_prometheus_client(
    manager: QueueManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    async with _client(manager) as client:
        reply = await client.get("/metrics")
        assert reply.status_code == 404
        assert "prometheus_client" in reply.text


async def test_static_files_and_login_page(manager: QueueManager) -> None:
    async with _client(manager, token=TOKEN) as client:
        css = await client.get("/static/dashboard.css")
        assert "prefers-color-scheme: dark" in css.text
        js = await client.get("/static/dashboard.js")
        assert "data-live" in js.text
        assert (await client.get("/static/other.js")).status_code == 404
        login = await client.get("/login", params={"next": "https://evil.example/"})
        assert 'value="/"' in login.text


async def test_queue_objects_as_source() -> None:
    from checkqueue_actors import InMemoryQueue

    async with InMemoryQueue[str]("solo") as queue:
        await queue.enqueue("x")
        app = create_app([queue])
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                data = (await client.get("/api/queues")).json()
                assert [(q["name"], q["stats"]["pending"]) for q in data["queues"]] == [("solo", 1)]
                groups = (await client.get("/api/queue", params={"name": "solo"})).json()["groups"]
                assert groups == []


def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        create_app(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="token"):
        create_app([], token="")
    with pytest.raises(ValueError, match="sample_interval"):
        create_app([], sample_interval=0)
