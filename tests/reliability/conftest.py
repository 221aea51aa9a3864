"""The reliability and security suites (issue 20): every case is a test marked ``@pytest.mark.family("...")``;
at the end pytest prints one table, case family / tried / held, and exits non-zero when any case did not hold.

``make test`` runs the bounded form; ``make test-reliability`` the full one (``UMM_RELIABILITY=full``), which
tries more of the costly cases (kill -9 repetitions, load, fuzzer examples)."""

from __future__ import annotations

import os
from collections import Counter

import pytest

FULL = os.environ.get("UMM_RELIABILITY", "bounded") == "full"

_held: dict[str, bool] = {}  # test id -> held (set-up, call and teardown all passed)
_family: dict[str, str] = {}  # test id -> its case family
_skipped: set[str] = set()


def family_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("family")
    return marker.args[0] if marker else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    family = family_of(item)
    if family is None or item.nodeid in _skipped:
        return
    if report.skipped:  # not tried (e.g. a mount the machine refuses)
        _skipped.add(item.nodeid)
        _family.pop(item.nodeid, None)
        _held.pop(item.nodeid, None)
        return
    # a case counts once: failed in set-up, in the call or in teardown, it did not hold
    _family[item.nodeid] = family
    _held[item.nodeid] = _held.get(item.nodeid, True) and report.passed


def summary_table() -> list[str]:
    tried, held = Counter(_family.values()), Counter(_family[i] for i, ok in _held.items() if ok)
    rows = [("case family", "tried", "held")] + [(f, str(tried[f]), str(held[f])) for f in sorted(tried)]
    rows.append(("all", str(sum(tried.values())), str(sum(held.values()))))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"| {r[0]:<{width[0]}} | {r[1]:>{width[1]}} | {r[2]:>{width[2]}} |" for r in rows]
    lines.insert(1, f"|{'-' * (width[0] + 2)}|{'-' * (width[1] + 1)}:|{'-' * (width[2] + 1)}:|")
    return lines


def pytest_terminal_summary(terminalreporter):
    if _family:
        terminalreporter.section(f"reliability and security ({'full' if FULL else 'bounded'})")
        for line in summary_table():
            terminalreporter.write_line(line)
