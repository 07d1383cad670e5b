"""A search's result as an experiment config (``experiment=NAME``, ``# @package _global_``).

The experiment group comes last in the defaults list, after a data recipe, so its values are the ones a run trains
with: as a group option (``hyp=...``) a result would lose the keys a recipe sets (``data=shapes``: lr0,
warmup_epochs). Group choices become ``override /group: option``, every other key a nested value.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from yolo_exp.files.atomic import atomic_write_text


def experiment_tree(values: Mapping[str, Any], groups: Iterable[str]) -> dict[str, Any]:
    """``{"model": "yolov5s", "hyp.lr0": 0.01}`` -> ``{"defaults": [{"override /model": ...}], "hyp": {"lr0": ...}}``."""
    groups = set(groups)
    tree: dict[str, Any] = {}
    overrides = [{f"override /{k}": v} for k, v in values.items() if k in groups]
    if overrides:
        tree["defaults"] = overrides
    for key, value in values.items():
        if key in groups:
            continue
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def write_experiment(path: Path, values: Mapping[str, Any], groups: Iterable[str], header: str) -> Path:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(experiment_tree(values, groups), sort_keys=False)
    atomic_write_text(path, "# @package _global_\n" + header + body)
    return path


def override_values(overrides: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """A job's command-line overrides as ``key -> value``, and apart those a config file cannot hold (``+key``
    additions, ``~key`` deletions) or that are not the run's (``hydra.*``, the trial's own ``trial.*``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    values: dict[str, Any] = {}
    rest: list[str] = []
    for o in OverridesParser.create().parse_overrides(list(overrides)):
        key = o.key_or_group
        if key.startswith(("hydra", "trial.")):
            continue
        if o.is_add() or o.is_delete() or o.is_force_add() or o.package:
            rest.append(o.input_line)
        else:
            values[key] = o.value()
    return values, rest
