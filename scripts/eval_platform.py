#!/usr/bin/env python3
"""Evaluate the voice workload end to end through the API, at full size.

Starts its own Valkey and PostgreSQL (unless REDIS_URL / DATABASE_URL are set), the web app on a
real port and a worker in this process, then: uploads espeak-ng recordings with known pauses,
noise and level changes; checks every chunk boundary against the known speech; has a simulated
crowd (honest contributors with typing errors, plus spammers) transcribe every chunk through
POST /api/chunks/{id}/transcriptions; runs recalculate_all_consensus through POST /api/jobs; and
scores the consensus read back from the API against `voicepipe consensus` run on the same data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

import voicepipe.tasks  # noqa: F401  (registers the tasks)
from tests.support.engine import RunningWorker
from tests.support.platform_eval import Client, EvalSize, evaluate
from tests.support.speech import espeak_available, standard_fixtures
from voicepipe.cli.bench import bench_settings
from voicepipe.cli.common import ready_resources
from voicepipe.web.app import init_app

QUEUES = ["default", "audio_processing", "consensus", "maintenance"]


async def run(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    size = EvalSize(
        crowd_size=args.contributors, per_chunk=args.per_chunk,
        spammers_per_chunk=args.spammers_per_chunk, mean_error=args.mean_error, seed=args.seed,
    )  # fmt: skip
    with (
        bench_settings("voicepipe-eval-") as base,
        tempfile.TemporaryDirectory(prefix="voicepipe-eval-files-") as tmp,
    ):
        settings = base.model_copy(update={"rate_limit_read": 0, "rate_limit_write": 0})
        folder = Path(tmp)
        say("synthesising recordings with espeak-ng…")
        fixtures = [
            fixture
            for seed in range(args.seeds)
            for fixture in standard_fixtures(folder / "espeak", args.sentences, seed)
        ]
        async with ready_resources(settings) as resources:
            server = TestServer(init_app(settings))
            await server.start_server()
            worker = RunningWorker(resources, QUEUES, concurrency=8)
            started = time.perf_counter()
            try:
                async with ClientSession() as http:
                    client = Client(http, str(server.make_url("")).rstrip("/"))
                    figures = await evaluate(client, resources, fixtures, folder, size, say, 3600)
            finally:
                await worker.close()
                await server.close()
    figures["elapsed_s"] = round(time.perf_counter() - started, 1)
    figures["crowd"] = {
        "honest_per_chunk": size.per_chunk, "spammers_per_chunk": size.spammers_per_chunk,
        "honest_mean_word_error": size.mean_error,
    }  # fmt: skip
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seeds", type=int, default=8, help="sets of 8 recordings")
    parser.add_argument("--sentences", type=int, default=12, help="sentences per recording")
    parser.add_argument("--contributors", type=int, default=40, help="honest contributors")
    parser.add_argument("--per-chunk", type=int, default=5, help="honest transcriptions per chunk")
    parser.add_argument("--spammers-per-chunk", type=int, default=1)
    parser.add_argument("--mean-error", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not espeak_available():
        sys.exit("eval_platform needs espeak-ng (apt-get install espeak-ng)")
    figures = asyncio.run(run(args, lambda line: print(line, file=sys.stderr)))
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:26s} {value}")


if __name__ == "__main__":
    main()
