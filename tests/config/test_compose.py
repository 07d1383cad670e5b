"""Every option of every group composes, resolves and instantiates; bad overrides give one-line errors."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.conftest import ROOT, shared_path
from yolo_exp.config.cli import split_argv
from yolo_exp.config.compose import compose_checked, sweep_variants
from yolo_exp.config.validate import ConfigError

GROUPS = ("model", "data", "hyp", "optimizer", "device", "experiment", "debug")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))


def test_every_group_has_its_required_options():
    assert {f"yolov5{s}" for s in "nsmlx"} | {f"yolov5{s}6" for s in "nsmlx"} <= set(options("model"))
    assert {"shapes", "coco128", "mine", "file"} <= set(options("data"))
    assert {"scratch", "scratch-low", "scratch-med", "scratch-high", "finetune", "no-augmentation"} <= set(
        options("hyp"))
    assert set(options("optimizer")) == {"sgd", "adam", "adamw"}
    assert set(options("device")) == {"auto", "cpu", "cuda"}


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g) if not o.endswith("-seg")])
def test_option_composes_and_resolves(group, option):  # segment models: tests/models/test_segment.py
    cfg = compose_checked([f"{group}={option}"], check_paths=False)
    container = OmegaConf.to_container(cfg, resolve=True)
    assert container["optimizer"]["lr"] == container["hyp"]["lr0"]  # written once, interpolated


@pytest.mark.parametrize("option", options("optimizer"))
def test_optimizer_instantiates_from_hyp(option):
    cfg = compose_checked([f"optimizer={option}", "hyp.lr0=0.02", "hyp.momentum=0.9"], check_paths=False)
    factory = instantiate(cfg.optimizer)
    opt = factory([torch.nn.Parameter(torch.zeros(2))])
    assert opt.param_groups[0]["lr"] == 0.02
    assert opt.param_groups[0].get("momentum", (opt.param_groups[0].get("betas") or [None])[0]) == 0.9


@pytest.mark.parametrize("option", ["yolov5n", "yolov5s"])
def test_model_option_builds(option):
    from yolo_exp import build_model

    cfg = compose_checked([f"model={option}"], check_paths=False)
    model = build_model(OmegaConf.to_container(cfg.model, resolve=True), nc=3)
    assert model.detect.nc == 3


@pytest.mark.parametrize("hyp,key,value", [("scratch", "lrf", 0.1), ("scratch-low", "lrf", 0.01),
                                           ("scratch-high", "copy_paste", 0.1), ("finetune", "lr0", 0.0032),
                                           ("no-augmentation", "mosaic", 0.0)])
def test_hyp_files_hold_yolov5_values(hyp, key, value):
    # data=coco128: the shapes demo's recipe would override lr0 (recipes win over group options, not the CLI)
    assert compose_checked([f"hyp={hyp}", "data=coco128"], check_paths=False).hyp[key] == value


def test_recipe_follows_the_data_choice_and_yields_to_the_command_line():
    demo = compose_checked([], check_paths=False)
    assert (demo.epochs, demo.imgsz, demo.nbs, demo.hyp.lr0) == (30, 192, 8, 0.05)
    assert compose_checked(["epochs=3", "hyp.lr0=0.02"], check_paths=False).hyp.lr0 == 0.02
    plain = compose_checked(["data=coco128"], check_paths=False)
    assert (plain.epochs, plain.imgsz, plain.nbs, plain.hyp.lr0) == (100, 640, 64, 0.01)


def test_data_file_points_at_existing_yolov5_yaml():
    yaml_path = shared_path("datasets", "coco128", "data.yaml")
    cfg = compose_checked(["data=file", f"data.file={yaml_path}"])
    assert cfg.data.file == str(yaml_path)


@pytest.mark.parametrize("override,expect", [
    ("hyp.lr0=abc", "hyp.lr0=abc"),
    ("hyp.lr=0.1", "did you mean hyp.lr0?"),
    ("data=nope", "choose one of: "),
    ("experiment=nope", "experiment=nope: no such option; choose one of: bccd_finetune"),  # was silently ignored
    ("debug=nope", "debug=nope: no such option; choose one of: fast"),
    ("epochs=-1", "epochs=-1: must be"),
    ("batch_size=0", "batch_size=0: must be"),
    ("device.type=gpu", "expected one of [auto, cpu, cuda]"),
    ("optimizer._target_=os.system", "must be one of torch.optim.SGD"),
    ("hyp.mosaic=1.5", "hyp.mosaic=1.5: must be a probability"),
    ("fitness.map=-1", "fitness={'precision': 0.0, 'recall': 0.0, 'map50': 0.1, 'map': -1.0}: weights must be >= 0"),
])
def test_bad_override_is_one_line_naming_the_key(override, expect):
    """Also the fitness weights: all zero or negative would rank every epoch alike (or backwards)."""
    with pytest.raises(ConfigError) as err:
        compose_checked([override])
    msg = str(err.value)
    assert expect in msg and "\n" not in msg


def test_a_key_under_a_null_group_says_so_in_one_line():
    """data.shapes exists only with data=shapes; OmegaConf said "Unexpected type for root: NoneType"."""
    with pytest.raises(ConfigError, match=r"^data\.shapes\.n_train: data\.shapes is null in this config, so it "
                                          r"has no key n_train$"):
        compose_checked(["data=coco128", "data.shapes.n_train=16"])
    assert compose_checked(["data.shapes.n_train=16"], check_paths=False).data.shapes.n_train == 16  # data=shapes


def test_cuda_without_a_gpu_is_a_one_line_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match=r"^device.type='cuda': no CUDA device is available here"):
        compose_checked(["device=cuda"])


def test_missing_data_path_is_reported(tmp_path):
    with pytest.raises(ConfigError, match=r"data.path=.*folder not found"):
        compose_checked(["data=mine", f"data.path={tmp_path / 'absent'}"])


def test_sweep_values_are_checked_one_by_one():
    variants = sweep_variants(["epochs=1", "hyp.lr0=0.01,abc"])
    assert ["epochs=1", "hyp.lr0=abc"] in variants
    flags, overrides = split_argv(["-m", "--cfg", "job", "a=1"])
    assert flags == ["-m", "--cfg", "job"] and overrides == ["a=1"]


@pytest.mark.parametrize("args", [["hyp.lr0=abc"], ["-m", "hyp.lr0=0.01,abc"], ["hyp.lr=0.1"], ["data=nope"]])
def test_cli_prints_one_line_and_exits_nonzero(args, tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "outputs").exists()


def test_cfg_job_prints_config(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), "--cfg", "job"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "depth_multiple" in proc.stdout and "lr0" in proc.stdout
