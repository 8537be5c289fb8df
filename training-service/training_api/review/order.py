"""What the model says about a card, and the order cards come in.

"uncertain" puts first the card whose scores lie closest to their thresholds (the smallest
margin |p - t| over the 20 classes): the photos where a person's answer teaches the model
most. "upload" keeps the order photos were added in; "class" groups them by their most
likely class (in classes.json order), the most confident first.
"""

from collections.abc import Sequence
from typing import Literal

from tagloop.classes import CLASS_INDEX, VOC_CLASSES

from training_api.db import ReviewItem

Order = Literal["uncertain", "upload", "class"]
ORDERS: tuple[str, ...] = ("uncertain", "upload", "class")
CONFIDENT_LOW, CONFIDENT_HIGH = 0.1, 0.9
"""A card is "confident" when every score is below the first or above the second."""


def thresholds_of(item: ReviewItem, default: float) -> dict[str, float]:
    """Per-class thresholds: the model's own where it has them, else the session's."""
    own = item.thresholds or {}
    return {name: float(own.get(name, default)) for name in VOC_CLASSES}


def predicted_labels(item: ReviewItem, default: float) -> list[str]:
    """The classes at or above their thresholds, in classes.json order."""
    limits = thresholds_of(item, default)
    return [name for name in VOC_CLASSES if item.scores.get(name, 0.0) >= limits[name]]


def margin(item: ReviewItem, default: float) -> float:
    """How far the closest score is from its threshold (0 = as uncertain as it gets)."""
    limits = thresholds_of(item, default)
    return min(abs(item.scores.get(name, 0.0) - limits[name]) for name in VOC_CLASSES)


def is_confident(item: ReviewItem) -> bool:
    return all(p > CONFIDENT_HIGH or p < CONFIDENT_LOW for p in item.scores.values())


def top_class(item: ReviewItem) -> str:
    return max(VOC_CLASSES, key=lambda name: item.scores.get(name, 0.0))


def sort_items(items: Sequence[ReviewItem], order: str, default: float) -> list[ReviewItem]:
    """The session's cards in the chosen order; ties keep upload order."""
    if order == "upload":
        return sorted(items, key=lambda i: i.position)
    if order == "class":

        def by_class(item: ReviewItem) -> tuple[int, float, int]:
            top = top_class(item)
            return CLASS_INDEX[top], -item.scores.get(top, 0.0), item.position

        return sorted(items, key=by_class)
    return sorted(items, key=lambda i: (margin(i, default), i.position))
