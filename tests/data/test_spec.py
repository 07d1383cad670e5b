from __future__ import annotations

from pathlib import Path

import pytest

from yolo_exp.data.spec import resolve_data
from yolo_exp.files.paths import default_cache_dir

from .conftest import write_pair


def test_default_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("YOLO_EXP_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("YOLO_EXP_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "x" / "yolo_exp"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "yolo_exp"


def test_relative_paths_lists_and_names(tmp_path, monkeypatch):
    write_pair(tmp_path / "ds", "a", "0 0.5 0.5 0.1 0.1\n")
    write_pair(tmp_path / "ds", "b", "0 0.5 0.5 0.1 0.1\n", split="val")
    (tmp_path / "ds" / "extra.txt").write_text("./images/val/b.jpg\n")
    monkeypatch.chdir(tmp_path)
    spec = resolve_data({"path": "ds", "train": ["images/train", "extra.txt"], "val": "images/val", "test": None,
                         "names": {0: "cat", 1: "dog"}})
    assert spec.root == tmp_path / "ds" and spec.nc == 2 and spec.names == ["cat", "dog"]
    assert spec.train == [tmp_path / "ds" / "images" / "train", tmp_path / "ds" / "extra.txt"]
    assert spec.val == [tmp_path / "ds" / "images" / "val"] and spec.test == []


def test_errors_name_key_and_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"data.val: {tmp_path}/images/nope does not exist"):
        resolve_data({"path": str(tmp_path), "train": ".", "val": "images/nope", "names": ["a"]})
    with pytest.raises(ValueError, match="nc=3 does not match the 2 entries"):
        resolve_data({"path": str(tmp_path), "nc": 3, "names": ["a", "b"]})
    with pytest.raises(FileNotFoundError, match="data.file"):
        resolve_data({"file": str(tmp_path / "missing.yaml")})


def test_yolov5_data_yaml_file():
    from tests.conftest import shared_path

    f = shared_path("datasets", "coco128", "data.yaml").resolve()  # resolve_data resolves symlinks too
    spec = resolve_data({"file": str(f), "path": None, "train": None, "val": None, "names": None, "nc": None})
    assert spec.root == f.parent and spec.nc == 80 and spec.names[0] == "person" and spec.names[79] == "toothbrush"
    assert spec.train == [f.parent / "images" / "train"] and spec.val == [f.parent / "images" / "val"]
    spec = resolve_data({"file": str(f), "val": "images/train"})  # explicit keys override the file
    assert spec.val == [f.parent / "images" / "train"]


def test_shapes_key_generates_into_the_cache(tmp_path):
    spec = resolve_data({"shapes": {"n_train": 8, "n_val": 4, "img_size": 64, "seed": 1}}, cache_dir=tmp_path)
    assert spec.root == tmp_path / "shapes-8-4-64-s1" and spec.nc == 4
    assert spec.names == ["circle", "rectangle", "triangle", "star"]
    assert len(list(spec.train[0].glob("*.jpg"))) == 8 and len(list(spec.val[0].glob("*.jpg"))) == 4


def test_missing_test_split_is_left_out_with_a_warning(tmp_path, caplog):
    write_pair(tmp_path / "ds", "a", "0 0.5 0.5 0.1 0.1\n")
    spec = resolve_data({"path": str(tmp_path / "ds"), "train": "images/train", "val": "images/train",
                         "test": "images/test", "names": ["a"]})
    assert spec.test == [] and "data.test" in caplog.text and "does not exist" in caplog.text
    with pytest.raises(FileNotFoundError, match="data.val"):
        resolve_data({"path": str(tmp_path / "ds"), "train": "images/train", "val": "images/val", "names": ["a"]})


@pytest.mark.parametrize("text, reason", [("", "is empty"), ("train: [a\nval: b: c\n", "not valid YAML at line"),
                                          ("- a\n", "not a YAML mapping"), ("val: x\nnames: [a]\n", "no 'train:'")])
def test_bad_data_yaml_is_named_with_its_cause(tmp_path, text, reason):
    f = tmp_path / "data.yaml"
    f.write_text(text)
    with pytest.raises(ValueError, match=reason) as info:
        resolve_data({"file": str(f)})
    assert str(info.value).startswith(f"data.file: {f}") and "\n" not in str(info.value)


def test_demo_sizes_do_not_replace_a_real_dataset(tmp_path):
    """`data=<real> debug=fast` leaves data.shapes.* set; the real dataset is used, nothing is generated."""
    write_pair(tmp_path / "ds", "a", "0 0.5 0.5 0.1 0.1\n")
    spec = resolve_data({"path": str(tmp_path / "ds"), "train": "images/train", "val": "images/train",
                         "names": ["a"], "shapes": {"n_train": 16, "n_val": 8}}, cache_dir=tmp_path / "cache")
    assert spec.train == [tmp_path / "ds" / "images" / "train"] and not (tmp_path / "cache").exists()


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 10)}]\n" for i in range(1, 9))


@pytest.mark.parametrize("text, reason", [
    (BOMB + "train: images/train\nval: images/train\nnames: *i\n", "expands to more than 100,000 values"),
    ("train: images/train\nval: images/train\nnc: 10000000\n", "data.yaml: nc=10000000 is not a number of classes"),
])
def test_small_data_yaml_demanding_unbounded_memory_is_refused_in_one_line(tmp_path, text, reason):
    write_pair(tmp_path, "a", "0 0.5 0.5 0.1 0.1\n")
    f = tmp_path / "data.yaml"
    f.write_text(text)
    with pytest.raises(ValueError, match=reason) as info:
        resolve_data({"file": str(f)})
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_a_data_yaml_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    import os

    os.mkfifo(tmp_path / "data.yaml")
    with pytest.raises(ValueError, match=r"data.file: .*data.yaml is a FIFO, not a regular file"):
        resolve_data({"file": str(tmp_path / "data.yaml")})


@pytest.mark.parametrize("text, said", [
    ("nc: 80.7", "nc: must be a whole number of classes, got float 80.7"),
    ("nc: true", "nc: must be a whole number of classes, got bool True"),
    ("nc: [1]", "nc: must be a whole number of classes, got list [1]"),
    ("names: cat", "names: must be a list of class names or a mapping {0: name, ...}, got str 'cat'"),
    ("names: 5", "names: must be a list of class names or a mapping {0: name, ...}, got int 5"),
    ("names: [[a, b]]", "names: each class name must be a plain value, got list ['a', 'b']"),
    ("names: {0: a, 2: b}", "names: the keys of a mapping must be 0..1, got [0, 2]"),
    ("names: {a: x}", "names: the keys of a mapping must be 0..0, got ['a']"),
    ("path: [a, b]", "path: must be a folder, got list ['a', 'b']"),
    ("train: [images, 3]", "train: must be a folder, a .txt list or a list of them, got int 3"),
    ("val: {a: 1}", "val: must be a folder, a .txt list or a list of them, got dict {'a': 1}"),
])
def test_data_yaml_values_of_the_wrong_type_name_the_file_and_key(tmp_path, text, said):
    """`nc: 80.7` was truncated to 80; a list where a path goes gave `TypeError: expected str ... not list`."""
    write_pair(tmp_path, "a", "0 0.5 0.5 0.1 0.1\n")
    f = tmp_path / "data.yaml"
    base = {"train": "train: images/train", "val": "val: images/train", "names": "names: [a]"}
    base[text.split(":")[0]] = text
    f.write_text("\n".join(base.values()) + "\n")
    with pytest.raises(ValueError) as info:
        resolve_data({"file": str(f)})
    assert str(info.value) == f"data.file: {f}: {said}"


def test_names_as_a_mapping_with_string_keys_and_whole_float_nc(tmp_path):
    write_pair(tmp_path, "a", "0 0.5 0.5 0.1 0.1\n")
    f = tmp_path / "data.yaml"
    f.write_text("train: images/train\nval: images/train\nnc: 2.0\nnames: {'1': dog, '0': cat}\n")
    spec = resolve_data({"file": str(f)})
    assert spec.names == ["cat", "dog"] and spec.nc == 2
