"""The one place that knows about ranks: who writes, and how ranks agree.

Under torchrun every process runs the whole script; these helpers are no-ops for a single process, so the trainer
calls them unconditionally. torch is imported lazily: the command-line check (cli.py) reads ranks without it.
"""
from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# How long a rank waits in a collective, e.g. while rank 0 validates or builds the label cache, before failing.
TIMEOUT = timedelta(hours=1)


def rank() -> int:
    return int(os.environ.get("RANK", -1))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", -1))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", 1))


def is_main() -> bool:
    """Rank 0, or the only process: the process that writes logs, plots and checkpoints."""
    return rank() in (-1, 0)


def launched() -> bool:
    """Started by torchrun (even as one process, e.g. for elastic restarts) or as one of several processes."""
    return "TORCHELASTIC_RUN_ID" in os.environ or world_size() > 1


def run_id() -> str | None:
    """torchrun's job id: the same on every rank and node, and across elastic restarts (None when not given)."""
    rid = os.environ.get("TORCHELASTIC_RUN_ID", "none")
    return None if rid in ("", "none") else rid


def gpu_indices(device: Any) -> list[int] | None:
    """The GPUs a run trains on, one process each: ``device.gpus`` as a list, or N for the first N."""
    gpus = device.get("gpus")
    if gpus is None:
        return None
    return list(range(int(gpus))) if isinstance(gpus, int) else [int(i) for i in gpus]


def process_count(device: Any) -> int:
    gpus = gpu_indices(device)
    return len(gpus) if gpus is not None else int(device.get("processes") or 1)


def _initialized() -> bool:
    import torch.distributed as td

    return td.is_available() and td.is_initialized()


def setup(device: torch.device) -> torch.device:
    """Join the process group (nccl on CUDA, gloo on CPU) and return this rank's device."""
    if world_size() <= 1:
        return device
    import torch
    import torch.distributed as td

    if device.type == "cuda":
        n = torch.cuda.device_count()
        if local_rank() >= n:
            raise RuntimeError(f"LOCAL_RANK={local_rank()} but only {n} CUDA devices are visible; "
                               "lower torchrun's --nproc_per_node")
        device = torch.device("cuda", local_rank())
        torch.cuda.set_device(device)
    if not td.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        td.init_process_group(backend, store=_attempt_store(), rank=rank(), world_size=world_size(), timeout=TIMEOUT)
    return device


def _attempt_store() -> Any:
    """torchrun's rendezvous store, with this attempt's keys apart from those of earlier (crashed) attempts.

    torchrun (2.5+) keeps one store across elastic restarts, so a restarted rank can read the address a dead peer
    published and fail to connect (pytorch#135712). One agent gives all its workers the same restart count, so on
    one node the count scopes the keys; across nodes the counts can differ: there run torchrun with
    TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 (a fresh store per attempt; see README).
    """
    import torch.distributed as td

    store, _, _ = next(td.rendezvous("env://", rank=rank(), world_size=world_size(), timeout=TIMEOUT))
    if os.environ.get("LOCAL_WORLD_SIZE") != str(world_size()):
        return store
    return td.PrefixStore(f"yolo_exp/attempt{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


def cleanup() -> None:
    if _initialized():
        import torch.distributed as td

        td.destroy_process_group()


def barrier() -> None:
    if _initialized():
        import torch.distributed as td

        td.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (dataset generation, label cache); the others then reuse what it wrote."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def from_main(obj: Any) -> Any:
    """Rank 0's value of a small picklable object on every rank (early-stop decision, per-class mAPs)."""
    if not _initialized():
        return obj
    import torch.distributed as td

    box = [obj]
    td.broadcast_object_list(box, src=0)
    return box[0]


def global_max(value: torch.Tensor) -> float:
    """The largest value over all ranks (a host sync: every rank decides the same, else DDP's collectives hang)."""
    t = value.detach().float().reshape(1).clone()
    if _initialized():
        import torch.distributed as td

        td.all_reduce(t, op=td.ReduceOp.MAX)
    return float(t.item())


def sync_module(model: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (AutoAnchor changes them on rank 0 only)."""
    if not _initialized():
        return
    import torch
    import torch.distributed as td

    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            td.broadcast(t, src=0)


def wrap(model: torch.nn.Module, device: torch.device, sync_bn: bool, log: logging.Logger) -> torch.nn.Module:
    """DistributedDataParallel around the model (after AutoAnchor and EMA set-up), SyncBatchNorm first if asked."""
    if world_size() <= 1:
        return model
    import torch
    from torch.nn.parallel import DistributedDataParallel

    if sync_bn and device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        log.info("sync_bn: BatchNorm statistics synchronised across %d ranks", world_size())
    elif sync_bn:
        log.warning("sync_bn: SyncBatchNorm needs CUDA; BatchNorm stays per process on %s", device.type)
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, output_device=device.index if ids else None)


def weights_digest(model: torch.nn.Module) -> str:
    """A hash of the parameters' exact bytes: equal digests mean bitwise-equal weights."""
    import torch

    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def check_in_sync(model: torch.nn.Module, log: logging.Logger) -> None:
    """After training every rank must hold the same weights; rank 0 logs the shared digest, any rank raises if not.

    Parameters only: BatchNorm buffers legitimately differ by each rank's last forward (DDP re-broadcasts rank 0's).
    """
    if not _initialized():
        return
    import torch.distributed as td

    digests: list[Any] = [None] * world_size()
    td.all_gather_object(digests, weights_digest(model))
    if len(set(digests)) != 1:
        raise RuntimeError(f"DDP: ranks ended training with different weights (digests by rank: {digests})")
    if is_main():
        log.info("DDP: weights identical on all %d ranks (sha256 %s)", world_size(), digests[0])
