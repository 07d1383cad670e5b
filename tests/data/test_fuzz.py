"""Fuzzing the scanning functions with what a broken or hostile dataset holds: random bytes, huge lines, odd
types and numbers in data.yaml and label files. Seeded and bounded (a few seconds): nothing hangs, raises out of
verification, keeps an unbounded message, or lets a bad value through."""
from __future__ import annotations

import math
import random
import time

import numpy as np
import pytest
import yaml

from yolo_exp.data import label_cache
from yolo_exp.data.spec import resolve_data
from yolo_exp.data.verify import CORRUPT, STATUSES, verify_image_label
from yolo_exp.engine.errors import one_line
from yolo_exp.files.limits import MESSAGE_CHARS

from .conftest import write_pair

NC = 3
TOKENS = ["0", "1", "2", "3", "-1", "0.5", "1.0", "1.5", "-0", "1e-9", "1e309", "nan", "NaN", "inf", "-inf", "0x10",
          "1_0", "١", "½", "0.5.5", "", "\x00", "e", "+.5", "9" * 400, "0." + "1" * 300]
SEPARATORS = [" ", "  ", "\t", "\x0b", "\x0c", "\x1c", "\u3000", ","]


def random_label(rng: random.Random) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:  # random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
    if kind == 1:  # one huge line under the size limit
        return (" ".join(rng.choice(TOKENS[:8]) for _ in range(rng.randrange(1, 60_000)))).encode()
    rows = []
    for _ in range(rng.randrange(0, 30)):
        n = rng.choice([0, 1, 4, 5, 5, 5, 6, 7, 9, 13, rng.randrange(1, 200)])
        sep = rng.choice(SEPARATORS)
        rows.append(sep.join(rng.choice(TOKENS) if kind == 2 else f"{rng.uniform(-0.05, 1.05):.4f}"
                             for _ in range(n)))
        if kind >= 3 and rows[-1]:  # mostly valid rows: a class id in front
            rows[-1] = f"{rng.randrange(-1, NC + 1)} {rows[-1]}"
    return rng.choice(["\n", "\r\n", "\r"]).join(rows).encode("utf-8", "surrogatepass")


def test_label_files_of_anything_are_classified_never_raise_and_keep_short_messages(tmp_path):
    rng = random.Random(0)
    im = write_pair(tmp_path, "x", None, size=(32, 32))
    lb = tmp_path / "labels" / "train" / "x.txt"
    records, t0 = [], time.perf_counter()
    for i in range(150):
        lb.write_bytes(random_label(rng))
        rec = verify_image_label(str(im), NC)
        assert rec.status in STATUSES
        assert all(len(m) <= MESSAGE_CHARS + 40 and "\n" not in m for m in rec.msgs), rec.msgs
        if rec.status != CORRUPT:  # what gets through is sane
            labels = rec.labels
            assert np.isfinite(labels).all() and (labels[:, 1:] >= 0).all() and (labels[:, 1:] <= 1).all()
            assert ((labels[:, 0] >= 0) & (labels[:, 0] < NC) & (labels[:, 0] == np.round(labels[:, 0]))).all()
            assert all(np.isfinite(s).all() for s in rec.segments)
        records.append(rec)
    assert time.perf_counter() - t0 < 30
    path = tmp_path / "fuzz.cache"
    assert label_cache.save(path, "k", records)
    assert path.stat().st_size < 4 << 20  # the cache holds labels and short messages, not the inputs
    back = label_cache.load(path, "k")
    assert [(r.status, r.msgs) for r in back] == [(r.status, r.msgs) for r in records]


ODD = [None, True, 0, -1, 3.7, 1e400, "", "x" * 5000, [], [[]], {}, {"a": {"b": [1]}}, [None], ["images/train"] * 3,
       {0: "a", 2: "b"}, {"0": "a"}, [1, 2], "images/train", "../../../../etc", "/dev/zero", "\x00", 10_000_000]
KEYS = ["path", "train", "val", "test", "names", "nc", "download", "shapes", "extra"]


def random_yaml(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 600))).decode("latin-1")
    if kind == 1:
        return "names: [" + ", ".join("n" * rng.randrange(1, 50) for _ in range(rng.randrange(1, 800))) + "]\n" \
               "train: images/train\nval: images/train\n"
    doc = {"train": "images/train", "val": "images/train", "names": ["a", "b", "c"]}
    for _ in range(rng.randrange(1, 4)):
        doc[rng.choice(KEYS)] = rng.choice(ODD)
    text = yaml.safe_dump(doc, allow_unicode=True)
    if kind == 3:  # YAML features: tags, anchors, merge keys, deep nesting
        text += rng.choice(["x: !!python/object:os.system {}\n", "m: &m {a: 1}\nn: {<<: *m}\n",
                            "deep: " + "[" * 300 + "]" * 300 + "\n", "deeper: " + "[" * 600 + "]" * 600 + "\n",
                            "t: !custom 1\n", "d: 2026-12-03\n"])
    return text


def test_data_yaml_of_anything_gives_a_spec_or_one_short_error(tmp_path):
    rng = random.Random(1)
    write_pair(tmp_path, "a", "0 0.5 0.5 0.1 0.1\n")
    f = tmp_path / "data.yaml"
    t0 = time.perf_counter()
    for i in range(100):
        text = random_yaml(rng)
        f.write_text(text, encoding="utf-8", errors="surrogateescape")
        try:
            spec = resolve_data({"file": str(f)})
        except (ValueError, TypeError, KeyError, OSError, OverflowError) as exc:  # what the entries print as one line
            line = one_line(exc)
            assert "\n" not in line and len(line) <= 460, (text[:200], line)
        else:
            assert 1 <= spec.nc == len(spec.names) and all(isinstance(n, str) for n in spec.names)
            assert all(p.exists() for p in spec.train + spec.val)
    assert time.perf_counter() - t0 < 30
