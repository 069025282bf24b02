#!/usr/bin/env python3
"""Fit the confidence calibration (Platt scaling) on simulated crowds; prints coefficients."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.crowd import simulate
from tests.support.crowd_eval import fit_logistic, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=600, help="chunks per crowd setting")
    parser.add_argument("--seed", type=int, default=1000, help="kept apart from eval seeds")
    args = parser.parse_args()
    rows, labels = [], []
    settings = [
        (n, spam, err) for n in (3, 4, 5, 7) for spam in (0, 1) for err in (0.05, 0.10, 0.15)
    ]
    for k, (n, spam, err) in enumerate(settings):
        chunks = simulate(args.seed + k, args.chunks, n, spam, err)
        outcomes, _ = run(chunks)
        rows += [[o.model_log_odds, math.log(max(1, o.voters))] for o in outcomes]
        labels += [float(o.exact) for o in outcomes]
    beta = fit_logistic(np.array(rows), np.array(labels))
    print(
        json.dumps(
            {
                "COEF_LOG_ODDS": round(float(beta[0]), 4),
                "COEF_LOG_VOTERS": round(float(beta[1]), 4),
                "INTERCEPT": round(float(beta[2]), 4),
                "chunks": len(labels),
            }
        )
    )


if __name__ == "__main__":
    main()
