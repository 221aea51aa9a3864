"""Benchmark of the dashboard in headless Chromium: per page, the time from navigation to its last figure
rendered (cold and warm reader cache), and the budget planner's round trip, with 1 and with 52
materialized as-of weeks.

``umm dash`` (waitress, open access: no keys in its state folder) runs in its own process over the
warehouse. Cold: a fresh server process, so the page reads every table it shows; warm: the same page
again (median of ``--repeats``). The browser keeps its cache of the static JavaScript throughout (every
server listens on one port), as a returning user's does. Planner: the time from clicking Solve (a new
budget each time, so a real solve) to the answer's table on screen.

52 weeks: the newest week's model chain is copied to the 51 weeks before it (a fit per week would take
hours; serving reads the same number of partitions and tables either way, and the History page reads all
of them). Targets (issue 14): every page interactive <= 1.5 s warm, planner round trip <= 300 ms.
Results go to ``bench/results/dash-<time>.json``.

    .venv/bin/python bench/dash.py --demo          # builds a small demo warehouse first (a few minutes)
    .venv/bin/python bench/dash.py --data-dir data/warehouse
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from umm_assets.lib.servers import ensure_chromium, free_port, wait_until_up  # noqa: E402
from umm_assets.lib.storage import Stored, Warehouse  # noqa: E402

PAGES = ("/", "/contributions", "/roas", "/curves", "/planner", "/health", "/history")
CHAIN = ("mmm_posterior", "reconciled_lift", "allocation")
TARGETS = {"page_warm_s": 1.5, "planner_round_trip_s": 0.3}
# every figure drawn and no callback pending: the page is interactive
RENDERED = """() => {
  const content = document.querySelector('#_pages_content');
  if (!content || !content.querySelector('h2')) return false;
  if (document.querySelector('[data-dash-is-loading="true"]')) return false;
  const graphs = content.querySelectorAll('.dash-graph');
  return Array.from(graphs).every(g => g.offsetParent === null || g.querySelector('.main-svg'));  // (hidden: skip)
}"""


def demo_warehouse(work: Path) -> Path:
    """bench/api.py's demo warehouse (the real pipeline, short chains, the model chain for the newest week)."""
    spec = importlib.util.spec_from_file_location("bench_api", ROOT / "bench" / "api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.demo_warehouse(work)


def widen(source: Path, target: Path, weeks: int) -> Path:
    """A copy of the warehouse whose newest model-chain week is also stored for the ``weeks - 1`` weeks before."""
    shutil.copytree(source, target)
    warehouse = Warehouse(target)
    for asset in CHAIN:
        newest = warehouse.commit(asset, warehouse.newest(asset))
        tables = {name: warehouse.read_commit(newest, name) for name in newest.tables}
        for back in range(1, weeks):
            week = (dt.date.fromisoformat(newest.partition) - dt.timedelta(weeks=back)).isoformat()
            warehouse.write(asset, week, Stored(tables, upstream=newest.upstream), run_id=f"bench-copy-{back}",
                            code_version=newest.code_version)
    return target


class Dashboard:
    """``umm dash`` over a warehouse, in its own process, open access."""

    def __init__(self, data_dir: Path, state: Path, port: int):
        self.port = port
        env = {**os.environ, "UMM_DATA_DIR": str(data_dir), "UMM_API_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen([sys.executable, "-m", "umm_assets.cli", "dash", "--port", str(self.port)],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until_up(f"{self.url}/login", self.process)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # SIGTERM inherited as ignored (a parent that ran Dagster may do that)
            self.process.kill()
            self.process.wait(timeout=10)


def load(page, url: str) -> float:
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_function(RENDERED, polling=10, timeout=60_000)
    return time.perf_counter() - started


def measure_pages(browser, data_dir: Path, state: Path, week: str, repeats: int, port: int) -> dict[str, dict]:
    """Each page on a fresh server (cold reader cache), then again (warm). Every server listens on the same
    port, so the browser's cache of the static bundles (filled by a first visit) stays valid throughout."""
    warm_up = Dashboard(data_dir, state, port)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    load(page, f"{warm_up.url}/?week={week}")
    warm_up.stop()
    out = {}
    for path in PAGES:
        server = Dashboard(data_dir, state, port)
        try:
            cold = load(page, f"{server.url}{path}?week={week}")
            warm = [load(page, f"{server.url}{path}?week={week}") for _ in range(repeats)]
            out[path] = {"cold_s": round(cold, 3), "warm_s": round(statistics.median(warm), 3)}
        finally:
            server.stop()
    page.close()
    return out


def measure_planner(browser, data_dir: Path, state: Path, week: str, solves: int, port: int) -> dict[str, float]:
    server = Dashboard(data_dir, state, port)
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        load(page, f"{server.url}/planner?week={week}")
        budget = float(page.input_value("#planner-budget").replace(",", ""))
        times = []
        for i in range(solves + 1):  # the first solve builds the week's solver: reported apart
            target = round(budget * (0.8 + 0.4 * i / solves))
            page.fill("#planner-budget", str(target))
            page.keyboard.press("Tab")
            started = time.perf_counter()
            page.click("#planner-solve")
            page.wait_for_function(f"""() => {{ const t = document.querySelector('#planner-scenario-total');
                                              return t && t.textContent.replace(/,/g, '') === '{target}'; }}""",
                                   polling=5, timeout=60_000)
            times.append(time.perf_counter() - started)
        page.close()
    finally:
        server.stop()
    rest = sorted(times[1:])
    return {"first_s": round(times[0], 3), "median_s": round(statistics.median(rest), 3),
            "p90_s": round(rest[int(0.9 * (len(rest) - 1))], 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("UMM_DATA_DIR", str(ROOT / "data" / "warehouse")))
    parser.add_argument("--demo", action="store_true", help="build a small demo warehouse first (slow)")
    parser.add_argument("--weeks", type=int, nargs="+", default=[1, 52], help="materialized as-of weeks to measure")
    parser.add_argument("--repeats", type=int, default=3, help="warm loads per page (median)")
    parser.add_argument("--solves", type=int, default=10, help="planner solves (median, p90)")
    args = parser.parse_args(argv)
    chromium = ensure_chromium()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="umm-bench-dash-"))
    source = demo_warehouse(work / "demo") if args.demo else Path(args.data_dir).resolve()
    if not any((source / "allocation").glob("*/_COMMITTED.json")):
        print(f"{source} has no materialized allocation: run `make run` first, or pass --demo", file=sys.stderr)
        return 2
    week = Warehouse(source).newest("allocation")
    state = work / "state"  # no keys: open access
    port = free_port()
    results = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
        for weeks in args.weeks:
            data_dir = widen(source, work / f"weeks-{weeks}", weeks)
            print(f"measuring with {weeks} materialized week(s)", flush=True)
            results[weeks] = {"pages": measure_pages(browser, data_dir, state, week, args.repeats, port),
                              "planner": measure_planner(browser, data_dir, state, week, args.solves, port)}
        browser.close()
    report(results)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"dash-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    target.write_text(json.dumps({"results": results, "targets": TARGETS, "args": vars(args),
                                  "load_average": os.getloadavg()}, indent=2))
    print(f"results: {target}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def report(results: dict) -> None:
    print(f"\nDashboard benchmark ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load "
          f"average {os.getloadavg()[0]:.1f}); seconds from navigation to the last figure rendered\n")
    sizes = list(results)
    print(f"{'page':16s} " + " ".join(f"{f'{w} wk cold':>11s} {f'{w} wk warm':>11s}" for w in sizes))
    for path in PAGES:
        cells = " ".join(f"{results[w]['pages'][path]['cold_s']:11.2f} {results[w]['pages'][path]['warm_s']:11.2f}"
                         for w in sizes)
        print(f"{path:16s} {cells}")
    for w in sizes:
        p = results[w]["planner"]
        print(f"planner round trip, {w} wk: first {p['first_s']:.3f} s, then median {p['median_s']:.3f} s, "
              f"p90 {p['p90_s']:.3f} s")


if __name__ == "__main__":
    raise SystemExit(main())
