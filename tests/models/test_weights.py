import logging
import pickle

import cv2
import numpy as np
import pytest
import torch
from torchvision.ops import box_convert, box_iou

from tests.conftest import shared_path
from tests.models.test_yolov5_pickle import make_malicious_checkpoint
from yolo_exp.engine.checkpoint import load_checkpoint
from yolo_exp.models.weights import CheckpointError, load_weights, read_state_dict
from yolo_exp.models.yolo import build_model
from yolo_exp.models.yolov5_pickle import read_yolov5_checkpoint

OFFICIAL = ("weights", "yolov5n.pt")


def _letterbox_640(path):
    """Long side to 640, padded bottom/right with grey: enough for a sanity check of detections."""
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    r = 640 / max(h, w)
    img = cv2.resize(img, (round(w * r), round(h * r)), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((640, 640, 3), 114, np.uint8)
    canvas[: img.shape[0], : img.shape[1]] = img
    return torch.from_numpy(canvas).permute(2, 0, 1)[None].float() / 255, r, (w, h)


def test_official_checkpoint_metadata():
    ckpt = read_yolov5_checkpoint(shared_path(*OFFICIAL))
    assert ckpt.nc == 80 and ckpt.names[0] == "person" and len(ckpt.names) == 80
    assert ckpt.model_class == "models.yolo.Model" and ckpt.yaml["depth_multiple"] == 0.33
    default = torch.tensor([[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]])
    torch.testing.assert_close(ckpt.anchors.float() * torch.tensor([8.0, 16, 32]).view(3, 1, 1),
                               default.float().view(3, 3, 2))


def test_official_weights_transfer_and_detect_a_person():
    model = build_model("yolov5n", nc=80)
    sd = read_yolov5_checkpoint(shared_path(*OFFICIAL)).state_dict
    non_anchor = [k for k in sd if "anchor" not in k]
    assert len(non_anchor) == 348
    n, total = load_weights(model, shared_path(*OFFICIAL), exclude=("anchors",))
    assert (n, total) == (348, len(model.state_dict()))
    own = model.state_dict()
    for k in non_anchor:
        torch.testing.assert_close(own[k], sd[k].to(own[k].dtype))

    # 000000000036.jpg: one large person, label 0 0.671279 0.617945 0.645759 0.726859
    x, r, (w, h) = _letterbox_640(shared_path("datasets", "coco128", "images", "train", "000000000036.jpg"))
    model.eval()
    with torch.no_grad():
        pred = model(x)[0][0]
    score, cls = (pred[:, 4:5] * pred[:, 5:]).max(1)
    person = (cls == 0) & (score > 0.5)
    gt = torch.tensor([[0.671279, 0.617945, 0.645759, 0.726859]]) * torch.tensor([w, h, w, h]) * r
    iou = box_iou(box_convert(gt, "cxcywh", "xyxy"), box_convert(pred[person, :4], "cxcywh", "xyxy"))
    assert person.any() and iou.max() > 0.7
    assert (score > 0.5).sum() < 20  # and not a flood of confident boxes


def test_official_weights_into_other_nc_keep_all_but_outputs(caplog):
    model = build_model("yolov5n", nc=3)
    with caplog.at_level(logging.INFO):
        n, total = load_weights(model, shared_path(*OFFICIAL))
    assert (n, total) == (349 - 6, 350)  # all but the three output convs' weight and bias (anchors included)
    assert f"Transferred 343/350 items from {shared_path(*OFFICIAL)}" in caplog.text


def test_our_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    src = build_model("yolov5n", nc=5)
    path = tmp_path / "last.pt"
    torch.save({"epoch": 3, "model": src.state_dict(), "ema": None, "names": src.names}, path)
    dst = build_model("yolov5n", nc=5)
    assert load_weights(dst, path) == (len(src.state_dict()), len(src.state_dict()))
    src.eval(), dst.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(dst(x)[0], src(x)[0])
    ema = {k: torch.full_like(v, 0.5) if v.is_floating_point() else v for k, v in src.state_dict().items()}
    torch.save({"model": src.state_dict(), "ema": ema}, path)
    assert torch.equal(read_state_dict(path)["model.0.conv.weight"], ema["model.0.conv.weight"])


def test_malicious_checkpoint_refused_by_load_weights(tmp_path):
    path, target = tmp_path / "evil.pt", tmp_path / "pwned"
    make_malicious_checkpoint(path, target)
    with pytest.raises(CheckpointError, match="refused: neither.*system"):
        load_weights(build_model("yolov5n", nc=80), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, map_location="cpu", weights_only=True)
    assert not target.exists()


def _bad_files(tmp_path):
    torch.save({"model": {"w": torch.zeros(2)}, "epoch": 0}, tmp_path / "good.pt")
    whole = (tmp_path / "good.pt").read_bytes()
    import zipfile

    with zipfile.ZipFile(tmp_path / "zip.pt", "w") as z:
        z.writestr("notes.txt", "not a checkpoint")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    files = {"random.pt": np.random.default_rng(0).bytes(4096), "empty.pt": b"", "truncated.pt": whole[: len(whole) // 2]}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {"random.pt": "not a zip archive", "empty.pt": "empty file", "truncated.pt": "not a zip archive",
            "zip.pt": "not a readable PyTorch checkpoint", "tensor.pt": "holds a Tensor"}


def test_files_that_are_not_checkpoints_get_one_line_naming_file_and_cause(tmp_path):
    for name, reason in _bad_files(tmp_path).items():
        for read in (read_state_dict, load_checkpoint):
            with pytest.raises(CheckpointError) as info:
                read(tmp_path / name)
            msg = str(info.value)
            assert "\n" not in msg and msg.startswith(str(tmp_path / name)) and reason in msg, (name, msg)


def test_few_transferred_tensors_are_warned_about(tmp_path, caplog):
    torch.save({"model": build_model("yolov5s", nc=3).state_dict()}, tmp_path / "s.pt")
    with caplog.at_level(logging.WARNING):
        n, total = load_weights(build_model("yolov5n", nc=3), tmp_path / "s.pt")
    assert n < total / 2 and f"only {n} of the model's {total} tensors matched" in caplog.text


def test_checkpoint_architecture_asking_for_huge_memory_is_refused_before_building(tmp_path):
    """Multiples that would ask for terabytes are counted on the meta device; nothing is allocated."""
    from yolo_exp.build import checkpoint_model
    from yolo_exp.engine.checkpoint import model_record

    model = build_model("yolov5n", nc=2)
    record = model_record(model)
    for change, reason in (({"width_multiple": 500.0}, "parameters .* over the limit"),
                           ({"depth_multiple": 1e7}, "repeats"), ({"ch": 10_000_000}, "input channels")):
        path = tmp_path / "huge.pt"
        torch.save({"model": model.state_dict(), **record, "arch": {**record["arch"], **change}}, path)
        with pytest.raises(CheckpointError, match=rf"weights={path}: its architecture cannot be built: .*{reason}"):
            checkpoint_model(path, logging.getLogger("t"))
    torch.save({"model": model.state_dict(), **record, "nc": 10_000_000}, path)
    with pytest.raises(ValueError, match="nc=10000000 is not a number of classes"):
        checkpoint_model(path, logging.getLogger("t"))
