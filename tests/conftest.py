"""Shared fixtures: paths to ../shared material (skipped when absent) and thread limits for a 2-core box."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep tests out of the user's cache dir (the embedded dataset and label caches go here)."""
    os.environ.setdefault("YOLO_EXP_CACHE_DIR", str(tmp_path_factory.mktemp("yolo_exp_cache")))
    yield


def current_umask() -> int:
    """The process umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the calling test when it is not there (a user's machine)."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared material not available: {p}")
    return p
