"""The API's docs work offline: /docs (Swagger UI) and /redoc load their JavaScript, CSS and favicon from the API
itself (``/docs-assets``, the fastapi-offline package's files), never from a CDN. ``umm serve`` runs in its own
process and Debian's Chromium (through Playwright) opens the pages with every request to a host other than
127.0.0.1 refused and recorded: none may even be attempted (ReDoc's one hard-coded image off-host is stopped inside
the browser by /redoc's Content-Security-Policy). Screenshots go to tests/artifacts/.

The server runs over an empty warehouse, not the session's ``api_world``: the docs read no data, and building
that world fits the model chain."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.api.support import ROOT, serving
from umm_assets.lib.servers import ensure_chromium

ARTIFACTS = ROOT / "tests" / "artifacts"  # git-ignored
ASSETS = ["/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css", "/docs-assets/favicon.png",
          "/docs-assets/redoc.standalone.js"]
TITLE = "Unified-M API"
LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"  # in ReDoc's sidebar footer, hidden when it does not load


@pytest.fixture(scope="module")
def docs_api(tmp_path_factory) -> Iterator[str]:
    """``umm serve`` on a free loopback port over an empty warehouse."""
    root = tmp_path_factory.mktemp("docs_api")
    (root / "warehouse").mkdir()
    with serving(root / "warehouse", root / "state", root / "serve.log") as url:
        yield url


# --- without a browser --------------------------------------------------------------------------------------------


def test_docs_pages_and_their_assets_are_local_and_public(docs_api):
    with httpx.Client(base_url=docs_api, timeout=30) as client:  # no key anywhere
        for page in ("/docs", "/redoc"):
            html = client.get(page)
            assert html.status_code == 200 and html.headers["content-type"].startswith("text/html"), page
            assert not re.findall(r"https?://", html.text), (page, html.text)  # no asset (nor anything) off-host
            referenced = re.findall(r'(?:src|href)="([^"]+)"', html.text)
            assert referenced and all(url.startswith("/docs-assets/") for url in referenced), (page, referenced)
        assert "'/openapi.json'" in client.get("/docs").text
        for asset in ASSETS:
            response = client.get(asset)
            assert response.status_code == 200 and len(response.content) > 1000, asset
        assert client.get("/docs-assets/swagger-ui.css").headers["content-type"].startswith("text/css")
        assert client.get("/docs/oauth2-redirect").status_code == 200
        assert client.get("/redoc").headers["content-security-policy"] == "img-src 'self' data: blob:"
        assert client.get("/openapi.json").json()["info"]["title"] == TITLE
        # the rest stays as it was: data needs a key, and nothing else is served under /docs-assets
        assert client.get("/api/v1/roas").status_code == 401
        assert client.get("/docs-assets/core.py").status_code == 404
        assert client.get("/docs-assets/../app.py").status_code == 404


# --- in a real browser, offline -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch options, pointed at the system Chromium (as in tests/dash/conftest.py)."""
    return {**browser_type_launch_args, "executable_path": ensure_chromium(),
            "args": ["--no-sandbox", "--disable-dev-shm-usage"]}


class Offline:
    """Watches ``page`` with the network cut off: every request to a host other than 127.0.0.1 that reaches the
    network is aborted and recorded in ``attempted``; ``off_host`` is every request the page made off this host,
    ``refused`` those the page's own Content-Security-Policy stopped before they left the browser, ``problems``
    the page's errors (uncaught exceptions, console errors, failed or >= 400 local requests)."""

    def __init__(self, page: Page):
        self.attempted: list[str] = []
        self.off_host: list[str] = []
        self.refused: list[str] = []
        self.local: list[str] = []
        self.problems: list[str] = []
        page.route("**/*", self._gate)
        page.on("request", self._request)
        page.on("requestfailed", self._failed)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("console", lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("response", lambda r: self.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    @staticmethod
    def _is_local(url: str) -> bool:
        return urlsplit(url).hostname == "127.0.0.1"

    def _gate(self, route: Route) -> None:
        if self._is_local(route.request.url):
            route.continue_()
        else:
            self.attempted.append(route.request.url)
            route.abort("blockedbyclient")

    def _request(self, request) -> None:
        if self._is_local(request.url):
            self.local.append(urlsplit(request.url).path)
        else:
            self.off_host.append(request.url)

    def _failed(self, request) -> None:
        if request.failure == "csp" and not self._is_local(request.url):
            self.refused.append(request.url)
        elif request.url not in self.attempted:
            self.problems.append(f"failed: {request.url} {request.failure}")


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


@pytest.mark.browser
def test_swagger_ui_renders_offline(page: Page, docs_api):
    page.set_viewport_size({"width": 1440, "height": 900})
    offline = Offline(page)
    page.goto(f"{docs_api}/docs")
    expect(page).to_have_title(f"{TITLE} - Swagger UI")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text(TITLE, timeout=30_000)
    roas = page.locator('.opblock-summary-path[data-path="/api/v1/roas"]')
    expect(roas).to_be_visible()
    expect(page.locator('.opblock-summary-path[data-path="/api/v1/scenarios"]')).to_be_visible()
    expect(page.locator(".swagger-ui .btn.authorize")).to_be_visible()  # the key schemes from /openapi.json
    # styled by swagger-ui.css (unstyled, a GET's summary has no blue border)
    border = page.evaluate("""() => getComputedStyle(document.querySelector('.swagger-ui .opblock.opblock-get'))
                                        .borderTopColor""")
    assert border == "rgb(97, 175, 254)", border
    page.wait_for_load_state("networkidle")
    _screenshot(page, "api-docs.png")
    roas.click()  # the operation opens and lists its parameters
    expect(page.locator(".opblock.is-open .parameter__name", has_text="as_of")).to_be_visible()
    assert offline.attempted == [] and offline.off_host == [], (offline.attempted, offline.off_host)
    assert offline.problems == [], offline.problems
    assert {"/docs", "/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css",
            "/openapi.json"} <= set(offline.local), offline.local


@pytest.mark.browser
def test_redoc_renders_offline(page: Page, docs_api):
    page.set_viewport_size({"width": 1440, "height": 900})
    offline = Offline(page)
    page.goto(f"{docs_api}/redoc")
    expect(page).to_have_title(f"{TITLE} - ReDoc")
    expect(page.locator(".api-info h1")).to_contain_text(TITLE, timeout=30_000)
    expect(page.get_by_text("/api/v1/roas", exact=True).first).to_be_attached()
    page.wait_for_load_state("networkidle")
    _screenshot(page, "api-redoc.png")
    assert offline.attempted == [], offline.attempted
    # the only off-host request ReDoc starts at all is its Redocly logo, which /redoc's policy stops in the browser
    assert offline.off_host == offline.refused and set(offline.refused) <= {LOGO}, offline.off_host
    policy = [p for p in offline.problems if "violates the following Content Security Policy" in p]
    assert all(LOGO in p for p in policy) and [p for p in offline.problems if p not in policy] == [], offline.problems
    assert {"/redoc", "/docs-assets/redoc.standalone.js", "/openapi.json"} <= set(offline.local), offline.local
