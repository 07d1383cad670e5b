"""Bounds on what an input file may make us read, hold or print (yolo_exp/files/limits.py): non-regular files refused
without blocking, size limits, bounded messages, YAML alias bombs, zip-bomb archives, class counts."""
from __future__ import annotations

import os
import signal
import socket
import zipfile
from contextlib import contextmanager

import pytest

from yolo_exp.files import limits


@contextmanager
def deadline(seconds: int = 5):
    """Fail, not hang, when the body blocks (a FIFO opened for reading waits for a writer)."""
    def fail(*_):
        raise TimeoutError("blocked")
    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_short_bounds_text_and_reprs_of_any_size():
    assert limits.short("abc") == "abc"
    long = limits.short("x" * 10_000_000)
    assert len(long) < 260 and "10,000,000 characters" in long
    nested: list = []
    for _ in range(30):  # a billion-laughs shaped value: 2**30 leaves, never rendered in full
        nested = [nested, nested]
    assert len(limits.short(nested)) < 260
    assert len(limits.short_repr("y" * 5_000_000)) < 140


def test_non_regular_files_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "a.jpg"
    os.mkfifo(fifo)
    sock_path = tmp_path / "s.txt"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        for path, kind in ((fifo, "a FIFO"), (sock_path, "a socket"), (tmp_path, "a directory"),
                           ("/dev/zero", "a character device")):
            with deadline(), pytest.raises(ValueError, match=f"is {kind}, not a regular file"):
                limits.read_regular(path)
    finally:
        sock.close()


def test_size_limit_is_checked_before_reading(tmp_path):
    f = tmp_path / "big.txt"
    f.write_bytes(b"0" * 5000)
    assert limits.read_regular(f, 5000) == b"0" * 5000
    with pytest.raises(ValueError, match="label is 5,000 bytes, over the limit of 4,999"):
        limits.read_regular(f, 4999, "label")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="not UTF-8"):
        limits.read_text(tmp_path / "bad.txt", 100)


def test_yaml_alias_bomb_and_recursive_yaml_are_refused_in_one_line(tmp_path):
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        bomb.append(f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 10)}]")
    (tmp_path / "bomb.yaml").write_text("\n".join(bomb) + "\n")  # 10**9 values in 400 bytes
    with pytest.raises(ValueError, match=r"data.yaml: the YAML document expands to more than 100,000 values"):
        limits.load_yaml(tmp_path / "bomb.yaml", "data.yaml")
    (tmp_path / "loop.yaml").write_text("a: &a [1, *a]\n")
    with pytest.raises(ValueError, match="contains itself"):
        limits.load_yaml(tmp_path / "loop.yaml", "loop")
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 600 + "]" * 600 + "\n")
    with pytest.raises(ValueError, match="deep: the YAML document is nested too deeply"):
        limits.load_yaml(tmp_path / "deep.yaml", "deep")
    (tmp_path / "ok.yaml").write_text("base: &b {x: 1}\nuse: *b\nnames: [a, b]\n")
    assert limits.load_yaml(tmp_path / "ok.yaml")["use"] == {"x": 1}


def zip_bomb(path, declared: int = 0xFFFFFFF0) -> None:
    """A zip whose central directory declares ``declared`` bytes for a 10-byte member."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", b"x" * 10)
    data = bytearray(path.read_bytes())
    at = data.index(b"PK\x01\x02")
    data[at + 24:at + 28] = declared.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def test_zip_bomb_sizes_are_refused_before_inflating(tmp_path):
    """Every reader of a zip archive (a .pt checkpoint, a .torchscript export) checks the declared sizes."""
    import torch

    from yolo_exp.deploy.backends import Exported
    from yolo_exp.models.weights import read_state_dict

    for name, read in (("bomb.pt", read_state_dict), ("bomb.torchscript", lambda p: Exported(p, torch.device("cpu")))):
        zip_bomb(tmp_path / name)
        with pytest.raises(ValueError, match=rf"{name}: declares 4,294,967,280 bytes uncompressed in a \d+-byte file"):
            read(tmp_path / name)


@pytest.mark.parametrize("nc", [0, -1, 10_000_000, True, "80", None])
def test_class_counts_out_of_range_are_refused(nc):
    with pytest.raises(ValueError, match=r"data: nc=.* is not a number of classes \(1 to 100,000\)"):
        limits.check_classes(nc, "data")
    assert limits.check_classes(80, "data") == 80


def test_pixel_limit_is_settable(monkeypatch):
    assert limits.max_pixels() == limits.DEFAULT_MAX_PIXELS
    monkeypatch.setenv("YOLO_EXP_MAX_PIXELS", "1000")
    assert limits.max_pixels() == 1000


def test_every_reader_of_outside_files_refuses_a_fifo_instead_of_waiting(tmp_path):
    """The class, not one instance: each entry point that reads a file from a dataset or a run folder."""
    from yolo_exp.config.resume import _read_overrides
    from yolo_exp.data.files import list_images, read_image
    from yolo_exp.data.spec import resolve_data
    from yolo_exp.report.run_reader import read_results_csv, read_run

    (tmp_path / ".hydra").mkdir()
    for name in (".hydra/overrides.yaml", "summary.json", "results.csv", "config_resolved.yaml", "x.jpg",
                 "list.txt", "data.yaml"):
        os.mkfifo(tmp_path / name)
    calls = [
        (lambda: _read_overrides(tmp_path), r"overrides.yaml \(is a FIFO"),
        (lambda: read_image(tmp_path / "x.jpg"), "is a FIFO"),
        (lambda: list_images(tmp_path / "list.txt"), "is a FIFO"),
        (lambda: resolve_data({"file": str(tmp_path / "data.yaml")}), "is a FIFO"),
    ]
    with deadline(20):
        for call, reason in calls:
            with pytest.raises(ValueError, match=reason):
                call()
        assert read_results_csv(tmp_path / "results.csv") == {}
        read_run(tmp_path)  # summary.json and config_resolved.yaml unreadable: a run without records, no wait
