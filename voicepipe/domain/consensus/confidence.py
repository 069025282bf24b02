"""Calibrated confidence: probability that a consensus transcript is exactly right."""

from __future__ import annotations

import math

# Platt scaling of the voting model's own probability, fitted by scripts/fit_confidence.py
# on simulated crowds (3-7 transcribers, 4-16 % word errors, with and without spammers) and
# checked on fresh crowds by scripts/eval_consensus.py. The raw product of slot posteriors
# assumes independent errors; real errors (homophones, shared mishearings) are not, and the
# model grows overconfident as voters are added, hence the negative voters term.
COEF_LOG_ODDS = 1.0507
COEF_LOG_VOTERS = -1.2579
INTERCEPT = 1.744
_LOG_ODDS_LIMIT = 30.0


def model_log_odds(log_probability_exact: float) -> float:
    """Log-odds of the model's P(exact), clipped so certainty stays finite."""
    p = math.exp(min(0.0, log_probability_exact))
    if p >= 1.0:
        return _LOG_ODDS_LIMIT
    if p <= 0.0:
        return -_LOG_ODDS_LIMIT
    return max(-_LOG_ODDS_LIMIT, min(_LOG_ODDS_LIMIT, math.log(p / (1.0 - p))))


def calibrated_confidence(log_probability_exact: float, voters: int) -> float:
    """P(consensus exactly right) from the model's log P(exact) and how many votes it had."""
    if voters <= 0:
        return 0.0
    z = (
        COEF_LOG_ODDS * model_log_odds(log_probability_exact)
        + COEF_LOG_VOTERS * math.log(voters)
        + INTERCEPT
    )
    return 1.0 / (1.0 + math.exp(-z))
