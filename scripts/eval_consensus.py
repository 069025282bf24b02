#!/usr/bin/env python3
"""Evaluate consensus on simulated crowds: WER ratios, spammer effect, AUROC, calibration."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.crowd import simulate
from tests.support.crowd_eval import Outcome, auroc, calibration_table, run
from voicepipe.domain.consensus import (
    Decision,
    NeedsMorePolicy,
    Transcription,
    decide_chunk,
    estimate_accuracy_prepared,
    normalize_text,
    prepare,
    word_error_rate,
)


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def crowd_figures(seed: int, chunks: int, per_chunk: int) -> tuple[dict[str, Any], list[Outcome]]:
    sim = simulate(seed, chunks, per_chunk, spammers_per_chunk=1, mean_error=0.10)
    honest, single_wer = run(sim, drop_spammers=True)
    spammed, _ = run(sim)
    plain, _ = run(sim, with_reliability=False, drop_spammers=True)
    honest_wer = mean([o.wer for o in honest])
    spammed_wer = mean([o.wer for o in spammed])
    figures = {
        "single_wer": round(single_wer, 4),
        "consensus_wer": round(honest_wer, 4),
        "ratio": round(honest_wer / single_wer, 4),
        "ratio_without_reliability": round(mean([o.wer for o in plain]) / single_wer, 4),
        "consensus_wer_one_spammer": round(spammed_wer, 4),
        "ratio_one_spammer": round(spammed_wer / single_wer, 4),
        "exact_share": round(mean([float(o.exact) for o in honest]), 4),
        "auroc": round(auroc([o.confidence for o in honest], [o.exact for o in honest]), 4),
        "auroc_one_spammer": round(
            auroc([o.confidence for o in spammed], [o.exact for o in spammed]), 4
        ),
    }
    return figures, honest + spammed


def needs_more_figures(seed: int, chunks: int, policy: NeedsMorePolicy) -> dict[str, float]:
    """Ask for transcriptions one at a time, as the platform would, up to the cap."""
    sim = simulate(seed, chunks, policy.max_count, mean_error=0.10)
    full = [prepare([Transcription(c, t) for c, t in chunk.transcriptions]) for chunk in sim]
    accuracy = {c: a.accuracy for c, a in estimate_accuracy_prepared(full).items()}
    used, wers, expert = [], [], 0
    for chunk in sim:
        order = list(chunk.transcriptions)
        random.Random(chunk.chunk_id).shuffle(order)
        count = policy.start_count
        while True:
            result = decide_chunk(
                prepare([Transcription(c, t) for c, t in order[:count]]), accuracy, policy
            )
            if result.decision is not Decision.NEED_MORE:
                break
            count += 1
        expert += result.decision is Decision.EXPERT_REVIEW
        used.append(count)
        truth = normalize_text(chunk.truth).split()
        wers.append(word_error_rate(truth, result.normalized_text.split()))
    return {
        "threshold": policy.confidence_threshold,
        "mean_transcriptions": round(mean([float(u) for u in used]), 3),
        "consensus_wer": round(mean(wers), 4),
        "expert_review_share": round(expert / len(sim), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--chunks", type=int, default=800, help="chunks per crowd setting")
    parser.add_argument("--seed", type=int, default=1, help="fit_confidence uses 1000+")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    pooled: list[Outcome] = []
    for per_chunk in (3, 5):
        figures, outcomes = crowd_figures(args.seed + per_chunk, args.chunks, per_chunk)
        report[f"transcribers_{per_chunk}"] = figures
        pooled += outcomes
    ece, brier, table = calibration_table([o.confidence for o in pooled], [o.exact for o in pooled])
    report["calibration"] = {"ece": round(ece, 4), "brier": round(brier, 4), "bins": table}
    report["needs_more"] = needs_more_figures(args.seed + 7, args.chunks // 2, NeedsMorePolicy())
    if args.json:
        print(json.dumps(report))
        return
    for name in ("transcribers_3", "transcribers_5", "needs_more"):
        print(name)
        for key, value in report[name].items():
            print(f"  {key:28s} {value}")
    print(f"calibration  ECE {ece:.4f}  Brier {brier:.4f}")
    for row in table:
        print(
            f"  conf {row['from']:.1f}+  mean {row['mean_confidence']:.3f}  "
            f"right {row['share_right']:.3f}  n={row['chunks']}"
        )


if __name__ == "__main__":
    main()
