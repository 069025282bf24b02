"""When a chunk has enough transcriptions, needs one more, or goes to an expert."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Decision(StrEnum):
    ENOUGH = "enough"
    NEED_MORE = "need_more"
    EXPERT_REVIEW = "expert_review"


class NeedsMorePolicy(BaseModel):
    """Start with `start_count` transcriptions; add one while confidence < threshold; cap."""

    model_config = ConfigDict(frozen=True)

    start_count: int = Field(3, ge=1)
    confidence_threshold: float = Field(0.9, gt=0, lt=1)
    max_count: int = Field(7, ge=1)

    @model_validator(mode="after")
    def _cap_above_start(self) -> NeedsMorePolicy:
        if self.max_count < self.start_count:
            raise ValueError("max_count must be at least start_count")
        return self

    def decide(self, confidence: float, transcription_count: int) -> Decision:
        """Spam counts towards the cap: it used a contributor's time all the same."""
        if transcription_count < self.start_count:
            return Decision.NEED_MORE
        if confidence >= self.confidence_threshold:
            return Decision.ENOUGH
        if transcription_count < self.max_count:
            return Decision.NEED_MORE
        return Decision.EXPERT_REVIEW
