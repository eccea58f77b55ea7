"""What a topic model returns for one article."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TopicResult:
    """`scores`: every taxonomy topic id -> calibrated probability in [0, 1], in taxonomy order.
    `labels`: the topic ids whose score reaches the topic's threshold, in taxonomy order."""

    scores: dict[str, float] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)

    @classmethod
    def from_scores(cls, scores: dict[str, float], thresholds: dict[str, float]) -> TopicResult:
        clean = {k: min(1.0, max(0.0, float(v))) for k, v in scores.items()}
        return cls(scores=clean, labels=[k for k, v in clean.items() if v >= thresholds[k]])
