"""Load factor: how much a busy queue widens its wait estimates (table from the seed plan)."""

from __future__ import annotations

LOAD_FACTOR_TABLE: tuple[tuple[float, float], ...] = ((0.5, 1.0), (0.75, 1.2), (0.9, 1.5))
OVERLOADED_FACTOR = 2.0


def utilisation(size: int, capacity: int | None) -> float:
    """Share of the capacity in use; a queue without a capacity is never loaded."""
    if capacity is None:
        return 0.0
    return size / capacity


def load_factor(utilisation_ratio: float) -> float:
    """<0.5 -> 1.0, <0.75 -> 1.2, <0.9 -> 1.5, else 2.0."""
    for upper, factor in LOAD_FACTOR_TABLE:
        if utilisation_ratio < upper:
            return factor
    return OVERLOADED_FACTOR
