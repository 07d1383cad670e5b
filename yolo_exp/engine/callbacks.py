"""Plug-in points of a training run: a user adds a results column, a logger or a stop rule without forking.

A callback is any object with some of the methods of :class:`Callback`. Callbacks are named in the config, each
built with Hydra's ``instantiate`` from a ``_target_``: ``callbacks`` (the user's, run first) then ``logger``
(TensorBoard by default; ``logger=[tensorboard,mlflow]``):

    python train.py +callbacks.mine._target_=my_module.MyCallback

``_target_`` may name any importable class the user chose on their own command line or config file; nothing is
looked up from data, checkpoints or names written by a run (see README, "Plug-ins").

Order per epoch: every callback sees the epoch's :class:`EpochEnd` (and may add columns to its ``row`` or ask to
stop) before results.csv, summary.json and the checkpoints are written, so what a callback adds is recorded with
the epoch. Loggers come after the user's callbacks and so log the columns those added.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

LOG = logging.getLogger("yolo_exp.train")


@dataclass
class RunStart:
    run_dir: Path
    config: dict[str, Any]           # the resolved config
    choices: dict[str, str]          # group choices (model, data, hyp, ...)
    overrides: list[str]             # the job's command-line overrides
    resumed: bool = False
    sweep_dir: Path | None = None    # the sweep folder of a multirun job


@dataclass
class EpochEnd:
    epoch: int                       # 0-based, as in results.csv
    epochs: int
    row: dict[str, float]            # the results.csv row: add columns here
    metrics: dict[str, float]        # short names: precision, recall, map50, map, fitness ({} when not validated)
    best_epoch: int
    best: dict[str, float] = field(default_factory=dict)
    stop: str | None = None          # set to a reason to end the run after this epoch (saved as a final epoch)
    status: str = "completed"        # the run's status when a callback stopped it ("pruned" for a search)

    def request_stop(self, reason: str, status: str = "completed") -> None:
        self.stop, self.status = reason, status


@dataclass
class RunEnd:
    run_dir: Path
    status: str                      # completed | pruned | interrupted | failed
    epochs_done: int = 0
    best: dict[str, float] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)
    error: BaseException | None = None


class Callback:
    """Override what you need; every method is optional."""

    def on_run_start(self, run: RunStart) -> None:
        pass

    def on_epoch_end(self, event: EpochEnd) -> None:
        pass

    def on_run_end(self, end: RunEnd) -> None:
        pass


def build_callbacks(nodes: Iterable[tuple[str, Any]]) -> list[Any]:
    """Instantiate (name, config) pairs in order; a null entry switches a callback off."""
    from hydra.utils import instantiate

    built = []
    for name, node in nodes:
        if node is None:
            continue
        if not hasattr(node, "keys") or "_target_" not in node:
            raise ValueError(f"callbacks.{name}: expected a mapping with _target_ (the class to build)")
        built.append(instantiate(node, _convert_="all"))
    return built


class CallbackList:
    """Calls each callback's method in order; a method a callback lacks is skipped."""

    def __init__(self, callbacks: Iterable[Any] = ()) -> None:
        self.callbacks = list(callbacks)

    def _call(self, method: str, arg: Any) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, method, None)
            if fn is not None:
                fn(arg)

    def on_run_start(self, run: RunStart) -> None:
        self._call("on_run_start", run)

    def on_epoch_end(self, event: EpochEnd) -> None:
        self._call("on_epoch_end", event)

    def on_run_end(self, end: RunEnd) -> None:
        """Every callback hears the end, even when one of them fails here (the run's outcome is already set)."""
        for cb in self.callbacks:
            fn = getattr(cb, "on_run_end", None)
            if fn is None:
                continue
            try:
                fn(end)
            except Exception as exc:  # noqa: BLE001 - the run is over; its record must not be lost to a plug-in
                LOG.warning("callback %s failed at the end of the run: %s: %s", type(cb).__name__,
                            type(exc).__name__, exc)
