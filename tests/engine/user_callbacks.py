"""Callbacks as a user would write them in their own module (not the package): a column and a stop rule."""
from __future__ import annotations


class AddColumn:
    """A results.csv column of its own: the sum of the three training losses."""

    def on_epoch_end(self, event) -> None:  # noqa: ANN001
        event.row["my/train_loss"] = sum(event.row[f"train/{k}_loss"] for k in ("box", "obj", "cls"))


class StopAfter:
    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.ended = None

    def on_epoch_end(self, event) -> None:  # noqa: ANN001
        if event.epoch + 1 >= self.epochs:
            event.request_stop(f"my rule: {self.epochs} epochs are enough")
