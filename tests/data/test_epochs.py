"""The epoch protocol: class/image weights, and one call that fixes an epoch's order, mosaic and resume skip."""
from __future__ import annotations

import numpy as np
import pytest

from yolo_exp.data.epochs import begin_epoch, class_weights, image_weights


def test_image_weights_favour_rare_classes():
    labels = [np.array([[0, .5, .5, .1, .1]] * 9), np.array([[1, .5, .5, .1, .1]]), np.zeros((0, 5))]
    cw = class_weights(labels, nc=3)
    assert cw[1] == pytest.approx(9 * cw[0]) and cw.sum() == pytest.approx(1)
    iw = image_weights(labels, cw)
    assert iw[1] == pytest.approx(iw[0]) and iw[2] == 0  # one rare label weighs as much as nine common ones


class Sampler:
    def __init__(self):
        self.epoch, self.skip = None, 0

    def set_epoch(self, epoch):
        self.epoch = epoch


class Loader(list):
    batch_size = 4

    def __init__(self):
        super().__init__([1, 2, 3])
        self.sampler = Sampler()


class Dataset:
    labels = [np.array([[0, .5, .5, .1, .1]])] * 6 + [np.array([[1, .5, .5, .1, .1]])] * 2
    indices = list(range(8))
    mosaic = True


def test_one_call_fixes_the_epoch_and_image_weights_are_a_function_of_seed_and_epoch():
    loader, ds = Loader(), Dataset()
    assert list(begin_epoch(loader, ds, 3, seed=0, mosaic=False, nc=2, skip_batches=2)) == [1, 2, 3]
    assert loader.sampler.epoch == 3 and loader.sampler.skip == 8 and ds.mosaic is False
    assert ds.indices == list(range(8))  # no image weights asked for: the order is the sampler's

    maps = np.array([0.9, 0.0])  # class 1 scores badly: its images are drawn more often
    begin_epoch(loader, ds, 5, seed=0, mosaic=True, nc=2, maps=maps)
    first = list(ds.indices)
    begin_epoch(loader, ds, 5, seed=0, mosaic=True, nc=2, maps=maps)
    assert ds.indices == first and sum(i >= 6 for i in first) > 2  # same draw again; class 1 over-represented
    begin_epoch(loader, ds, 6, seed=0, mosaic=True, nc=2, maps=maps)
    assert ds.indices != first
