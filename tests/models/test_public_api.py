import subprocess
import sys

import pytest

import yolo_exp


def test_import_is_light_and_api_resolves_lazily():
    code = "import sys, yolo_exp; assert 'torch' not in sys.modules, 'torch imported eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True)
    from yolo_exp.models.yolo import build_model

    assert yolo_exp.build_model is build_model
    assert callable(yolo_exp.check_anchors) and callable(yolo_exp.load_weights)


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        yolo_exp.nope  # noqa: B018
