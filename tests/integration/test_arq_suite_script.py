"""scripts/arq_suite: arq's own tests, run from its sdist against an embedded Valkey, reported as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDIST = ROOT / ".cache" / "arq-sdist" / "arq-0.28.0.tar.gz"
needs_sdist = pytest.mark.skipif(
    not SDIST.exists(),
    reason=f"arq's sdist is not in {SDIST.parent} (scripts/setup --test fetches it)",
)
# one behaviour test of arq's job API, one test_worker.py test that asserts arq's log lines
CHOSEN = {
    "tests/test_jobs.py::test_enqueue_job_alt_queue",
    "tests/test_worker.py::test_job_successful_no_result_logging",
}


def arq_suite(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "arq_suite"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@needs_sdist
def test_chosen_tests_pass_with_arqs_worker_and_the_json_says_so() -> None:
    keyword = " or ".join(test.split("::")[1] for test in CHOSEN)
    run = arq_suite("--json", "-k", keyword)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["worker"] == "arq" and report["arq_version"] == "0.28.0"
    assert set(report["files"]) == {"test_jobs.py", "test_worker.py"}
    assert report["totals"] == {
        "passed": 2,
        "failed": 0,
        "skipped": 0,
        "errors": 0,
        "log_line_tests": 1,
        "log_line_passed": 1,
        "behaviour_tests": 1,
        "behaviour_passed": 1,
    }
    assert report["files"]["test_worker.py"]["log_line_passed"] == 1
    assert report["not_passing"] == []
    table = run.stdout.strip().splitlines()[:-1]  # the table comes before the JSON
    assert any(line.split()[:3] == ["test_worker.py", "1", "0"] for line in table if line.strip())


def test_voicepipes_worker_is_refused_until_it_exists() -> None:
    run = arq_suite("--worker", "voicepipe")
    assert run.returncode != 0
    assert "voicepipe's arq Worker is not built yet (issue 16)" in run.stderr
    assert run.stdout == ""
