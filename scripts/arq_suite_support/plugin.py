"""pytest plugin of scripts/arq_suite: its options, and every test's outcome as a JSON line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arq_suite_support.fixtures import WORKERS


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("arq_suite")
    group.addoption("--arq-suite-redis-url", dest="arq_suite_redis_url", required=True)
    group.addoption("--arq-suite-worker", dest="arq_suite_worker", choices=WORKERS, default="arq")
    group.addoption("--arq-suite-report", dest="arq_suite_report", type=Path, required=True)


class Recorder:
    """Folds setup / call / teardown reports into one outcome per test, appended as soon as the
    test is over, so a run that dies half way still tells what it ran."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: dict[str, dict[str, Any]] = {}

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as out:
            out.write(json.dumps(record) + "\n")

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.write({"test": report.nodeid, "outcome": "error", "reason": reason(report)})

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = self.pending.setdefault(report.nodeid, {"test": report.nodeid, "outcome": None})
        if report.when == "call" or record["outcome"] is None:
            record.update(classify(report))
        elif report.failed:  # a teardown that failed after the test ran
            record.update(outcome="error", reason="teardown: " + reason(report))
        if report.when == "teardown":
            self.write(self.pending.pop(report.nodeid))


def classify(report: pytest.TestReport) -> dict[str, Any]:
    if hasattr(report, "wasxfail"):
        if report.skipped:
            return {"outcome": "skipped", "reason": f"xfail: {report.wasxfail}"}
        return {"outcome": "passed"}
    if report.passed:
        return {"outcome": "passed"} if report.when == "call" else {"outcome": None}
    if report.skipped:
        return {"outcome": "skipped", "reason": reason(report)}
    if report.when == "call":
        return {"outcome": "failed", "reason": reason(report)}
    return {"outcome": "error", "reason": f"{report.when}: {reason(report)}"}


def reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """One line: the exception's "Type: message" line as pytest saw it, or the skip reason."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, "Skipped: why")
        text = longrepr[2].removeprefix("Skipped: ")
    else:
        crash = getattr(longrepr, "reprcrash", None)
        text = crash.message if crash is not None else str(longrepr).strip().splitlines()[-1]
    first = text.strip().splitlines()[0] if text.strip() else "(no message)"
    return first if len(first) <= 200 else first[:197] + "..."


def pytest_configure(config: pytest.Config) -> None:
    report: Path = config.getoption("arq_suite_report")
    config.pluginmanager.register(Recorder(report), "arq_suite_recorder")
