"""Builders as a user would write them in their own module (not the package): a model factory, a dataset class
and an accelerator, each named by a config group's ``_target_``. Each leaves a line in ``built.txt`` (the run's
working directory) so a test can see it was used."""
from __future__ import annotations

from pathlib import Path

from yolo_exp.data.dataset import YoloDataset
from yolo_exp.engine.device import Accelerator
from yolo_exp.models.yolo import DetectionModel, build_model


def _note(line: str) -> None:
    with Path("built.txt").open("a") as f:
        f.write(line + "\n")


def slim_model(nc: int, names: list[str] | None = None, width: float = 0.125, **arch) -> DetectionModel:  # noqa: ANN003
    """YOLOv5's architecture at a width of the user's choosing."""
    _note(f"model width={width}")
    return build_model({**arch, "width_multiple": width}, nc=nc, names=names)


class NotedDataset(YoloDataset):
    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        _note(f"dataset {kwargs.get('prefix', '').strip()} {len(self)}")


class NotedAccelerator(Accelerator):
    def __init__(self, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        _note(f"accelerator {self.device}")


def not_a_model(nc: int, names: list[str] | None = None, **arch) -> dict:  # noqa: ANN003
    return {"nc": nc}


class FakeMemoryAccelerator(Accelerator):
    """A CPU accelerator with a made-up memory: each image of a step takes 0.25 GiB over 1 GiB, 10 GiB free, and
    batch 16 runs out, so AutoBatch can be driven end to end without a GPU."""

    def memory_probe(self, model, imgsz):  # noqa: ANN001, ANN201
        _note(f"memory probe at {imgsz}")
        return (lambda b: None if b >= 16 else 1.0 + 0.25 * b), 10.0
