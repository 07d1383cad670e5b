"""Keep one failing job from aborting a sweep, without hiding the failure.

Hydra 1.3's BasicSweeper reads every job's return value after its batch, which re-raises the first job
exception: the rest of the batches and `on_multirun_end` (our sweep summary) never run. Wrapping the task
function with `record_failures` makes a failed job leave `status: failed` + traceback.txt in its folder and
return `JOB_FAILED` (NaN) in a multirun, so the sweep goes on; `SweepSummaryCallback` then exits non-zero at
the end. In a single run the exception is re-raised as usual.
"""
from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import Any, Callable, TypeVar

from yolo_exp.report.summary import write_failure

JOB_FAILED = math.nan
log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def job_failed(value: Any) -> bool:
    """True for the sentinel (NaN) a guarded job returns after failing."""
    return isinstance(value, float) and math.isnan(value)


def record_failures(task: F) -> F:
    """Decorator for the @hydra.main task function (put it below @hydra.main)."""

    @functools.wraps(task)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        try:
            return task(*args, **kwargs)
        except Exception as exc:
            hc = HydraConfig.get()
            run_dir = Path(hc.runtime.output_dir)
            write_failure(run_dir, exc)
            if hc.mode != RunMode.MULTIRUN:
                raise
            log.error("job %s failed: %s: %s (traceback in %s)", hc.job.num, type(exc).__name__, exc,
                      run_dir / "traceback.txt")
            return JOB_FAILED

    return wrapper  # type: ignore[return-value]
