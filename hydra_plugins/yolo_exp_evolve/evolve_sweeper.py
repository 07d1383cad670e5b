"""`python train.py -m hydra/sweeper=evolve hydra.sweeper.generations=N hydra.sweeper.population=P`

Each generation proposes P hyp sets from evolve.csv as it stood when the generation began and launches them
as one batch through the configured launcher (so a parallel launcher runs them together), each as overrides
`<hyp_node>.KEY=VALUE`. The job's return value is its fitness; a job that raised or returned NaN is failed
and leaves no row. After each generation: evolve.csv (appended), hyp/hyp_evolve.yaml (YOLOv5's file; a hyp
option), experiment/hyp_evolve.yaml and evolve.png in the sweep folder; `python train.py
'hydra.searchpath=[file://<sweep folder>]' experiment=hyp_evolve` trains with the best (an experiment wins over a
data recipe's hyp values, which a hyp option would lose to). Resume by running the same command with `hydra.sweep.dir=<that folder>`: generations already in
evolve.csv are skipped and job numbers continue; a generation that was cut off runs again in its own folders with
the same proposals, so its finished jobs are kept and its killed ones resume (the rules of any rerun sweep).
Every job of a generation failing stops the sweep.

Hydra imports this module on every start of any app (plugin scan), so it imports nothing heavy at module
level, and it has no `from __future__ import annotations`: the scan executes it outside sys.modules, where
dataclasses cannot resolve string annotations.
"""

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from yolo_exp.config.validate import SweepStop

log = logging.getLogger(__name__)


@dataclass
class EvolveSweeperConf:
    _target_: str = "hydra_plugins.yolo_exp_evolve.evolve_sweeper.EvolveSweeper"
    generations: int = 10          # total generations in evolve.csv (a resumed sweep continues up to this)
    population: int = 1            # jobs per generation (run as one launcher batch)
    seed: int = 0                  # numpy generators are seeded with (seed, generation, index)
    keys: Optional[List[str]] = None  # hyp keys to evolve; null = every numeric key with a nonzero gain
    meta: Dict[str, List[float]] = field(default_factory=dict)  # KEY: [gain, lower, upper], over YOLOv5's
    parents: int = 5
    selection: str = "single"      # single | weighted
    mutation_prob: float = 0.8
    sigma: float = 0.2
    hyp_node: str = "hyp"          # where the hyps live in the task config (and the group name)


ConfigStore.instance().store(group="hydra/sweeper", name="evolve", node=EvolveSweeperConf, provider="yolo_exp")


def _first_job_index(sweep_dir: Path, gen: int, batch: Sequence[Sequence[str]]) -> int:
    """Where generation ``gen``'s jobs go: the folders it had when it was cut off, if its jobs are the same (same
    seeded proposals: its finished jobs are kept and its killed ones resume, as in any rerun sweep), else after
    every existing folder. The marker (first job, digest of the jobs) is written before the generation launches."""
    import hashlib

    from yolo_exp.files.atomic import atomic_write_text

    digest = hashlib.sha256(repr([list(job) for job in batch]).encode()).hexdigest()
    marker = sweep_dir / f".generation{gen}.first_job"
    try:
        first, seen = marker.read_text().split()
        if seen == digest:
            return int(first)
    except (OSError, ValueError):
        pass
    nums = [int(p.name) for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    first = max(nums, default=-1) + 1
    atomic_write_text(marker, f"{first} {digest}")
    return int(first)


def _job_fitness(ret: JobReturn) -> float:
    """The task's return value as fitness; NaN when the job failed or returned no number."""
    if ret.status != JobStatus.COMPLETED:
        return math.nan
    try:
        return float(ret.return_value)
    except (TypeError, ValueError):
        return math.nan


class EvolveSweeper(Sweeper):
    def __init__(self, generations: int, population: int, seed: int, keys: Optional[List[str]],
                 meta: Dict[str, List[float]], parents: int, selection: str, mutation_prob: float, sigma: float,
                 hyp_node: str) -> None:
        from yolo_exp.sweep.evolve import META, Mutation

        if generations < 1 or population < 1:
            raise SweepStop("evolve: generations and population must be >= 1")
        self.generations, self.population, self.seed = generations, population, seed
        self.keys = list(keys) if keys is not None else None
        self.meta = {**META, **{k: tuple(float(x) for x in v) for k, v in (meta or {}).items()}}
        self.mutation = Mutation(mp=mutation_prob, sigma=sigma, parents=parents, selection=selection)
        self.hyp_node = hyp_node
        self.config: Optional[DictConfig] = None
        self.launcher: Optional[Launcher] = None
        self.hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def _fixed_overrides(self, arguments: List[str], evolved: Sequence[str]) -> List[str]:
        assert self.hydra_context is not None
        parsed = OverridesParser.create(config_loader=self.hydra_context.config_loader).parse_overrides(arguments)
        sweeps = [o.input_line for o in parsed if o.is_sweep_override()]
        if sweeps:
            raise SweepStop(f"evolve: sweep overrides are not supported here: {' '.join(sweeps)}")
        own = {f"{self.hyp_node}.{k}" for k in evolved}
        return [o.input_line for o in parsed if o.get_key_element().lstrip("+") not in own]

    def sweep(self, arguments: List[str]) -> Any:
        from yolo_exp.sweep.evolve import EvolveTable, evolvable_keys, propose, use_command, write_hyp_evolve

        assert self.config is not None and self.launcher is not None
        base_node = OmegaConf.select(self.config, self.hyp_node)
        if base_node is None:
            raise SweepStop(f"evolve: no '{self.hyp_node}' node in the config (hydra.sweeper.hyp_node)")
        base = OmegaConf.to_container(base_node, resolve=True)
        try:
            keys = evolvable_keys(base, self.meta, self.keys)
        except ValueError as exc:
            raise SweepStop(f"evolve: {exc}") from exc
        fixed = self._fixed_overrides(arguments, keys)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        csv_path = sweep_dir / "evolve.csv"
        table = EvolveTable.load(csv_path, keys)
        choice = OmegaConf.select(self.config, f"hydra.runtime.choices.{self.hyp_node}")
        hyp_file = sweep_dir / self.hyp_node / "hyp_evolve.yaml"
        returns: List[Sequence[JobReturn]] = []
        for gen in range(table.next_generation, self.generations):
            proposals = [propose(base, table, self.meta, gen, i, self.seed, self.mutation)
                         for i in range(self.population)]
            batch = [fixed + [f"{self.hyp_node}.{k}={v!r}" for k, v in p.items()] for p in proposals]
            self.validate_batch_is_legal(batch)
            first = _first_job_index(sweep_dir, gen, batch)
            results = self.launcher.launch(batch, initial_job_idx=first)
            returns.append(results)
            ok = self._record(table, csv_path, gen, first, proposals, results)
            write_hyp_evolve(hyp_file, base, table, choice)
            self._plot(table, sweep_dir / "evolve.png")
            log.info("evolve: generation %d/%d done, %d/%d jobs ok, best fitness %s", gen + 1, self.generations,
                     ok, len(batch), f"{table.best()['fitness']:.5g}" if table.best() else "-")
            if ok == 0:
                raise SweepStop(f"evolve: every job of generation {gen} failed; see traceback.txt in "
                                f"{sweep_dir}/{first}..{first + len(batch) - 1}", status=1)
        log.info("evolve: best hyps in %s; train with them: python train.py %s", hyp_file, use_command(hyp_file))
        return returns

    @staticmethod
    def _record(table: Any, csv_path: Path, gen: int, first: int, proposals: List[Dict[str, float]],
                results: Sequence[JobReturn]) -> int:
        from yolo_exp.report.results import METRIC_COLUMNS, row_metrics
        from yolo_exp.report.run_reader import read_results_csv

        ok = 0
        for i, (hyp, ret) in enumerate(zip(proposals, results)):
            fitness = _job_fitness(ret)
            if not math.isfinite(fitness):
                log.warning("evolve: job %d failed; not recorded in evolve.csv", first + i)
                continue
            run_dir = Path(str(ret.hydra_cfg.hydra.runtime.output_dir)) if ret.hydra_cfg else None
            results_csv = read_results_csv(run_dir / "results.csv") if run_dir else {}
            final = {c: v[-1] for c, v in results_csv.items() if v}  # YOLOv5 records the last epoch
            final.update({METRIC_COLUMNS[m]: v for m, v in row_metrics(final).items() if m in METRIC_COLUMNS})
            table.append(csv_path, {**final, "generation": gen, "job": first + i, "fitness": fitness, **hyp})
            ok += 1
        return ok

    @staticmethod
    def _plot(table: Any, path: Path) -> None:
        from yolo_exp.sweep.plots import plot_evolve

        if table.rows:
            plot_evolve({k: [r[k] for r in table.rows] for k in table.keys}, [r["fitness"] for r in table.rows],
                        path)
