"""The outcomes of a run folded into a table per test file, as text and as one JSON object."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

OUTCOMES = ("passed", "failed", "skipped", "errors")


def read_outcomes(report: Path) -> list[dict[str, Any]]:
    if not report.exists():
        return []
    return [json.loads(line) for line in report.read_text().splitlines() if line.strip()]


def test_file(nodeid: str) -> str:
    return nodeid.split("::")[0].removeprefix("tests/")


def test_name(nodeid: str) -> str:
    """The function's name: a parametrized case `test_x[a]` counts as `test_x` for the log rule."""
    return nodeid.split("::")[-1].split("[")[0]


def summarise(
    outcomes: list[dict[str, Any]], log_tests: dict[str, set[str]], worker: str
) -> dict[str, Any]:
    files: dict[str, Counter[str]] = {}
    for record in outcomes:
        name = test_file(record["test"])
        counts = files.setdefault(name, Counter())
        outcome = "errors" if record["outcome"] == "error" else record["outcome"]
        counts[outcome] += 1
        if test_name(record["test"]) in log_tests.get(name, set()):
            counts["log_line_tests"] += 1
            counts["log_line_passed"] += outcome == "passed"
        else:
            counts["behaviour_tests"] += 1
            counts["behaviour_passed"] += outcome == "passed"
    keys = (*OUTCOMES, "log_line_tests", "log_line_passed", "behaviour_tests", "behaviour_passed")
    table = {name: {k: files[name][k] for k in keys} for name in sorted(files)}
    totals = {k: sum(row[k] for row in table.values()) for k in keys}
    not_passing = [
        {"test": r["test"], "outcome": r["outcome"], "reason": r.get("reason", "")}
        for r in outcomes
        if r["outcome"] != "passed"
    ]
    return {"worker": worker, "files": table, "totals": totals, "not_passing": not_passing}


def render(summary: dict[str, Any]) -> str:
    header = (
        f"{'file':<16}{'passed':>8}{'failed':>8}{'skipped':>8}{'errors':>8}   log-line   behaviour"
    )
    lines = [f"arq's own test suite, worker: {summary['worker']}", header, "-" * len(header)]
    rows = [*summary["files"].items(), ("total", summary["totals"])]
    for name, row in rows:
        if name == "total":
            lines.append("-" * len(header))
        counts = "".join(f"{row[k]:>8}" for k in OUTCOMES)
        log_lines = f"{row['log_line_passed']}/{row['log_line_tests']}"
        behaviour = f"{row['behaviour_passed']}/{row['behaviour_tests']}"
        lines.append(f"{name:<16}{counts}   {log_lines:>8}   {behaviour:>9}")
    lines.append(
        "(log-line: passed/all of the tests that assert arq's log output; behaviour: the rest)"
    )
    if summary["not_passing"]:
        lines.append("")
        lines.append("not passing:")
        for record in summary["not_passing"]:
            lines.append(f"  {record['outcome']:<8}{record['test']}: {record['reason']}")
    return "\n".join(lines)
