"""Run consensus over simulated crowds and score it: WER, exactness, AUROC, calibration."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tests.support.crowd import SimulatedChunk
from voicepipe.domain.consensus import (
    Transcription,
    decide_chunk,
    estimate_accuracy_prepared,
    normalize_text,
    prepare,
    word_error_rate,
)
from voicepipe.domain.consensus.confidence import model_log_odds


@dataclass(frozen=True)
class Outcome:
    """One chunk's consensus against the truth."""

    wer: float
    exact: bool
    confidence: float
    model_log_odds: float
    voters: int


def run(
    chunks: Sequence[SimulatedChunk], with_reliability: bool = True, drop_spammers: bool = False
) -> tuple[list[Outcome], float]:
    """Consensus for every chunk (reliability estimated over all of them); mean single WER."""
    inputs = [
        [
            Transcription(cid, text)
            for cid, text in chunk.transcriptions
            if not (drop_spammers and cid.startswith("s"))
        ]
        for chunk in chunks
    ]
    prepared = [prepare(items) for items in inputs]
    accuracy = (
        {cid: a.accuracy for cid, a in estimate_accuracy_prepared(prepared).items()}
        if with_reliability
        else {}
    )
    outcomes, single = [], []
    for chunk, ready in zip(chunks, prepared, strict=True):
        truth = normalize_text(chunk.truth).split()
        single += [
            word_error_rate(truth, normalize_text(text).split())
            for cid, text in chunk.transcriptions
            if cid.startswith("h")
        ]
        result = decide_chunk(ready, accuracy)
        hypothesis = result.normalized_text.split()
        outcomes.append(
            Outcome(
                wer=word_error_rate(truth, hypothesis),
                exact=hypothesis == truth,
                confidence=result.confidence,
                model_log_odds=model_log_odds(result.model_log_probability),
                voters=len(ready.voters),
            )
        )
    return outcomes, sum(single) / len(single)


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """Probability that a random right chunk scores above a random wrong one (ties half)."""
    pos = [s for s, p in zip(scores, positives, strict=True) if p]
    neg = [s for s, p in zip(scores, positives, strict=True) if not p]
    if not pos or not neg:
        return float("nan")
    ranks = _average_ranks(np.array(list(pos) + list(neg)))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def calibration_table(
    confidences: Sequence[float], positives: Sequence[bool], bins: int = 10
) -> tuple[float, float, list[dict[str, float]]]:
    """Expected calibration error, Brier score, and per-bin (mean confidence, accuracy, n)."""
    conf = np.array(confidences)
    hit = np.array(positives, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    table, ece = [], 0.0
    for k in range(bins):
        inside = (conf >= edges[k]) & ((conf < edges[k + 1]) if k < bins - 1 else conf <= 1)
        if inside.any():
            gap = abs(conf[inside].mean() - hit[inside].mean())
            ece += gap * inside.sum() / len(conf)
            table.append(
                {
                    "from": round(float(edges[k]), 2),
                    "mean_confidence": round(float(conf[inside].mean()), 3),
                    "share_right": round(float(hit[inside].mean()), 3),
                    "chunks": int(inside.sum()),
                }
            )
    brier = float(np.mean((conf - hit) ** 2))
    return ece, brier, table


def fit_logistic(features: np.ndarray, labels: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    """Logistic regression by Newton's method; returns coefficients (last is the intercept)."""
    x = np.hstack([features, np.ones((features.shape[0], 1))])
    beta = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-(x @ beta)))
        gradient = x.T @ (p - labels) + ridge * beta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + ridge * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if math.sqrt(float(step @ step)) < 1e-9:
            break
    return beta
