"""The inspector page (``GET /__mockrouter/ui``, issue #15) in a real browser: Debian's Chromium,
headless, driven by Playwright for Python; traffic from the ``openai`` SDK and httpx.

The page is found through its ``data-testid`` hooks (the contract in the issue): ``journal``,
``journal-row`` (``data-id``), ``filter-*``, ``detail``, ``timeline*``, ``near-miss*``,
``mismatch`` (``data-condition``), ``copy-curl``/``curl-text``, ``reset``/``reset-confirm``,
``live-status``. ``test_screenshots`` also writes ``docs/inspector-*.png`` from a fixed set of
requests (rewritten only when the picture changed).
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from browser import chromium_executable, keep_screenshot, parse_curl

from mockrouter.http.server import BackgroundServer

try:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # pragma: no cover - the test extra has it
    pytest.skip("playwright is not installed (pip install -e '.[test]')", allow_module_level=True)

CHROMIUM = chromium_executable()
if CHROMIUM is None:
    pytest.skip("chromium is not installed (.ci/run installs it: apt-get install chromium)", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
UI = "/__mockrouter/ui"
VIEWPORT = {"width": 1280, "height": 800}
#: How long a row may take to appear, a detail to open, a filter to apply (the page is live).
QUICK_MS = 5_000
MODEL = "openai/gpt-4o-mini"


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for the module (Debian's, never a downloaded one)."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def inspector(make_server: Callable[..., BackgroundServer]) -> BackgroundServer:
    """The server the pages look at; at speed 1 so a stream's ``timing`` shows on its timeline."""
    return make_server(speed=1.0)


def new_context(chromium: Browser, **options: Any) -> BrowserContext:
    options.setdefault("viewport", VIEWPORT)
    options.setdefault("locale", "en-US")
    options.setdefault("timezone_id", "UTC")
    context = chromium.new_context(**options)
    context.set_default_timeout(QUICK_MS)
    return context


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh page per test (its own context); the test fails if the page's scripts threw."""
    context = new_context(chromium)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    yield p
    context.close()
    assert not errors, f"the page's scripts threw: {errors}"


@pytest.fixture
def api_key() -> str:
    return f"sk-ui-{uuid.uuid4().hex}"


# -- helpers -----------------------------------------------------------------------------------


def open_ui(page: Page, server: BackgroundServer) -> Page:
    """Load the page and wait until its journal is shown and its event stream is open."""
    response = page.goto(server.url + UI)
    assert response is not None and response.status == 200, response and response.status
    expect(page.get_by_test_id("journal")).to_be_visible()
    expect(page.get_by_test_id("live-status")).to_have_text(re.compile(r"^\W*live\W*$", re.I))
    return page


def row(page: Page, entry_id: str) -> Locator:
    return page.locator(f'[data-testid="journal-row"][data-id="{entry_id}"]')


def admin_get(server: BackgroundServer, path: str, token: str | None = None, **params: Any) -> Any:
    headers = {"X-Mockrouter-Admin-Token": token} if token else {}
    response = httpx.get(server.url + "/__mockrouter" + path, params=params, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def entries(server: BackgroundServer, key: str | None = None) -> list[dict[str, Any]]:
    params = {"key": key} if key else {}
    return admin_get(server, "/requests", limit=1000, **params)["data"]


def add_scenarios(server: BackgroundServer, yaml_text: str, key: str | None = None) -> None:
    params = {"key": key} if key else {}
    response = httpx.post(
        server.url + "/__mockrouter/scenarios",
        params=params,
        content=yaml_text,
        headers={"content-type": "application/yaml"},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def chat(server: BackgroundServer, key: str, text: str, model: str = MODEL, **fields: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **fields}
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(server.base_url + "/chat/completions", json=body, headers=headers, timeout=10)


def sdk_chat(server: BackgroundServer, key: str, text: str, model: str = MODEL) -> str:
    with openai.OpenAI(base_url=server.base_url, api_key=key, timeout=10, max_retries=0) as client:
        reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content or ""


def open_detail(page: Page, entry_id: str) -> Locator:
    """Click a request's row; its detail, once shown."""
    row(page, entry_id).click()
    detail = page.get_by_test_id("detail")
    expect(detail).to_be_visible()
    return detail


def text_of(locator: Locator) -> str:
    """What an element shows: a form field's value, else its text."""
    return str(locator.evaluate("e => ['TEXTAREA', 'INPUT'].includes(e.tagName) ? e.value : e.textContent"))


# -- 1. the page loads, live -------------------------------------------------------------------


def test_the_page_loads_with_its_journal_live_and_nothing_from_elsewhere(page: Page, inspector) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    open_ui(page, inspector)
    assert page.title(), "the page has no <title>"
    elsewhere = [
        u
        for u in asked
        if not u.startswith((inspector.url + "/__mockrouter/", "data:", "blob:"))
        and u != inspector.url + "/favicon.ico"  # the browser's own guess, not the page's
    ]
    assert not elsewhere, f"the page loaded something not under /__mockrouter/: {elsewhere}"
    assert any("/__mockrouter/events" in u for u in asked), f"no EventSource on /__mockrouter/events: {asked}"


def test_the_page_files_are_served_with_their_types_and_nothing_else_is(inspector) -> None:
    page_html = httpx.get(inspector.url + UI, timeout=10)
    assert page_html.status_code == 200
    assert page_html.headers["content-type"].startswith("text/html")
    for name, kind in [("app.js", "javascript"), ("app.css", "text/css")]:
        response = httpx.get(f"{inspector.url}{UI}/{name}", timeout=10)
        assert response.status_code == 200, name
        assert kind in response.headers["content-type"], (name, response.headers["content-type"])
    for name in ["nope.js", "../admin.py", "%2e%2e/%2e%2e/core/config.py"]:
        assert httpx.get(f"{inspector.url}{UI}/{name}", timeout=10).status_code == 404, name


# -- 2. rows appear live -----------------------------------------------------------------------


def test_requests_from_the_sdk_appear_live_with_status_model_and_scenario(page: Page, inspector, api_key) -> None:
    open_ui(page, inspector)
    page.evaluate("window.__notReloaded = true")
    models = ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku", "google/gemini-2.0-flash"]
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda m: sdk_chat(inspector, api_key, f"live from {m}", m), models))
    assert answers == [f"live from {m}" for m in models]  # echo
    sent = entries(inspector, api_key)
    assert len(sent) == 3
    for entry in sent:
        shown = row(page, entry["id"])
        expect(shown).to_be_visible()
        expect(shown).to_contain_text("200")
        expect(shown).to_contain_text(entry["model"])
        expect(shown).to_contain_text("echo")
    newest = max(sent, key=lambda e: int(e["id"].removeprefix("req_")))
    expect(row(page, newest["id"])).to_be_in_viewport()
    assert page.evaluate("window.__notReloaded === true"), "the page reloaded to show the new rows"


# -- 3. a streamed request with a fault: its timeline ------------------------------------------

FAULT_YAML = """\
name: ui-stream-{kind}
match: {{last_user: "stream with a {kind}"}}
steps:
  - stream: {{chunks: [One, " two", " three", " four", " five"]}}
    timing: {{interval_ms: 20}}
    fault: {{kind: {kind}, after_chunks: 2}}
"""


@pytest.mark.parametrize("kind", ["error", "disconnect"])
def test_a_streamed_fault_is_drawn_on_the_timeline(page: Page, inspector, api_key, kind: str) -> None:
    add_scenarios(inspector, FAULT_YAML.format(kind=kind), key=api_key)
    with contextlib.suppress(httpx.HTTPError):  # disconnect: the connection drops mid-stream, as scripted
        chat(inspector, api_key, f"stream with a {kind}", stream=True)
    [entry] = entries(inspector, api_key)
    assert entry["scenario"] == f"ui-stream-{kind}" and entry["fault"], entry
    whole = admin_get(inspector, f"/requests/{entry['id']}")
    assert whole["fault_after_chunks"] == 2, whole
    writes = whole["timeline"]
    assert len(writes) >= 2, writes

    open_ui(page, inspector)
    detail = open_detail(page, entry["id"])
    timeline = detail.get_by_test_id("timeline")
    expect(timeline).to_be_visible()
    marks = timeline.get_by_test_id("timeline-write")
    expect(marks).to_have_count(len(writes))
    expect(timeline.get_by_test_id("timeline-ttft")).to_have_count(1)
    expect(timeline.get_by_test_id("timeline-fault")).to_have_count(1)
    # drawn along a time axis: the last write is right of the first (20 ms apart), the fault
    # is no earlier than the first write
    xs = [box["x"] for box in (marks.nth(i).bounding_box() for i in range(len(writes))) if box]
    assert len(xs) == len(writes), "a timeline-write mark has no box (not drawn)"
    assert xs[-1] > xs[0], f"the writes are not spread over time: {xs}"
    fault_box = timeline.get_by_test_id("timeline-fault").bounding_box()
    assert fault_box is not None and fault_box["x"] + fault_box["width"] >= xs[0], (fault_box, xs)


# -- 4. an unmatched request: its near misses --------------------------------------------------

NEAR_YAML = """\
name: ui-weather
match: {model: "acme/*", last_user: "(?i)weather"}
steps: [{content: Sunny.}]
"""


def test_an_unmatched_request_shows_the_failed_condition_expected_and_actual(page: Page, inspector, api_key) -> None:
    add_scenarios(inspector, NEAR_YAML, key=api_key)
    assert chat(inspector, api_key, "tell me a joke", model="acme/x").json()["choices"][0]["message"]["content"] == (
        "tell me a joke"
    )
    [entry] = entries(inspector, api_key)
    assert entry["unmatched"] and entry["scenario"] == "echo", entry

    open_ui(page, inspector)
    detail = open_detail(page, entry["id"])
    misses = detail.get_by_test_id("near-misses")
    expect(misses).to_be_visible()
    miss = misses.get_by_test_id("near-miss").filter(has_text="ui-weather")
    expect(miss).to_have_count(1)
    mismatch = miss.locator('[data-testid="mismatch"][data-condition="last_user"]')
    expect(mismatch).to_have_count(1)
    expect(mismatch).to_contain_text("(?i)weather")  # expected
    expect(mismatch).to_contain_text("tell me a joke")  # actual
    # the condition that held is not listed as failed
    expect(miss.locator('[data-testid="mismatch"][data-condition="model"]')).to_have_count(0)


# -- scenarios, cursors and the report ---------------------------------------------------------


def test_scenarios_show_their_cursor_and_the_report_links_to_its_proof(page: Page, inspector, api_key) -> None:
    name = f"ui-busy-{uuid.uuid4().hex[:8]}"
    add_scenarios(
        inspector,
        f"name: {name}\nmatch: {{last_user: '^{name}$'}}\nsteps:\n  - error: {{status: 429, retry_after: 1}}\n"
        "  - content: Now it works.\n",
    )
    assert chat(inspector, api_key, name).status_code == 429  # and no retry: a finding
    [entry] = entries(inspector, api_key)

    open_ui(page, inspector)
    scenario = page.get_by_test_id("scenarios").locator(f'[data-scenario="{name}"]').first
    expect(scenario).to_contain_text(f"^{name}$")  # its match block
    cursor = page.get_by_test_id("scenarios").get_by_test_id("cursor").filter(has_text=api_key[-4:])
    expect(cursor).to_have_count(1)
    expect(cursor).to_contain_text("served 1")
    finding = page.get_by_test_id("report").get_by_test_id("finding").filter(has_text=entry["id"])
    expect(finding).to_have_count(1)
    finding.get_by_text(entry["id"]).click()
    detail = page.get_by_test_id("detail")
    expect(detail).to_be_visible()
    expect(detail).to_contain_text(entry["id"])
    expect(detail).to_contain_text("429")


# -- 5. filter by key --------------------------------------------------------------------------


def test_typing_a_key_hint_keeps_only_that_keys_rows(page: Page, inspector) -> None:
    mine, theirs = f"sk-ui-{uuid.uuid4().hex}-q7x1", f"sk-ui-{uuid.uuid4().hex}-z9w2"
    for key in (mine, theirs, mine, theirs):
        assert chat(inspector, key, "filter me").status_code == 200
    mine_ids = [e["id"] for e in entries(inspector, mine)]
    theirs_ids = [e["id"] for e in entries(inspector, theirs)]

    open_ui(page, inspector)
    for entry_id in mine_ids + theirs_ids:
        expect(row(page, entry_id)).to_be_visible()
    page.get_by_test_id("filter-key").fill("q7x1")
    for entry_id in theirs_ids:
        expect(row(page, entry_id)).to_have_count(0)
    for entry_id in mine_ids:
        expect(row(page, entry_id)).to_be_visible()
    expect(page.get_by_test_id("journal-row")).to_have_count(len(mine_ids))
    page.get_by_test_id("filter-key").fill("")
    for entry_id in theirs_ids:
        expect(row(page, entry_id)).to_be_visible()


# -- 6. reset, with a confirmation -------------------------------------------------------------


def test_reset_asks_first_then_empties_the_journal_here_and_on_the_server(
    page: Page, make_server: Callable[..., BackgroundServer]
) -> None:
    server = make_server()
    key = f"sk-ui-{uuid.uuid4().hex}"
    for text in ("one", "two"):
        assert chat(server, key, text).status_code == 200
    ids = [e["id"] for e in entries(server)]
    assert len(ids) == 2

    open_ui(page, server)
    expect(page.get_by_test_id("journal-row")).to_have_count(2)
    page.get_by_test_id("reset").click()
    confirm = page.get_by_test_id("reset-confirm")
    expect(confirm).to_be_visible()
    assert len(entries(server)) == 2, "reset before it was confirmed"
    confirm.click()
    expect(page.get_by_test_id("journal-row")).to_have_count(0)
    deadline = time.monotonic() + 5
    while entries(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert entries(server) == [], "the server's journal was not reset"
    # still live afterwards: a new request shows up
    assert chat(server, key, "after the reset").status_code == 200
    [after] = entries(server)
    expect(row(page, after["id"])).to_be_visible()


# -- 7. copy as curl ---------------------------------------------------------------------------


def test_copy_as_curl_replays_the_request(page: Page, inspector, api_key) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": 'replay me, it\'s "quoted" & $safe'}]}
    sent = httpx.post(
        inspector.base_url + "/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {api_key}", "X-Title": "inspector test"},
        timeout=10,
    )
    assert sent.status_code == 200
    [entry] = entries(inspector, api_key)

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=inspector.url)
    open_ui(page, inspector)
    detail = open_detail(page, entry["id"])
    detail.get_by_test_id("copy-curl").click()
    curl_text = detail.get_by_test_id("curl-text")
    expect(curl_text).to_be_attached()
    deadline = time.monotonic() + QUICK_MS / 1000
    while "curl" not in text_of(curl_text) and time.monotonic() < deadline:
        time.sleep(0.05)
    command = text_of(curl_text).strip()
    assert command.startswith("curl"), f"curl-text holds {command!r}"
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.strip() == command, f"copied {copied!r}, shown {command!r}"
    assert api_key not in command, "the curl command shows the API key"
    assert "$MOCKROUTER_KEY" in command or "${MOCKROUTER_KEY}" in command, command
    assert inspector.url + "/api/v1/chat/completions" in command, command

    env = {"MOCKROUTER_KEY": api_key}
    curl = subprocess.run(["which", "curl"], capture_output=True, text=True).stdout.strip()
    if curl:
        ran = subprocess.run(
            ["bash", "-c", command + " --silent --show-error --write-out '\\n%{http_code}'"],
            env={"PATH": "/usr/bin:/bin", **env},
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert ran.returncode == 0, (command, ran.stderr)
        answer, _, status = ran.stdout.rpartition("\n")
        assert status == "200", (command, ran.stdout)
        assert json.loads(answer)["choices"][0]["message"]["content"] == body["messages"][0]["content"]
    else:
        parsed = parse_curl(command, env)
        replay = httpx.request(parsed.method, parsed.url, headers=parsed.headers, content=parsed.body, timeout=10)
        assert replay.status_code == 200, replay.text
    first, again = entries(inspector, api_key)
    assert first["id"] == entry["id"]
    assert again["body"] == entry["body"] and again["path"] == entry["path"] and again["status"] == 200
    expect(row(page, again["id"])).to_be_visible()


# -- 8. keyboard -------------------------------------------------------------------------------


def test_the_keyboard_moves_opens_and_closes(page: Page, inspector, api_key) -> None:
    for text in ("first", "second"):
        assert chat(inspector, api_key, text).status_code == 200
    open_ui(page, inspector)
    expect(page.get_by_test_id("journal-row").first).to_be_visible()
    detail = page.get_by_test_id("detail")
    expect(detail).to_be_hidden()
    page.get_by_test_id("journal").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(detail).to_be_visible()
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()
    page.keyboard.press("/")
    focused = page.evaluate("document.activeElement && document.activeElement.dataset.testid")
    assert focused and focused.startswith("filter-"), f"'/' focused {focused!r}, not a filter"


# -- 9. thousands of entries -------------------------------------------------------------------


#: How long the page takes to paint its next frame (ms).
_FRAME_JS = (
    "() => new Promise(r => { const t = performance.now(); requestAnimationFrame(() => r(performance.now() - t)); })"
)


def test_three_thousand_entries_load_fast_and_the_page_stays_responsive(
    chromium: Browser, make_server: Callable[..., BackgroundServer]
) -> None:
    server = make_server()
    keys = [f"sk-ui-{uuid.uuid4().hex}-m{n}n{n}" for n in range(3)]
    total = 3000

    def send(worker: int) -> None:
        with httpx.Client(base_url=server.base_url, timeout=10) as c:
            for i in range(worker, total, 6):
                body = {"model": MODEL, "messages": [{"role": "user", "content": f"n{i}"}]}
                key = keys[i % 3]
                assert c.post("/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}).is_success

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(send, range(6)))
    assert admin_get(server, "/health")["journal"]["entries"] >= total
    newest = entries(server)[-1]

    context = new_context(chromium)
    try:
        page = context.new_page()
        started = time.monotonic()
        open_ui(page, server)
        expect(row(page, newest["id"])).to_be_visible()
        loaded = time.monotonic() - started
        assert loaded < 5, f"the page took {loaded:.1f} s to show 3,000 entries"
        # responsive: a frame within a second, and a filter applied within a second of typing
        frame = page.evaluate(_FRAME_JS)
        assert frame < 1000, f"a frame took {frame:.0f} ms"
        started = time.monotonic()
        page.get_by_test_id("filter-key").fill("m1n1")
        expect(page.get_by_test_id("journal-row").filter(has_text="m0n0")).to_have_count(0, timeout=1000)
        expect(page.get_by_test_id("journal-row").filter(has_text="m2n2")).to_have_count(0, timeout=1000)
        expect(page.get_by_test_id("journal-row").filter(has_text="m1n1").first).to_be_visible(timeout=1000)
        filtered = time.monotonic() - started
        assert filtered < 1.5, f"filtering 3,000 entries took {filtered:.1f} s"
    finally:
        context.close()


# -- 10. the admin token -----------------------------------------------------------------------


def test_with_an_admin_token_the_page_needs_it(chromium: Browser, make_server: Callable[..., BackgroundServer]) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    server = make_server(admin_token=token)
    bare = httpx.get(server.url + UI, timeout=10)
    assert bare.status_code == 401
    assert bare.headers.get("www-authenticate", "").lower().startswith("basic"), bare.headers

    context = new_context(chromium)
    try:
        # headless, the browser cannot prompt: the challenge ends the load (or shows the 401)
        try:
            response = context.new_page().goto(server.url + UI)
        except PlaywrightError as exc:
            assert "ERR_INVALID_AUTH_CREDENTIALS" in str(exc), exc
        else:
            assert response is not None and response.status == 401, response and response.status
    finally:
        context.close()

    context = new_context(chromium, http_credentials={"username": "me", "password": token})
    try:
        page = open_ui(context.new_page(), server)
        key = f"sk-ui-{uuid.uuid4().hex}"
        assert chat(server, key, "behind a token").status_code == 200
        [entry] = admin_get(server, "/requests", token=token, key=key)["data"]
        expect(row(page, entry["id"])).to_be_visible()  # the event stream is authenticated too
    finally:
        context.close()


# -- 11. light and dark ------------------------------------------------------------------------

_COLOURS_JS = """() => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  let background = null;
  for (const el of [document.body, document.documentElement]) {
    const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length < 4 || c[3] > 0) { background = c.slice(0, 3); break; }
  }
  return {background, text: rgb(getComputedStyle(document.body).color).slice(0, 3)};
}"""


def luminance(rgb: list[float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_light_and_dark_mode_follow_the_system_with_readable_contrast(chromium: Browser, inspector, scheme) -> None:
    context = new_context(chromium, color_scheme=scheme)
    try:
        page = open_ui(context.new_page(), inspector)
        colours = page.evaluate(_COLOURS_JS)
    finally:
        context.close()
    assert colours["background"] is not None, "the page sets no background colour on body or html"
    back, text = luminance(colours["background"]), luminance(colours["text"])
    if scheme == "dark":
        assert back < 0.2, f"the dark background is not dark: {colours}"
    else:
        assert back > 0.6, f"the light background is not light: {colours}"
    contrast = (max(back, text) + 0.05) / (min(back, text) + 0.05)
    assert contrast >= 4.5, f"text contrast {contrast:.1f}:1 is below 4.5:1 ({scheme}: {colours})"


# -- screenshots for the docs ------------------------------------------------------------------

DEMO_YAML = """\
name: weather-agent
description: Answers questions about the weather.
match: {last_user: "(?i)weather"}
steps:
  - content: It is sunny in Lisbon, 24 °C.
---
name: flaky-stream
description: Streams, then the provider fails mid-stream after three chunks.
match: {last_user: "(?i)story"}
steps:
  - stream: {chunks: [Once, " upon", " a", " time", " there", " was"]}
    timing: {ttft_ms: 120, interval_ms: 40}
    fault: {kind: error, after_chunks: 3}
---
name: rate-limited
description: A 429 with Retry-After.
match: {last_user: "(?i)busy"}
steps:
  - error: {status: 429, retry_after: 1}
---
name: pirate
description: Talks like a pirate to Claude models.
match: {model: "anthropic/*", last_user: "(?i)ahoy"}
steps:
  - content: Arr, ahoy!
"""

DEMO_REQUESTS = [
    ("sk-demo-alice-7f3a", "openai/gpt-4o-mini", "What's the weather in Lisbon?", False),
    ("sk-demo-alice-7f3a", "openai/gpt-4o-mini", "Tell me a story", True),
    ("sk-demo-bob-19c2", "anthropic/claude-3.5-haiku", "Are you busy?", False),
    ("sk-demo-bob-19c2", "anthropic/claude-3.5-haiku", "Hello there", False),
    ("sk-demo-alice-7f3a", "google/gemini-2.0-flash", "Summarise this page", False),
    ("sk-demo-bob-19c2", "anthropic/claude-3.5-haiku", "Ahoy!", False),
]


def test_screenshots(chromium: Browser, make_server: Callable[..., BackgroundServer]) -> None:
    """docs/inspector-journal.png, -detail.png (light) and -dark.png from a fixed set of requests
    on a fresh server (ids req_00000001...), the page's clock pinned; each file is rewritten
    only when its picture changed beyond a few times and durations (``browser.SAME_PICTURE``:
    delete the PNGs to force a change as small as one word into them)."""
    server = make_server(speed=1.0, seed=1)
    add_scenarios(server, DEMO_YAML)
    for key, model, text, stream in DEMO_REQUESTS:
        with contextlib.suppress(httpx.HTTPError):
            chat(server, key, text, model=model, stream=stream)
    listed = entries(server)
    assert len(listed) == len(DEMO_REQUESTS)
    streamed = next(e for e in listed if e["scenario"] == "flaky-stream")
    pinned = datetime.fromisoformat(listed[-1]["time"].replace("Z", "+00:00")) if listed else datetime.now(UTC)

    shots: dict[str, bytes] = {}
    for scheme in ("light", "dark"):
        context = new_context(chromium, color_scheme=scheme)
        try:
            page = context.new_page()
            page.clock.set_fixed_time(pinned)
            open_ui(page, server)
            expect(page.get_by_test_id("journal-row")).to_have_count(len(DEMO_REQUESTS))
            if scheme == "light":
                shots["journal"] = page.screenshot()
            open_detail(page, streamed["id"])
            expect(page.get_by_test_id("timeline-fault")).to_be_visible()
            page.mouse.move(0, 0)  # no hover effects
            shots["detail" if scheme == "light" else "dark"] = page.screenshot()
        finally:
            context.close()

    for name, png in shots.items():
        assert len(png) < 300_000, f"inspector-{name}.png is {len(png)} bytes"
        keep_screenshot(chromium, DOCS / f"inspector-{name}.png", png)
        assert (DOCS / f"inspector-{name}.png").exists()
