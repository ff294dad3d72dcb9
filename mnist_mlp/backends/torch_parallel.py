"""PyTorch data parallel: the Keras model inside ``DistributedDataParallel``, one process per device.

``keras.distribution`` has no torch implementation in Keras 3.15, so each rank runs a small
custom loop (Keras' own loss and Adam, as Keras' torch ``train_step`` does) and DDP all-reduces
the gradients during ``backward``. Ranks are started with ``torch.multiprocessing.spawn``; they
talk over gloo on a CPU and NCCL on GPUs. On a CPU each rank keeps one intra-op thread (two per
rank made a step 40x slower on two cores). Process start-up, process-group set-up and the model
build are timed apart (``startup_seconds``) from the training loop.

Every rank walks the same (seeded) sample order and takes its contiguous share of each global
batch (``parallel.shard_rows``); rank 0 writes the trained weights back.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mnist_mlp.parallel.plan import FitOutcome, shard_rows


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TorchDataParallel:
    """One spawned process per device, DDP over the Keras model, a custom loop with Keras' Adam."""

    engine = "torch.nn.parallel.DistributedDataParallel (gloo on CPU, NCCL on GPU)"

    def __init__(self, devices: int, device: str, sync: Callable[..., None] = lambda *outputs: None) -> None:
        """``sync``: the backend's synchronize (picklable: each spawned rank's clock waits for it)."""
        self.devices, self.kind, self.sync = devices, device, sync

    def fit(self, config: Any, initial: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray, *, global_batch: int,
            epochs: int, shuffle: bool, seed: int, validation_data: Any = None) -> FitOutcome:
        import torch.multiprocessing as mp

        self.used_devices = [f"{'cuda' if self.kind == 'gpu' else 'cpu'} rank {rank}" for rank in range(self.devices)]

        with tempfile.TemporaryDirectory(prefix="mnist-mlp-ddp-") as work:
            job = Path(work)
            arrays = {"x": x, "y": y, **{f"w{i}": w for i, w in enumerate(initial)}}
            if validation_data is not None:
                arrays.update(x_val=validation_data[0], y_val=validation_data[1])
            np.savez(job / "data.npz", **arrays)
            (job / "job.json").write_text(json.dumps({
                "config": config.to_dict(), "weights": len(initial), "global_batch": global_batch,
                "epochs": epochs, "shuffle": shuffle, "seed": seed, "device": self.kind,
                "port": _free_port(), "spawned_at": time.time(),
            }), encoding="utf-8")
            mp.spawn(_rank_main, args=(self.devices, str(job), self.sync), nprocs=self.devices, join=True)
            out = json.loads((job / "out.json").read_text(encoding="utf-8"))
            weights = np.load(job / "weights.npz")
            trained = [weights[f"w{i}"] for i in range(len(initial))]
        # the training steps of every epoch only (validation outside), the span the Keras engines time
        return FitOutcome(trained, out["history"], sum(out["epoch_seconds"]), out["startup_seconds"],
                          out["epoch_seconds"], list(out["epoch_seconds"]))


def _rank_main(rank: int, world: int, job_dir: str, sync: Callable[..., None]) -> None:
    """One rank: join the group, build the model from the shared start, run the loop (rank 0 reports)."""
    job_path = Path(job_dir)
    job = json.loads((job_path / "job.json").read_text(encoding="utf-8"))
    gpu = job["device"] == "gpu"
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(job["port"]))
    import torch
    import torch.distributed as dist

    if gpu:
        torch.cuda.set_device(rank)  # before keras: its "cuda" is then this rank's GPU
    else:
        torch.set_num_threads(1)
    dist.init_process_group("nccl" if gpu else "gloo", rank=rank, world_size=world)
    try:
        _train_rank(rank, world, job, job_path, torch, dist, sync)
    finally:
        dist.destroy_process_group()


def _train_rank(rank: int, world: int, job: dict, job_path: Path, torch: Any, dist: Any, sync: Callable[..., None]) -> None:
    import keras
    from torch.nn.parallel import DistributedDataParallel

    from mnist_mlp.config import TrainConfig
    from mnist_mlp.model import build_model

    data = np.load(job_path / "data.npz")
    config = TrainConfig(**job["config"])
    model = build_model(config)
    model.set_weights([data[f"w{i}"] for i in range(job["weights"])])
    where = torch.device(f"cuda:{rank}") if job["device"] == "gpu" else torch.device("cpu")
    ddp = DistributedDataParallel(model, device_ids=[rank] if job["device"] == "gpu" else None)
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    x, y = data["x"], data["y"]
    batch, steps = job["global_batch"], len(data["x"]) // job["global_batch"]
    rng = np.random.default_rng(job["seed"])  # the same order on every rank
    dist.barrier()
    startup = time.time() - job["spawned_at"]
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    epoch_seconds = []
    started = time.perf_counter()
    for _ in range(job["epochs"]):
        epoch_start = time.perf_counter()
        order = rng.permutation(len(x)) if job["shuffle"] else np.arange(len(x))
        totals = torch.zeros(3, dtype=torch.float64, device=where)  # loss sum, correct, samples
        for step in range(steps):
            rows = order[shard_rows(step * batch, batch, rank, world)]
            inputs = torch.as_tensor(x[rows], device=where)
            labels = torch.as_tensor(y[rows].astype(np.int64), device=where)
            outputs = ddp(inputs)
            loss = loss_fn(labels, outputs)
            model.zero_grad()
            loss.backward()  # DDP all-reduces (averages) the gradients here
            variables = model.trainable_variables
            with torch.no_grad():
                optimizer.apply([v.value.grad for v in variables], variables)
                totals += torch.stack([loss.detach().double() * len(rows),
                                       (outputs.argmax(-1) == labels).sum().double(),
                                       torch.tensor(float(len(rows)), dtype=torch.float64, device=where)])
        dist.all_reduce(totals)  # the epoch's metrics over all ranks (not the gradients)
        sync(totals)  # the all-reduce and the last step finished before the clock is read
        epoch_seconds.append(time.perf_counter() - epoch_start)
        history["loss"].append(float(totals[0] / totals[2]))
        history["accuracy"].append(float(totals[1] / totals[2]))
        if rank == 0 and "x_val" in data:
            val_loss, val_acc = model.evaluate(data["x_val"], data["y_val"], batch_size=1024, verbose=0)[:2]
            history["val_loss"].append(float(val_loss))
            history["val_accuracy"].append(float(val_acc))
        dist.barrier()
    seconds = time.perf_counter() - started
    if rank == 0:
        np.savez(job_path / "weights.npz", **{f"w{i}": np.asarray(w) for i, w in enumerate(model.get_weights())})
        (job_path / "out.json").write_text(json.dumps({
            "history": history, "train_seconds": seconds, "startup_seconds": startup, "epoch_seconds": epoch_seconds,
        }), encoding="utf-8")
