"""A search space in Hydra's sweep syntax, as Optuna distributions, and the samplers and pruners a study uses.

    hyp.lr0=tag(log,interval(1e-4,1e-1))   float, log scale        imgsz=range(320,641,64)   int, step 64
    hyp.mosaic=interval(0,1)               float                   model=yolov5n,yolov5s     categorical
    batch_size=tag(int,interval(8,64))     int                     optimizer=choice(sgd,adamw)

`range` excludes its stop, as in Python and Hydra; `interval` includes both ends (Optuna's meaning).
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from yolo_exp.config.quoting import hydra_quote

SAMPLERS = ("tpe", "random", "cmaes", "grid")
PRUNERS = ("none", "median", "halving", "hyperband")


def parse_space(overrides: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Sweep overrides -> {key: distribution}, and the other overrides as they were (fixed for every trial)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space: dict[str, Any] = {}
    fixed: list[str] = []
    for ov in OverridesParser.create().parse_overrides(list(overrides)):
        if not ov.is_sweep_override():
            fixed.append(ov.input_line)
            continue
        key, sweep = ov.get_key_element().lstrip("+"), ov.value()
        tags = set(getattr(sweep, "tags", ()) or ())
        unknown = tags - {"log", "int"}
        if unknown:
            raise ValueError(f"{key}: unknown tag {', '.join(sorted(unknown))} (allowed: log, int)")
        if isinstance(sweep, ChoiceSweep):
            space[key] = CategoricalDistribution(tuple(_plain(v) for v in sweep.list))
        elif isinstance(sweep, RangeSweep):
            values = [_plain(v) for v in ov.sweep_iterator()]
            if not values:
                raise ValueError(f"{key}: {ov.input_line.split('=', 1)[1]} is empty")
            if all(isinstance(v, int) for v in values):
                step = int(sweep.step)
                space[key] = IntDistribution(min(values), max(values), step=step, log="log" in tags and step == 1)
            else:
                space[key] = FloatDistribution(min(values), max(values), step=abs(float(sweep.step)))
        elif isinstance(sweep, IntervalSweep):
            low, high = float(sweep.start), float(sweep.end)
            if "int" in tags:
                space[key] = IntDistribution(int(low), int(high), log="log" in tags)
            else:
                space[key] = FloatDistribution(low, high, log="log" in tags)
        else:  # pragma: no cover - Hydra has no other sweep kinds
            raise ValueError(f"{key}: {type(sweep).__name__} sweeps are not supported")
    return space, fixed


def _plain(value: Any) -> Any:
    """Optuna stores None/bool/int/float/str; Hydra may hand lists or dicts inside a choice: their text."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def params_overrides(params: Mapping[str, Any]) -> list[str]:
    """Config keys from the `params:` mapping of the sweeper config as `key=<sweep>` strings."""
    return [f"{k}={v}" for k, v in params.items()]


def override_value(value: Any) -> str:
    """A trial's value as Hydra override text (strings quoted where Hydra's lexer needs it)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][\w./@-]*", text) and text.lower() not in ("null", "true", "false", "inf", "nan"):
        return text  # a plain word (a group option, say) reads as itself
    return hydra_quote(text)


def suggest(trial: Any, space: Mapping[str, Any]) -> dict[str, Any]:
    """Ask the trial for a value of every key (an enqueued trial gets its fixed values back)."""
    return {key: _suggest(trial, key, dist) for key, dist in space.items()}


def _suggest(trial: Any, key: str, dist: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(key, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(key, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_float(key, dist.low, dist.high, step=dist.step, log=dist.log)


def grid_of(space: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Every value of each key, for the grid sampler: choices and stepped ranges only."""
    from optuna.distributions import CategoricalDistribution

    grid: dict[str, list[Any]] = {}
    for key, dist in space.items():
        if isinstance(dist, CategoricalDistribution):
            grid[key] = list(dist.choices)
        elif getattr(dist, "step", None) and not getattr(dist, "log", False):
            n = int(round((dist.high - dist.low) / dist.step)) + 1
            grid[key] = [type(dist.low)(dist.low + i * dist.step) for i in range(n)]
        else:
            raise ValueError(f"sampler=grid: {key} is a continuous interval; give choice(...) or range(...)")
    return grid


def build_sampler(name: str, seed: int | None, space: Mapping[str, Any]) -> Any:
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)  # needs the `cmaes` package (optuna extra)
    if name == "grid":
        return optuna.samplers.GridSampler(grid_of(space), seed=seed)
    raise ValueError(f"hydra.sweeper.sampler={name!r}: expected one of {', '.join(SAMPLERS)}")


def trial_sampler(name: str, seed: int | None, space: Mapping[str, Any], position: int) -> Any:
    """The sampler for the next trial, seeded from (seed, trials finished or running so far).

    A sampler seeded once per process replays its sequence when a killed study is rerun (trial 4 got trial 0's
    values). Seeded by the trial's position, the study asks what an uninterrupted one would have asked at that
    point (the samplers keep no state of their own between trials that the study's history does not hold). The
    grid keeps the study's seed: its seed fixes the order of the grid, and it never repeats a point anyway."""
    import numpy as np

    if name == "grid" or seed is None:
        return build_sampler(name, seed, space)
    return build_sampler(name, int(np.random.SeedSequence([seed, position]).generate_state(1)[0]), space)


def build_pruner(name: str, args: Mapping[str, Any] | None = None) -> Any:
    """The study's pruner; the jobs build the same one from the study's record (pruners are not stored)."""
    import optuna

    kinds = {"none": optuna.pruners.NopPruner, "median": optuna.pruners.MedianPruner,
             "halving": optuna.pruners.SuccessiveHalvingPruner, "hyperband": optuna.pruners.HyperbandPruner}
    if name not in kinds:
        raise ValueError(f"hydra.sweeper.pruner={name!r}: expected one of {', '.join(PRUNERS)}")
    try:
        return kinds[name](**dict(args or {}))
    except TypeError as exc:
        raise ValueError(f"hydra.sweeper.pruner_args for {name}: {exc}") from None
