"""Schemathesis against a live server from its own /api/openapi.json: no 5xx, no response that
breaks the document (status codes, content types, headers, bodies), invalid input refused."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aiohttp.test_utils import TestServer

from voicepipe.resources import Resources
from voicepipe.services.accounts import create_user
from voicepipe.settings import Settings
from voicepipe.web.app import init_app

CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
])  # fmt: skip


async def test_schemathesis_finds_no_server_error_or_schema_violation(
    settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    admin = await create_user(resources.db, "fuzz@example.org", admin=True)
    unlimited = settings.model_copy(update={"rate_limit_read": 0, "rate_limit_write": 0})
    async with TestServer(init_app(unlimited)) as server:
        # One worker: with two threads, CPython 3.11 can fail inside hypothesis's ast.parse of lambda
        # sources ("AST constructor recursion depth mismatch"), a race fixed in later Pythons.
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "schemathesis.cli", "run", str(server.make_url("/api/openapi.json")),
            "--header", f"Authorization: Bearer {admin.token}", "--checks", CHECKS,
            "--phases", "examples,coverage,fuzzing", "--max-examples", "15", "--workers", "1",
            "--seed", "1", "--suppress-health-check", "all", "--no-color",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), 120)
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
    assert "No issues found" in report or "passed" in report, report[-2000:]
