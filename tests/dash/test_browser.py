"""The dashboard in a real browser (Debian's Chromium through Playwright) against ``umm dash`` in its own
process: whole pages, as a person uses them. Screenshots of every page at 1440x900 and on a 390-px phone
go to tests/artifacts/."""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from tests.dash.conftest import ARTIFACTS
from umm_assets.lib.serving.audit import AuditLog
from umm_assets.lib.storage import Warehouse

pytestmark = pytest.mark.browser
PAGES = {"/": "overview", "/contributions": "contributions", "/roas": "roas", "/curves": "curves",
         "/planner": "planner", "/health": "health", "/history": "history"}
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


class Watch:
    """Browser console errors, uncaught exceptions and server errors seen by a page."""

    def __init__(self, page: Page):
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("response", lambda r: self.problems.append(f"{r.status} {r.url}") if r.status >= 500 else None)


def sign_in(page: Page, url: str, key: str, path: str = "/") -> None:
    page.goto(f"{url}/login?next={quote(path, safe='')}")
    page.fill("#key", key)
    page.click("button[type=submit]")
    shown(page)


def shown(page: Page) -> None:
    """Wait until the page's content is rendered: no callback pending and every figure drawn."""
    expect(page.locator("#_pages_content h2")).to_be_visible(timeout=30_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_function("""() => !document.querySelector('[data-dash-is-loading="true"]') &&
        Array.from(document.querySelectorAll('#_pages_content .dash-graph'))
             .every(g => g.offsetParent === null || g.querySelector('.main-svg'))""", timeout=30_000)


def stored(world, asset: str, table: str, week: str | None = None) -> pd.DataFrame:
    warehouse = Warehouse(world.data_dir)
    return warehouse.read_commit(warehouse.commit(asset, week or world.newest), table)


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dash-{name}-1440.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)  # figures resize to the new width
    page.screenshot(path=str(ARTIFACTS / f"dash-{name}-390.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def figure_trace(page: Page, graph: str, name: str) -> list[float]:
    """The x values plotly drew for a trace (``_fullData``: decoded from the figure's binary arrays)."""
    page.wait_for_selector(f"#{graph} .js-plotly-plot .main-svg")  # plotly.js loads on the first figure
    return page.evaluate(f"""() => Array.from(document.querySelector('#{graph} .js-plotly-plot')._fullData
                                       .find(t => t.name === '{name}').x)""")


def test_every_page_shows_the_stored_numbers_without_errors(page: Page, live_dash, dash_world):
    world = dash_world.world
    watch = Watch(page)
    page.goto(f"{live_dash}/roas")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Froas"))
    sign_in(page, live_dash, dash_world.keys["analyst"], "/roas")
    expect(page).to_have_url(f"{live_dash}/roas")
    reconciled = stored(world, "reconciled_lift", "reconciled").set_index("channel")
    expected = {
        "/": lambda: expect(page.locator("#overview-channels tr", has_text="search")).to_contain_text(
            f"{reconciled.at['search', 'roas_mean']:.2f}"),
        "/contributions": lambda: expect(page.locator("#contributions-totals tr", has_text="baseline")).to_contain_text(
            f"{_baseline_total(world):,.0f}"),
        "/roas": lambda: _same(figure_trace(page, "roas-forest", "reconciled"),
                               reconciled.sort_index(ascending=False)["roas_mean"]),
        "/curves": lambda: expect(page.locator("#curves-marginal tr", has_text="tv")).to_contain_text(
            f"{stored(world, 'allocation', 'allocation').set_index('channel').at['tv', 'current']:,.0f}"),
        "/planner": lambda: expect(page.locator("#planner-budget-kpi")).to_have_text(
            f"{stored(world, 'allocation', 'summary')['budget'].iloc[0]:,.0f}"),
        "/health": lambda: expect(page.locator("#health-rhat")).to_have_text(
            f"{stored(world, 'mmm_posterior', 'diagnostics')['rhat_max'].iloc[0]:.3f}"),
        "/history": lambda: expect(page.locator("#history-table tr", has_text=world.newest).filter(
            has_text="search")).to_contain_text(f"{reconciled.at['search', 'roas_mean']:.2f}"),
    }
    for path, name in PAGES.items():
        page.click(f"nav a[href^='{path}?'], nav a[href='{path}']")
        shown(page)
        expect(page).to_have_url(re.compile(re.escape(path) + r"(\?week=.*)?$"))
        expected[path]()
        expect(page.locator(".umm-error")).to_have_count(0)
        screenshot(page, name)
    assert watch.problems == []
    views = {e["path"] for e in AuditLog(dash_world.state_dir / "audit.jsonl").tail(200)
             if e["method"] == "GET" and e["key_name"] == "dash analyst" and e["status"] == 200}
    assert set(PAGES) <= views  # every page view is in the API's audit log


def test_changing_the_week_changes_the_numbers_and_the_url(page: Page, live_dash, dash_world):
    world = dash_world.world
    older, newest = world.model_weeks
    sign_in(page, live_dash, dash_world.keys["viewer"])
    now, before = (stored(world, "reconciled_lift", "reconciled", w).set_index("channel")["roas_mean"]
                   for w in (newest, older))
    channel = (now - before).abs().idxmax()  # the channel whose ROAS moved most between the two weeks
    assert f"{now[channel]:.2f}" != f"{before[channel]:.2f}", "the two as-of weeks should differ"
    row = page.locator("#overview-channels tr", has_text=channel)
    revenue = page.locator("#overview-media-revenue").inner_text()
    expect(row).to_contain_text(f"{now[channel]:.2f}")
    page.click("#shell-week")
    page.get_by_role("option", name=f"Week of {pd.Timestamp(older):%d %b %Y}").click()
    expect(page).to_have_url(re.compile(rf"week={older}"))
    expect(page.locator("#_pages_content")).to_contain_text(f"As of the week of {older}")
    expect(row).to_contain_text(f"{before[channel]:.2f}")
    expect(page.locator("#overview-media-revenue")).not_to_have_text(revenue)
    with page.expect_download() as download:  # the table's CSV is the stored numbers of the shown week
        page.locator('''[id='{"table":"overview-channels","type":"umm-csv"}']''').click()
    csv = pd.read_csv(download.value.path()).set_index("channel")
    assert csv.at[channel, "roas_mean"] == pytest.approx(before[channel])
    page.reload()  # the link alone reproduces the view
    shown(page)
    expect(page.locator("#_pages_content")).to_contain_text(f"As of the week of {older}")


def test_the_planner_answers_within_the_budget_and_respects_a_lock(page: Page, live_dash, dash_world):
    world = dash_world.world
    allocation = stored(world, "allocation", "allocation").set_index("channel")
    budget = round(float(allocation["current"].sum()) * 1.2)
    sign_in(page, live_dash, dash_world.keys["analyst"], "/planner")
    page.locator(".umm-planner-row", has_text="tv").get_by_label("lock").check()
    page.fill("#planner-budget", str(budget))
    page.keyboard.press("Tab")
    started = time.perf_counter()
    page.click("#planner-solve")
    expect(page.locator("#planner-scenario-table")).to_be_visible()
    round_trip = time.perf_counter() - started
    with page.expect_download() as download:
        page.click("#planner-download-button")
    plan = pd.read_csv(download.value.path()).set_index("channel")
    assert plan["recommended"].sum() == pytest.approx(budget, rel=1e-6)
    assert plan.at["tv", "recommended"] == pytest.approx(allocation.at["tv", "current"])
    assert round_trip < 5, round_trip  # generous: a shared 2-core machine (bench/dash.py measures it)
    scenarios = [e for e in AuditLog(dash_world.state_dir / "audit.jsonl").tail(50) if e["path"] == "/planner/scenario"]
    assert scenarios and scenarios[0]["status"] == 200 and scenarios[0]["key_name"] == "dash analyst"


def test_a_viewer_sees_the_plan_but_cannot_solve(page: Page, live_dash, dash_world):
    sign_in(page, live_dash, dash_world.keys["viewer"], "/planner")
    expect(page.locator("#planner-viewer-note")).to_contain_text("need an analyst key")
    expect(page.locator("#planner-solve")).to_be_disabled()
    expect(page.locator("#planner-split")).to_be_visible()
    expect(page.locator("#shell-role")).to_have_text("viewer")


def test_a_revoked_key_is_logged_out(page: Page, live_dash, dash_world):
    sign_in(page, live_dash, dash_world.keys["spare"])
    key_id = dash_world.keys["spare"].split("_")[1]
    dash_world.store.revoke(key_id)
    page.click("nav a[href^='/health']")
    expect(page).to_have_url(re.compile(r"/login\?reason=revoked"))
    expect(page.locator(".notice")).to_contain_text("revoked")


def _baseline_total(world) -> float:
    contributions = stored(world, "mmm_posterior", "contributions")
    return float(contributions[(contributions["component"] == "baseline") & (contributions["geo"] == "national")]
                 ["mean"].sum())


def _same(shown: list[float], expected: pd.Series) -> None:
    assert shown == pytest.approx(list(expected))
