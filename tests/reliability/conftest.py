"""The reliability and security suites (issue 20): every case is a test marked ``@pytest.mark.family("...")``;
at the end pytest prints one table, case family / tried / held, and exits non-zero when any case did not hold.

``make test`` runs the bounded form; ``make test-reliability`` the full one (``UMM_RELIABILITY=full``), which
tries more of the costly cases (kill -9 repetitions, load, fuzzer examples)."""

from __future__ import annotations

import os
from collections import Counter

import pytest

FULL = os.environ.get("UMM_RELIABILITY", "bounded") == "full"

_tried: Counter[str] = Counter()
_held: Counter[str] = Counter()


def family_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("family")
    return marker.args[0] if marker else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    family = family_of(item)
    if family is None:
        return
    # a case counts once: failed in set-up, in the call or in teardown, it did not hold
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if report.outcome != "skipped":
            _tried[family] += 1
            _held[family] += report.outcome == "passed"
    elif report.when == "teardown" and report.outcome == "failed":
        _held[family] -= 1


def summary_table() -> list[str]:
    rows = [("case family", "tried", "held")] + [(f, str(_tried[f]), str(_held[f])) for f in sorted(_tried)]
    rows.append(("all", str(sum(_tried.values())), str(sum(_held.values()))))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"| {r[0]:<{width[0]}} | {r[1]:>{width[1]}} | {r[2]:>{width[2]}} |" for r in rows]
    lines.insert(1, f"|{'-' * (width[0] + 2)}|{'-' * (width[1] + 1)}:|{'-' * (width[2] + 1)}:|")
    return lines


def pytest_terminal_summary(terminalreporter):
    if _tried:
        terminalreporter.section(f"reliability and security ({'full' if FULL else 'bounded'})")
        for line in summary_table():
            terminalreporter.write_line(line)
