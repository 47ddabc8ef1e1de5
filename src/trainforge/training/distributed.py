"""Several processes, one run: how many, which one is primary, and each one's share of the data.

Lightning runs the processes (DDP or FSDP, started by its own launcher, by torchrun or by
SLURM's srun); this module adds only what the pipeline needs around that:

- `topology`: devices and nodes, taken from the launcher when there is one, so a config
  written for a laptop runs unchanged under `torchrun --nproc-per-node 4`;
- `is_primary`: the one process that creates the run folder, evaluates and packages;
- `shard_loader`: our seeded samplers split by rank (Lightning's own replacement with a
  `DistributedSampler` is turned off: it re-shuffles with its own seed, which breaks the
  (seed, epoch) order that exact resumes rely on, and repeats validation rows);
- `gather_objects`: Python objects (entity lists) from every process, for metrics that are not
  torchmetrics states.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from trainforge.errors import ConfigError

# Variables set by torchrun, Lightning's own launcher and SLURM; a process is primary only when
# every one of them that is set says 0.
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")
TORCHRUN_VARIABLES = ("RANK", "GROUP_RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class Topology:
    """Devices per node and nodes, as handed to Lightning's Trainer.

    Attributes:
        devices: processes (devices) per node, or "auto" (Lightning decides).
        num_nodes: machines.
        launcher: "torchrun", "slurm", or None (Lightning starts the processes itself).
    """

    devices: int | str
    num_nodes: int
    launcher: str | None


def topology(train: Any) -> Topology:
    """Devices and nodes for `train` (the config section), following torchrun or srun if used.

    Under a launcher, `devices: 1` (the default) and `devices: auto` take its process count;
    any other number must match it.
    """
    env = os.environ
    launcher, per_node, nodes = None, 0, 1
    if all(name in env for name in TORCHRUN_VARIABLES):
        launcher, per_node = "torchrun", int(env["LOCAL_WORLD_SIZE"])
        nodes = max(1, int(env.get("WORLD_SIZE", per_node)) // per_node)
    elif _slurm_tasks() > 1:
        launcher = "slurm"
        nodes = int(env.get("SLURM_NNODES", "1"))
        per_node = _leading_int(env.get("SLURM_NTASKS_PER_NODE")) or _slurm_tasks() // nodes
    if launcher is None:
        return Topology(train.devices, 1, None)
    if train.devices not in (1, "auto", per_node):
        flag = "--nproc-per-node" if launcher == "torchrun" else "--ntasks-per-node"
        raise ConfigError(
            f"train.devices is {train.devices} but {launcher} started {per_node} process(es) "
            "per node",
            where="train.devices",
            fix=f"Set train.devices to 'auto' (follow the launcher) or {per_node}, or "
            f"start {train.devices} with {flag}",
        )
    return Topology(per_node, nodes, launcher)


def world_size(train: Any) -> int:
    """How many processes train together (devices × nodes)."""
    topo = topology(train)
    devices = topo.devices
    if devices == "auto":
        devices = _visible_gpus() if train.accelerator != "cpu" else 1
    return max(1, int(devices)) * topo.num_nodes


def is_primary(train: Any) -> bool:
    """Whether this process owns the run folder: always with one process, else rank 0 only.

    Decided before Lightning starts its process group, from the variables the launcher sets
    (Lightning's own launcher sets LOCAL_RANK in the processes it starts).
    """
    if world_size(train) == 1:
        return True
    return all(os.environ.get(name, "0") == "0" for name in RANK_VARIABLES)


def check_hardware(train: Any, cuda: bool) -> None:
    """Refuse settings the machine cannot run, naming the field (the config alone could not)."""
    if train.accelerator == "gpu" and not cuda:
        raise ConfigError(
            "accelerator 'gpu' but no CUDA GPU is visible",
            where="train.accelerator",
            fix="Run on a machine with a GPU (check CUDA_VISIBLE_DEVICES), or set "
            "train.accelerator to 'auto' or 'cpu'",
        )
    if cuda and train.accelerator != "cpu":
        return
    if train.precision == "16-mixed":
        raise ConfigError(
            "precision '16-mixed' needs a GPU and none is visible",
            where="train.precision",
            fix="Use 'bf16-mixed' (CPU autocast) or '32' on the CPU",
        )
    if train.strategy == "fsdp":
        raise ConfigError(
            "strategy 'fsdp' needs GPUs and none is visible",
            where="train.strategy",
            fix="Use strategy 'ddp' (gloo) or 'auto' on the CPU",
        )


def resolve_precision(train: Any, network: Any) -> str:
    """`train.precision` with "auto" decided for this network on this machine.

    "auto" is bf16-mixed when the network holds a pretrained transformer with trainable
    weights and the hardware computes bfloat16 natively: on such CPUs its matrix products run
    about 1.5× faster, with float32 master weights, so accuracy holds (docs/benchmarks.md).
    Small networks (tabular, CNNs) gain little and stay at 32, as does anything on hardware
    that would emulate bfloat16.
    """
    if train.precision != "auto":
        return str(train.precision)
    import sys

    transformers = sys.modules.get("transformers")
    if transformers is None or not any(
        isinstance(m, transformers.PreTrainedModel) and any(p.requires_grad for p in m.parameters())
        for m in network.modules()
    ):
        return "32"
    return "bf16-mixed" if native_bf16(on_gpu(train)) else "32"


def on_gpu(train: Any) -> bool:
    """Whether this run trains on a GPU (one is visible and the accelerator allows it)."""
    import torch

    return bool(train.accelerator != "cpu" and torch.cuda.is_available())


# oneDNN instruction sets below AVX512_CORE_BF16: with ONEDNN_MAX_CPU_ISA capped at one of
# them, oneDNN computes bfloat16 without the CPU's bf16 instructions (slower than float32).
_ISA_WITHOUT_BF16 = frozenset(
    {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI", "AVX10_1_512"}
)


def native_bf16(gpu: bool) -> bool:
    """Whether the device computes bfloat16 in hardware (not emulated, which is slower).

    On a CPU, a cap set by ONEDNN_MAX_CPU_ISA below AVX512_CORE_BF16 counts as no bf16.
    """
    import torch

    if gpu:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper() in _ISA_WITHOUT_BF16:
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


class ShardSampler:
    """Every `world`-th index of another sampler, starting at `rank`.

    With a shuffled training sampler and a per-device batch of b rows, the W processes' batch
    i together hold exactly the rows of batch i of one process with b×W rows: the same
    global batches, so the same training. Training shards are padded (indices repeated from
    the start) to equal length, as DDP needs the same number of steps everywhere; evaluation
    shards are not, so no row is counted twice.

    Args:
        sampler: the sampler of the whole data (its `set_epoch` is forwarded).
        rank: this process's global rank.
        world: the number of processes.
        pad: pad to a multiple of `world` (training).
    """

    def __init__(self, sampler: Any, rank: int, world: int, pad: bool) -> None:
        self.sampler, self.rank, self.world, self.pad = sampler, rank, world, pad

    def set_epoch(self, epoch: int) -> None:
        if callable(getattr(self.sampler, "set_epoch", None)):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        indices = list(self.sampler)
        if self.pad:
            indices = pad_to_multiple(indices, self.world)
        return iter(indices[self.rank :: self.world])

    def __len__(self) -> int:
        n = len(self.sampler)
        return math.ceil(n / self.world) if self.pad else len(range(self.rank, n, self.world))


def pad_to_multiple(items: list[Any], world: int) -> list[Any]:
    """`items` with its first elements repeated until its length is a multiple of `world`."""
    if not items:
        return items
    while len(items) % world:
        items = items + items[: world - len(items) % world]
    return items


def shard_loader(loader: Any, rank: int, world: int, *, train: bool) -> Any:
    """This process's part of a DataLoader (the loader itself with one process)."""
    if world == 1:
        return loader
    batches = loader.batch_sampler
    if callable(getattr(batches, "sharded", None)):
        return rebuild_loader(loader, batch_sampler=batches.sharded(rank, world))
    if loader.batch_size is None:
        raise TypeError(f"cannot shard a loader whose batch sampler is {type(batches).__name__}")
    return rebuild_loader(loader, sampler=ShardSampler(loader.sampler, rank, world, pad=train))


def with_batch_size(loader: Any, batch_size: int) -> Any:
    """The same loader (data, order, collate function) with another batch size."""
    batches = loader.batch_sampler
    if callable(getattr(batches, "resized", None)):
        return rebuild_loader(loader, batch_sampler=batches.resized(batch_size))
    return rebuild_loader(loader, batch_size=batch_size)


def rebuild_loader(
    loader: Any, *, sampler: Any = None, batch_sampler: Any = None, batch_size: int | None = None
) -> Any:
    """A new DataLoader like `loader` with its sampler, batch sampler or batch size replaced."""
    from torch.utils.data import DataLoader

    common: dict[str, Any] = {
        "collate_fn": loader.collate_fn,
        "num_workers": loader.num_workers,
        "pin_memory": loader.pin_memory,
        "generator": loader.generator,
        "worker_init_fn": loader.worker_init_fn,
        "persistent_workers": loader.persistent_workers,
    }
    if batch_sampler is not None:
        return DataLoader(loader.dataset, batch_sampler=batch_sampler, **common)
    return DataLoader(
        loader.dataset,
        batch_size=batch_size or loader.batch_size,
        sampler=sampler if sampler is not None else loader.sampler,
        drop_last=loader.drop_last,
        **common,
    )


def gather_objects(items: list[Any]) -> list[Any]:
    """`items` of every process concatenated in rank order (just `items` with one process)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return items
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, items)
    return [item for part in parts for item in part]


def _slurm_tasks() -> int:
    """Tasks of an srun step (Lightning's rule: a job named bash/interactive is not one)."""
    if os.environ.get("SLURM_JOB_NAME") in ("bash", "interactive"):
        return 0
    return _leading_int(os.environ.get("SLURM_NTASKS")) or 0


def _leading_int(value: str | None) -> int | None:
    """4 from "4" or "4(x2)" (SLURM's per-node counts), None when absent."""
    match = re.match(r"\d+", value or "")
    return int(match.group()) if match else None


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 1
