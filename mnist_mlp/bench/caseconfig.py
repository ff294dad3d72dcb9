"""What the parent tells one child: a JSON file named by ``$MNIST_MLP_BENCH_CASE``.

The child is a plain ``pytest`` run, so its settings cannot travel as function arguments; a
file (rather than a dozen environment variables) keeps them typed, complete and inspectable
after a failure. Without the variable (someone runs ``pytest benchmarks/`` by hand) the suite
uses ``CaseConfig.standalone()``: the quick workload on ``$KERAS_BACKEND`` and the CPU.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mnist_mlp.config import TrainConfig

ENV_VAR = "MNIST_MLP_BENCH_CASE"


@dataclass(frozen=True)
class CaseConfig:
    """One backend x device case: the workload, and where the child writes its side files."""

    case_id: str
    backend: str  # tensorflow | jax | torch | numpy
    device: str  # cpu | gpu
    train: dict[str, Any] = field(default_factory=lambda: TrainConfig(epochs=1).to_dict())
    #: matmul precision: fp32 (TF32 off on GPUs, so agreement with NumPy holds) or tf32
    precision: str = "fp32"
    seeds: tuple[int, ...] = (0,)
    batch_sizes: tuple[int, ...] = (1, 256, 10000)
    target_accuracy: float = 0.975
    latency_rounds: int = 30
    #: more latency rounds, up to this many, within this budget (``metrics.latency_round_count``)
    latency_max_rounds: int | None = None
    latency_budget_s: float = 0.0
    #: the inference sweep and latency in this many passes, each a share of the budget (``Profile.passes``)
    passes: int = 1
    #: whether the training test runs the K-step check against the NumPy training reference
    training_check: bool = True
    #: the peak probes' budget: {"repeats": timed matmuls at most, "budget_s": seconds at most}
    peak_probe: dict[str, Any] = field(default_factory=lambda: {"repeats": 5, "budget_s": 1.5})
    data_dir: str | None = None
    #: NumPy case: trained weights (.npz of W1,b1,...) saved by an earlier case, if any
    weights_in: str | None = None
    weights_from: str | None = None
    #: backend cases: where to save the seed-0 weights for the NumPy case
    weights_out: str | None = None
    #: the child's progress (phase, seed, epoch, epoch seconds; ``progress_file``), polled by the parent
    progress_path: str | None = None
    #: the child writes {"status": "skipped", "reason": ...} here when its device/backend is absent
    outcome_path: str | None = None
    #: the training test writes its measurements here (raw/<case>.training.json) as soon as they
    #: exist, so a crash or timeout in the inference part does not lose them (see ``collect``)
    training_path: str | None = None
    #: keras (the seed's trainer) | native | native-fast (the framework's own code, ``mnist_mlp.native``)
    implementation: str = "keras"
    #: data-parallel case: {"devices": N, "scaling": strong|weak, "lr_rule": none|linear|sqrt} (see mnist_mlp.parallel.plan)
    data_parallel: dict[str, Any] | None = None
    #: open-division case: {"recipe": Recipe.to_dict(), "source": file, "chosen_by": search,
    #: "seed_recipe_seeds": N} (``mnist_mlp.race``); None in the other profiles
    race: dict[str, Any] | None = None
    #: where the case writes what it serves from (its exported artifact; a Keras case's .keras for
    #: the cold start): the run's work folder, not the results
    artifact_dir: str | None = None
    #: whether the case measures its cold start (a fresh process to the first correct prediction)
    cold_start: bool = False

    @property
    def trains(self) -> bool:
        """Whether this case trains: its Backend says (the NumPy reference serves another case's
        weights), unless it is a native implementation, which always trains."""
        from mnist_mlp import backends

        return backends.get(self.backend).trains or self.implementation != "keras"

    @property
    def keras_backend(self) -> bool:
        """Whether its backend is one of Keras' (the NumPy reference is not)."""
        from mnist_mlp import backends

        return backends.get(self.backend).is_keras

    @property
    def inference_paths(self) -> tuple[str, ...]:
        """The inference paths this case times, its Backend's."""
        from mnist_mlp import backends

        return backends.get(self.backend).inference_paths

    def train_config(self, seed: int = 0) -> TrainConfig:
        return TrainConfig(**{**self.train, "seed": seed})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seeds"] = list(self.seeds)
        data["batch_sizes"] = list(self.batch_sizes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CaseConfig":
        data = dict(data)
        data["seeds"] = tuple(data.get("seeds", (0,)))
        data["batch_sizes"] = tuple(data.get("batch_sizes", (1, 256, 10000)))
        return cls(**data)

    def write(self, path: str | Path) -> Path:
        from mnist_mlp import atomic

        return atomic.write_json(path, self.to_dict())

    @classmethod
    def standalone(cls) -> "CaseConfig":
        backend = os.environ.get("KERAS_BACKEND") or "tensorflow"
        return cls(case_id=f"{backend}-cpu", backend=backend, device="cpu")


def load_from_env() -> CaseConfig:
    """The case named by ``$MNIST_MLP_BENCH_CASE``, else the standalone default."""
    path = os.environ.get(ENV_VAR)
    if not path:
        return CaseConfig.standalone()
    return CaseConfig.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
