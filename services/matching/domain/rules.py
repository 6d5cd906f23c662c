"""Matching rules of a cohort: hard constraints and score weights (pure domain, no I/O)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

CROSS_DEPARTMENT_MODES = ("bonus", "malus")

DEFAULT_WEIGHTS: dict[str, float] = {
    "topics": 0.5,
    "timezone": 0.2,
    "department": 0.1,
    "level_gap": 0.1,
    "preferred": 0.1,
}
WEIGHT_NAMES: tuple[str, ...] = tuple(DEFAULT_WEIGHTS)


@dataclass(frozen=True)
class MatchingRules:
    """Hard constraints (each switchable) and the weights of the soft score.

    ``min_level_gap``: mentor.level - mentee.level must be >= this; ``None`` or 0 disables it.
    ``cross_department``: "bonus" scores pairs from *different* departments, "malus" scores
    pairs from the *same* department (i.e. the programme picks which one it prefers).
    """

    min_level_gap: int | None = 1
    require_shared_language: bool = True
    exclude_management_chain: bool = True
    respect_exclude_list: bool = True
    require_active: bool = True
    weight_topics: float = 0.5
    weight_timezone: float = 0.2
    weight_department: float = 0.1
    weight_level_gap: float = 0.1
    weight_preferred: float = 0.1
    cross_department: str = "bonus"

    def __post_init__(self) -> None:
        if self.cross_department not in CROSS_DEPARTMENT_MODES:
            raise ValueError(f"cross_department must be one of {CROSS_DEPARTMENT_MODES}")
        if self.min_level_gap is not None and (
            isinstance(self.min_level_gap, bool) or not isinstance(self.min_level_gap, int)
        ):
            raise ValueError("min_level_gap must be an int or None")
        ws = self.weights
        for name, w in ws.items():
            if not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0 or w != w:
                raise ValueError(f"weight {name} must be a non-negative number")
        if sum(ws.values()) <= 0:
            raise ValueError("at least one weight must be positive")

    @property
    def weights(self) -> dict[str, float]:
        return {name: float(getattr(self, f"weight_{name}")) for name in WEIGHT_NAMES}

    @property
    def level_gap_enabled(self) -> bool:
        return bool(self.min_level_gap)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{..., "weights": {"topics": 0.5, ...}}``."""
        return {
            "min_level_gap": self.min_level_gap,
            "require_shared_language": self.require_shared_language,
            "exclude_management_chain": self.exclude_management_chain,
            "respect_exclude_list": self.respect_exclude_list,
            "require_active": self.require_active,
            "weights": self.weights,
            "cross_department": self.cross_department,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "MatchingRules":
        """Inverse of :meth:`to_dict`; missing keys take the defaults, unknown keys are rejected."""
        data = dict(data or {})
        weights = dict(data.pop("weights", None) or {})
        unknown_w = set(weights) - set(WEIGHT_NAMES)
        if unknown_w:
            raise ValueError(f"unknown weights: {sorted(unknown_w)}")
        known = {f.name for f in fields(cls)} - {f"weight_{n}" for n in WEIGHT_NAMES}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown rule fields: {sorted(unknown)}")
        kwargs: dict[str, Any] = dict(data)
        for name, value in weights.items():
            kwargs[f"weight_{name}"] = value
        return cls(**kwargs)
