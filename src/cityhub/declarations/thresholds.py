"""Star-readiness thresholds (``schemas/star_thresholds.yaml``)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from cityhub.declarations.loading import Declared


class StarThresholds(Declared):
    """``star_thresholds.yaml``: the value an indicator must reach for 3, 4 or 5 stars."""
    source: str = Field(min_length=1)
    """Where the figures come from (placeholders until the province's are known)."""
    default: dict[Literal[3, 4, 5], float]
    indicators: dict[str, dict[Literal[3, 4, 5], float]] = {}

    def of(self, code: str) -> dict[int, float]:
        return dict(self.indicators.get(code, self.default))
