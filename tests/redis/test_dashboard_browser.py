"""The dashboard in a real browser (Playwright driving the system's Chromium) over
Redis queues with running workers.

The app is served by hypercorn's trio worker on a free port in the test's nursery;
the workers are RedisQueue consumers in the same trio run (each queue object is a
process of its own to Redis); each browser script runs whole (``sync_playwright``
opened and closed) in one worker thread, and reaches back into trio with
``trio.from_thread``. Without /usr/bin/chromium the tests skip locally and fail
under CI. Screenshots go to ``$CHECKQUEUE_SCREENSHOTS`` when set (docs/images).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors.dashboard import RedisSource, create_app
from checkqueue_actors.dashboard._command import serve

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable

    from playwright.sync_api import Browser, Page, Playwright

    from checkqueue_actors import QueueJob
    from checkqueue_actors.redis import RedisQueue

pytestmark = pytest.mark.redis

CHROMIUM = "/usr/bin/chromium"
TOKEN = "browser-test-token"
_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-background-networking",
]


def _require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"no browser at {CHROMIUM}: install Debian's chromium package")
        pytest.skip(f"no browser at {CHROMIUM} (apt-get install chromium)")


class Stack:
    """Workers on two Redis queues, and the dashboard served over the same prefix."""

    def __init__(self, url: str, emails: RedisQueue[Any], reports: RedisQueue[Any]) -> None:
        self.url = url
        self.emails = emails
        self.reports = reports
        self.runs: Counter[str] = Counter()
        """Deliveries per ``"<group>:<job id>"``."""
        self.done = trio.Event()

    async def wait_for(self, check: Callable[[], Any]) -> None:
        """Wait until ``await check()`` is true (every 50 ms, 20 s at most)."""
        with trio.fail_after(20):
            while not await check():  # noqa: ASYNC110  # the state lives in Redis
                await trio.sleep(0.05)


@pytest.fixture
async def stack(
    make_queue: Callable[..., RedisQueue[Any]], redis_config: Any
) -> AsyncGenerator[Stack]:
    _require_chromium()
    emails = make_queue("emails")
    reports = make_queue("reports")
    async with emails, reports, trio.open_nursery() as nursery:
        stack = Stack("", emails, reports)

        async def mail(job: QueueJob[Any]) -> None:
            stack.runs[f"mailers:{job.id}"] += 1
            if job.data.get("fail") and stack.runs[f"mailers:{job.id}"] == 1:
                raise ValueError(f"no such mailbox: {job.data['to']}")

        async def audit(job: QueueJob[Any]) -> None:
            stack.runs[f"audit:{job.id}"] += 1

        await emails.consume(mail, consumer_group="mailers", max_retries=0)
        await emails.consume(audit, consumer_group="audit")
        await emails.enqueue({"to": "ada@example.org"}, job_id="ok-1")
        await emails.enqueue({"to": "nobody@example.org", "fail": True}, job_id="bad-1")
        for i in range(7):
            await reports.enqueue({"report": i}, job_id=f"report-{i}")
        await stack.wait_for(lambda: _failed_count(emails, 1))
        source = RedisSource(config=redis_config)
        app = create_app(source, token=TOKEN, sample_interval=0.5)
        urls: list[str] = await nursery.start(serve, app, "127.0.0.1", 0)
        stack.url = urls[0]
        yield stack
        nursery.cancel_scope.cancel()


async def _failed_count(queue: RedisQueue[Any], n: int) -> bool:
    return len(await queue.get_failed_jobs()) == n


def _browse(script: Callable[[Browser], None]) -> Callable[[], None]:
    def run() -> None:
        from playwright.sync_api import sync_playwright

        playwright: Playwright
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=_ARGS)
            try:
                script(browser)
            finally:
                browser.close()

    return run


def _shot(page: Page, name: str, tmp: Path) -> None:
    path = tmp / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    target = os.environ.get("CHECKQUEUE_SCREENSHOTS")
    if target:
        shutil.copy(path, Path(target) / path.name)


def _live(*parts: str) -> str:
    """The selector of a live value (its key's parts joined by newlines, CSS-escaped)."""
    key = "\\a ".join(parts)
    return f'[data-live="{key}"]'


def _log_in(page: Page, url: str, next_path: str) -> None:
    page.goto(f"{url}/login?next={next_path}")
    page.fill("input[name=token]", TOKEN)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{url}{next_path}")


async def test_overview_counts_and_live_updates(stack: Stack, tmp_path: Path) -> None:
    """The overview lists every queue with the counts of the backend, and the counts
    follow the backend without a reload."""
    from playwright.sync_api import expect

    want = {
        "emails": await stack.emails.get_stats(),
        "reports": await stack.reports.get_stats(),
    }

    def script(browser: Browser) -> None:
        page = browser.new_page(viewport={"width": 1100, "height": 640})
        page.goto(stack.url + "/")
        for name, stats in want.items():
            row = page.locator(f'tr[data-queue="{name}"]')
            expect(row).to_have_count(1)
            for field in ("pending", "processing", "failed", "completed"):
                cell = row.locator(_live(name, field))
                expect(cell).to_have_text(str(getattr(stats, field)))
        page.evaluate("window.notReloaded = true")
        trio.from_thread.run(_enqueue_reports, stack.reports, 3)
        pending = page.locator(_live("reports", "pending"))
        expect(pending).to_have_text(str(want["reports"].pending + 3), timeout=10_000)
        assert page.evaluate("window.notReloaded") is True
        _shot(page, "overview", tmp_path)
        phone = browser.new_page(viewport={"width": 390, "height": 700}, color_scheme="dark")
        phone.goto(stack.url + "/queue?name=emails")
        expect(phone.locator("h1")).to_contain_text("emails")
        _shot(phone, "queue-phone-dark", tmp_path)

    assert want["reports"].pending == 7
    assert want["emails"].failed == 1
    await trio.to_thread.run_sync(_browse(script))


async def _enqueue_reports(queue: RedisQueue[Any], n: int) -> None:
    for i in range(n):
        await queue.enqueue({"report": 100 + i})


async def test_pause_group_from_the_page_stops_deliveries(stack: Stack, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    emails = stack.emails

    def script(browser: Browser) -> None:
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        _log_in(page, stack.url, "/queue?name=emails")
        row = page.locator('tr[data-group="mailers"]')
        badge = row.locator(".badge.paused")
        expect(badge).to_be_hidden()
        row.locator('button[data-action="pause"]').click()
        page.wait_for_load_state()
        expect(badge).to_be_visible()
        _shot(page, "queue", tmp_path)

    await trio.to_thread.run_sync(_browse(script))
    assert await emails.is_paused("mailers")
    assert not await emails.is_paused("audit")
    await emails.enqueue({"to": "grace@example.org"}, job_id="held-1")
    # "audit" (not paused) runs it; "mailers" holds it as waiting
    await stack.wait_for(lambda: _ran(stack, "audit:held-1"))
    await trio.sleep(1.5)  # several heartbeats of the worker: it would have claimed it
    job = await emails.get_job("held-1")
    assert job is not None
    assert job.groups["mailers"].state == "waiting"
    assert stack.runs["mailers:held-1"] == 0
    await emails.resume("mailers")
    await stack.wait_for(lambda: _ran(stack, "mailers:held-1"))


async def _ran(stack: Stack, key: str) -> bool:
    await trio.lowlevel.checkpoint()
    return stack.runs[key] > 0


async def test_job_page_and_retry_from_the_failed_page(stack: Stack, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    def script(browser: Browser) -> None:
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(stack.url + "/job?queue=emails&id=bad-1")
        expect(page.get_by_test_id("payload")).to_contain_text('"to": "nobody@example.org"')
        expect(page.get_by_test_id("error")).to_contain_text(
            "ValueError: no such mailbox: nobody@example.org"
        )
        _shot(page, "job", tmp_path)
        _log_in(page, stack.url, "/failed?queue=emails")
        row = page.locator('tr[data-failed="bad-1"]')
        expect(row).to_contain_text("mailers")
        _shot(page, "failed", tmp_path)
        row.locator('button[data-action="retry-failed"]').click()
        page.wait_for_load_state()

    assert stack.runs["mailers:bad-1"] == 1
    await trio.to_thread.run_sync(_browse(script))
    await stack.wait_for(lambda: _runs_at_least(stack, "mailers:bad-1", 2))
    assert await stack.emails.get_failed_jobs() == []
    assert stack.runs["audit:bad-1"] == 1  # retried in its failed group only


async def _runs_at_least(stack: Stack, key: str, n: int) -> bool:
    await trio.lowlevel.checkpoint()
    return stack.runs[key] >= n


async def test_actions_refused_without_token_and_cross_site(stack: Stack) -> None:
    def script(browser: Browser) -> None:
        context = browser.new_context()
        page = context.new_page()
        page.goto(stack.url + "/queue?name=emails")
        assert page.locator('button[data-action="pause"]').count() == 0  # not logged in
        status = page.evaluate(
            """async () => (await fetch('/api/actions/pause', {method: 'POST',
                 headers: {'Content-Type': 'application/json'},
                 body: JSON.stringify({queue: 'emails'})})).status"""
        )
        assert status == 401
        # logged in here, then a page of another site posts a form to the dashboard
        _log_in(page, stack.url, "/queue?name=emails")
        csrf = page.locator('input[name="csrf"]').first.get_attribute("value")
        evil = context.new_page()  # the same browser session: its cookie is there
        evil.route(
            "http://evil.test/",
            lambda route: route.fulfill(
                content_type="text/html",
                body=(
                    f'<form method="post" action="{stack.url}/api/actions/pause">'
                    '<input name="queue" value="emails">'
                    f'<input name="csrf" value="{csrf}"></form>'
                    "<script>document.forms[0].submit()</script>"
                ),
            ),
        )
        with evil.expect_response(f"{stack.url}/api/actions/pause") as reply:
            evil.goto("http://evil.test/")
        assert reply.value.status in (401, 403)

    await trio.to_thread.run_sync(_browse(script))
    assert not await stack.emails.is_paused()
    assert not await stack.emails.is_paused("mailers")


async def test_watching_queue_does_not_disturb_workers(stack: Stack) -> None:
    """The dashboard's own queue objects consume nothing: every job runs once per group."""
    import httpx

    async with httpx.AsyncClient(base_url=stack.url) as client:
        overview = (await client.get("/api/queues")).json()
        assert {q["name"] for q in overview["queues"]} == {"emails", "reports"}
        # the one worker process of "emails"; the dashboard's own is not counted (read
        # again while a busy machine delays the worker's heartbeat past its deadline)
        detail: dict[str, Any] = {}
        with trio.move_on_after(10):
            while True:
                detail = (await client.get("/api/queue", params={"name": "emails"})).json()
                if detail["processes_alive"] == 1:
                    break
                await trio.sleep(0.1)
        assert detail["processes_alive"] == 1
        groups = {g["name"]: g for g in detail["groups"]}
        assert set(groups) == {"mailers", "audit"}
        assert groups["mailers"]["consumers_here"] is None
        assert groups["mailers"]["last_seen_seconds"] is not None
        for i in range(30):
            await stack.emails.enqueue({"to": f"u{i}@example.org"}, job_id=f"many-{i}")
        await stack.wait_for(lambda: _all_ran(stack, 30))
        reports = (await client.get("/api/queue", params={"name": "reports"})).json()
        assert reports["stats"]["pending"] == 7  # nobody consumes "reports", nor the dashboard
        assert reports["processes_alive"] == 1  # the test's own queue object
    assert all(
        n == 1 for key, n in stack.runs.items() if key.startswith(("mailers:many", "audit:many"))
    )
    assert (await stack.emails.get_stats()).failed == 1


async def _all_ran(stack: Stack, n: int) -> bool:
    await trio.lowlevel.checkpoint()
    return all(stack.runs[f"{g}:many-{i}"] >= 1 for g in ("mailers", "audit") for i in range(n))
