"""`voicepipe bench audio`: chunking speed (× real time, one core) and peak memory (60 min)."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import psutil
import soundfile as sf

from voicepipe.audio import chunk_file, stream_mono_16k
from voicepipe.audio.synthetic import background_noise, speech_like_pieces
from voicepipe.bench.pipeline import METHOD, SAMPLE_S, UPLOADS_AT_ONCE, run_pipeline_bench
from voicepipe.cli.bench import bench_settings, echo_figures
from voicepipe.cli.common import ready_resources, run

RATE_HZ = 44_100


def write_speech_like_wav(path: Path, duration_s: float, seed: int) -> Path:
    """A 44.1 kHz stereo 16-bit WAV of speech-like sentences and pauses, written piece by piece."""
    rng = np.random.default_rng(seed)
    target = int(duration_s * RATE_HZ)
    written = 0
    with sf.SoundFile(path, "w", samplerate=RATE_HZ, channels=2, subtype="PCM_16") as out:
        for piece in speech_like_pieces(RATE_HZ, seed):
            samples = piece.samples[: target - written]
            samples = samples + background_noise(rng, samples.size, -55.0)
            # Slightly different channels, so the downmix does real work.
            out.write(np.stack([samples, samples * 0.8], axis=1))
            written += samples.size
            if written >= target:
                break
    return path


def measure(path: Path, decode_only: bool) -> dict[str, float]:
    """Run in a fresh process: time decode(+chunk) on one core and report peak RSS.

    Pinning the process to one CPU makes "one core" true whatever threads libraries start.
    """
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    baseline_rss_mb = psutil.Process().memory_info().rss / 2**20  # current, after imports
    started = time.perf_counter()
    if decode_only:
        audio_s = sum(block.size for block in stream_mono_16k(path)) / 16_000
        chunks = 0
    else:
        plan = chunk_file(path)
        audio_s, chunks = plan.duration_s, len(plan.chunks)
    elapsed_s = time.perf_counter() - started
    return {
        "audio_s": audio_s,
        "elapsed_s": elapsed_s,
        "chunks": chunks,
        "baseline_rss_mb": baseline_rss_mb,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _in_fresh_process(path: Path, decode_only: bool = False) -> dict[str, float]:
    code = (
        "import json, sys; from pathlib import Path; "
        "from voicepipe.cli.bench_audio import measure; "
        "print(json.dumps(measure(Path(sys.argv[1]), sys.argv[2] == '1')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), "1" if decode_only else "0"],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@click.command()
@click.option("--json", "as_json", is_flag=True, help="end with one JSON line of figures")
@click.option("--short-min", type=float, default=10.0, show_default=True)
@click.option("--long-min", type=float, default=60.0, show_default=True)
@click.option("--repeat", type=int, default=3, show_default=True, help="best of N speed runs")
@click.option(
    "--pipeline", is_flag=True,
    help="instead: upload recordings through the API to one worker and time them to processed",
)  # fmt: skip
@click.option("--recordings", type=int, default=20, show_default=True, help="with --pipeline")
@click.option(
    "--cpu-workers", type=int, default=0, help="with --pipeline: CPU processes; 0: one per core"
)
def audio(
    as_json: bool, short_min: float, long_min: float, repeat: int, pipeline: bool,
    recordings: int, cpu_workers: int,
) -> None:  # fmt: skip
    """Chunking speed on a 44.1 kHz stereo WAV and peak memory on a long one; with --pipeline,
    the platform's throughput from upload to processed chunks (recordings of --short-min)."""
    if pipeline:
        _pipeline(as_json, short_min, recordings, cpu_workers or os.cpu_count() or 1)
        return
    with tempfile.TemporaryDirectory(prefix="voicepipe-bench-") as tmp:
        click.echo("generating test recordings…", err=True)
        short = write_speech_like_wav(Path(tmp) / "short.wav", short_min * 60, seed=1)
        long = write_speech_like_wav(Path(tmp) / "long.wav", long_min * 60, seed=2)
        with click.progressbar(range(2 * repeat + 1), label="measuring", file=sys.stderr) as bar:
            runs, decode_runs, memory = [], [], None
            for step in bar:
                if step < repeat:
                    runs.append(_in_fresh_process(short))
                elif step < 2 * repeat:
                    decode_runs.append(_in_fresh_process(short, decode_only=True))
                else:
                    memory = _in_fresh_process(long)
    assert memory is not None
    best = min(runs, key=lambda r: r["elapsed_s"])
    best_decode = min(decode_runs, key=lambda r: r["elapsed_s"])
    figures: dict[str, Any] = {
        "short_audio_s": round(best["audio_s"], 1),
        "short_elapsed_s": round(best["elapsed_s"], 3),
        "x_real_time": round(best["audio_s"] / best["elapsed_s"], 1),
        "decode_resample_share": round(best_decode["elapsed_s"] / best["elapsed_s"], 3),
        "short_chunks": best["chunks"],
        "long_audio_s": round(memory["audio_s"], 1),
        "long_elapsed_s": round(memory["elapsed_s"], 2),
        "long_peak_rss_mb": round(memory["peak_rss_mb"], 1),
        "process_baseline_rss_mb": round(memory["baseline_rss_mb"], 1),
        "target_x_real_time": 200,
        "target_peak_rss_mb": 300,
    }
    click.echo(
        f"chunking {figures['short_audio_s']:.0f} s of 44.1 kHz stereo WAV on one core: "
        f"{figures['x_real_time']}× real time "
        f"(decode+resample {figures['decode_resample_share']:.0%} of it)"
    )
    click.echo(
        f"peak RSS chunking {figures['long_audio_s'] / 60:.0f} min: "
        f"{figures['long_peak_rss_mb']} MB (the process held "
        f"{figures['process_baseline_rss_mb']} MB after imports, before decoding)"
    )
    if as_json:
        click.echo(json.dumps(figures))


def _pipeline(as_json: bool, minutes: float, n: int, cpus: int) -> None:
    with bench_settings("voicepipe-pipeline-") as settings:
        files_dir = settings.home_dir / "bench-files"
        files_dir.mkdir(parents=True)
        with click.progressbar(range(n + 1), label="generating recordings", file=sys.stderr) as bar:
            files = [
                write_speech_like_wav(files_dir / f"rec{k:02d}.wav", minutes * 60, seed=100 + k)
                for k in bar
            ]
        warm, files = write_speech_like_wav(files_dir / "warm.wav", 20, seed=99), files[:n]
        click.echo("baseline: decode + chunk of one file on one core…", err=True)
        baseline = _in_fresh_process(files[0])

        async def main(stop: asyncio.Event) -> None:
            async with ready_resources(settings) as resources:
                figures = await run_pipeline_bench(
                    resources, files, warm, cpus, lambda line: click.echo(line, err=True)
                )
            chunk_x = baseline["audio_s"] / baseline["elapsed_s"]
            figures |= {
                "baseline_chunk_only_x_real_time_one_core": round(chunk_x, 1),
                "share_of_cores_x_baseline": round(figures["x_real_time"] / (cpus * chunk_x), 3),
                "target_x_real_time": 150,
                "target_worker_peak_rss_mb": 500,
                "method": METHOD.format(
                    n=n, minutes=minutes, at_once=UPLOADS_AT_ONCE, cpus=cpus, sample=SAMPLE_S
                ),
            }
            echo_figures(figures, as_json, width=42)

        run(main)
