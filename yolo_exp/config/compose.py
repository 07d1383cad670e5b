"""Compose a config ourselves before Hydra does, turning any failure into one line that names the key.

Hydra reports a bad override as a multi-line message plus a hint about HYDRA_FULL_ERROR. Composing first is cheap
(no torch import); the line names the key with the allowed values or the closest valid key. Multirun sweeps are
checked value by value (``sweep_variants``), so a typo in one value of a sweep fails before the first job starts.
"""
from __future__ import annotations

import difflib
from typing import Callable, Sequence

from omegaconf import DictConfig, OmegaConf

from yolo_exp.config.store import register_configs
from yolo_exp.config.validate import ConfigError, validate, validate_export, validate_predict, validate_val
from yolo_exp.files.paths import CONF_DIR


def _group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _closest_key(full_key: str, cfg: DictConfig | None) -> str:
    if cfg is None:
        return ""
    parent, _, leaf = full_key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    if not isinstance(node, DictConfig):
        return ""
    # Best similarity wins; ties go to the key declared first (lr -> lr0, not lrf).
    keys = [str(k) for k in node.keys()]
    scores = [difflib.SequenceMatcher(None, leaf, k).ratio() for k in keys]
    if not keys or max(scores) < 0.5:
        return ""
    best = keys[scores.index(max(scores))]
    return f" (did you mean {parent + '.' if parent else ''}{best}?)"


def explain(exc: BaseException, override: str | None, base_cfg: DictConfig | None) -> str:
    """One line for a composition error, naming the key and what would be accepted."""
    from hydra.errors import MissingConfigException

    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, MissingConfigException):
        group = override.split("=", 1)[0].lstrip("+~") if override else ""
        if group and (CONF_DIR / group).is_dir():
            value = override.split("=", 1)[1] if "=" in override else ""
            return f"{group}={value}: no such option; choose one of: {', '.join(_group_options(group))}"
        return str(exc).splitlines()[0]
    cause = exc.__cause__ or exc
    key = getattr(cause, "full_key", None)
    msg = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    if key and ("not in" in msg or "not in struct" in msg):
        return f"{key}: unknown key{_closest_key(key, base_cfg)}"
    if key:
        value = override.split("=", 1)[1] if override and "=" in override else ""
        return f"{key}={value}: {msg}"
    return _null_parent(override, base_cfg) or msg


def compose_checked(overrides: Sequence[str], check_paths: bool = True, config_name: str = "config") -> DictConfig:
    """Compose a config (train: `config`, val: `val`) and validate it; raises ConfigError with one line."""
    from hydra import compose, initialize_config_dir

    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="check"):
        try:
            cfg = compose(config_name, overrides=list(overrides))
        except Exception as exc:  # noqa: BLE001 - every composition error becomes one line
            raise ConfigError(_explain_failure(compose, overrides, exc, config_name)) from exc
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"{', '.join(missing)}: required but not set (e.g. {missing[0]}=...)")
    checks = {"config": validate, "val": validate_val, "predict": validate_predict, "export": validate_export}
    checks[config_name](cfg, check_paths=check_paths)
    return cfg


def _explain_failure(compose: Callable, overrides: Sequence[str], exc: BaseException, config_name: str) -> str:
    """Find the override that breaks composition, so the message can name it."""
    try:
        base = compose(config_name)
    except Exception:  # noqa: BLE001 - the defaults themselves are broken; explain the original error
        return explain(exc, None, None)
    before = base
    for i, ov in enumerate(overrides):  # the first override that breaks it, with those before it (a sweeper's
        try:                             # keys exist only once hydra/sweeper=NAME is given)
            before = compose(config_name, overrides=list(overrides[:i + 1]))
        except Exception as single:  # noqa: BLE001
            return explain(single, ov, before)
    return explain(exc, None, base)


def _null_parent(override: str | None, cfg: DictConfig | None) -> str:
    """For ``a.b.c=v`` where ``a.b`` is null in ``cfg`` (e.g. ``data.shapes`` with data=coco128): the line that
    says so; OmegaConf's own is "Unexpected type for root: NoneType"."""
    key = (override or "").split("=", 1)[0].lstrip("+~")
    parts = key.split(".")
    for n in range(1, len(parts)):
        parent = ".".join(parts[:n])
        if cfg is not None and OmegaConf.select(cfg, parent, default=0) is None:
            return f"{key}: {parent} is null in this config, so it has no key {'.'.join(parts[n:])}"
    return ""


def sweep_variants(overrides: Sequence[str]) -> list[list[str]]:
    """For a multirun command line: the fixed overrides with the first value of every sweep, then with each other
    value of each sweep in its place (so a swept required key, val.py's ``weights=a.pt,b.pt``, is always set)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    swept = []
    for o in parsed:
        if o.is_sweep_override():
            key, sweep = o.get_key_element(), o.value()
            if hasattr(sweep, "end"):  # interval(a,b) of a searching sweeper: both ends must compose
                as_int = "int" in (getattr(sweep, "tags", None) or ())
                values = [repr(int(x) if as_int else float(x)) for x in (sweep.start, sweep.end)]
            else:
                values = list(o.sweep_string_iterator())
            if values:
                swept.append([f"{key}={v}" for v in values])
    first = [values[0] for values in swept]
    variants = [fixed + first]
    for i, values in enumerate(swept):
        variants += [fixed + first[:i] + [v] + first[i + 1:] for v in values[1:]]
    return variants
