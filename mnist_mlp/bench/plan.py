"""What a run will do: its options, and the cases they plan (backends x devices x variants).

Planning decides everything before a process starts: each case's id, its backend and device,
its variant of the workload, and, where it cannot run here, why (the Backend class says). The
runner, resume, doctor and the progress display all read the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from mnist_mlp import backends
from mnist_mlp.native import cases as native_cases
from mnist_mlp.bench.profiles import Profile
from mnist_mlp.config import DEVICES, TrainConfig

#: compile options that differ from the run's base ``workload.train``: ((name, value), ...)
Variant = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class CasePlan:
    case_id: str
    backend: str
    device: str
    skip_reason: str | None = None
    variant: Variant = ()
    #: a resume keeps this case's finished record as it is (it does not run again)
    kept: bool = False

    @property
    def trains(self) -> bool:
        """Whether the case trains a model: its Backend says (the NumPy reference serves another
        case's weights), unless it is a native implementation, which always trains."""
        return backends.get(self.backend).trains or native_cases.is_native(self.variant)

    @property
    def implementation(self) -> str:
        """keras, or the native implementation its variant names."""
        return str(dict(self.variant).get(native_cases.KEY, "keras"))

    @property
    def serves_weights(self) -> bool:
        """Whether its trained weights go to the NumPy inference case (Keras cases do; native ones not)."""
        return backends.get(self.backend).trains and not native_cases.is_native(self.variant)


@dataclass
class BenchOptions:
    """Everything ``mnist-mlp bench`` was asked for, after validation."""

    profile: Profile
    profile_label: str  # quick | full | custom
    train: TrainConfig
    backends: tuple[str, ...] = backends.ALL
    devices: tuple[str, ...] = DEVICES
    out: Path = Path("reports")
    data_dir: str | None = None
    #: compile-option variants, each a case per backend x device; () is the base workload itself
    variants: tuple[Variant, ...] = ((),)
    #: the base cases' matmul precision (a variant may override it: ("precision", "tf32"))
    precision: str = "fp32"
    #: ``--implementations``: Keras' trainer and/or the frameworks' own code (``mnist_mlp.native``)
    implementations: tuple[str, ...] = ("keras",)
    #: the first training seed (``--first-seed``): seeds run ``first_seed .. first_seed + N - 1``, so
    #: a run can hold seeds a calibration never saw (out-of-sample checks of the gate)
    first_seed: int = 0
    #: ``--repeats``: each case runs this many times, each in a fresh process, interleaved
    #: (round-robin over the cases), so every figure has a sample across processes of its own
    repeats: int = 1
    #: ``--recipe``: the open division's recipe book (None: the package's ``race/recipes.json``)
    recipe_file: str | None = None

    @property
    def seeds(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.profile.seeds))


def variant_suffix(variant: Variant) -> str:
    """``-jit_false-spe32-tf32`` style suffix naming a variant in its case id ("" for the base)."""
    names = {"jit_compile": "jit_{}", "steps_per_execution": "spe{}", "precision": "{}",
             "data_parallel": "dp{}", "scaling": "{}", "lr_rule": "lr_{}", "implementation": "{}"}
    return "".join("-" + names[name].format(str(value).lower()) for name, value in variant)


def plan_cases(
    names: Sequence[str], devices: Sequence[str], *,
    installed: Callable[[str], bool] | None = None, gpu_present: Callable[[], bool] | None = None,
    variants: Sequence[Variant] = ((),), precision: str = "fp32", implementations: Sequence[str] = ("keras",),
    training_only: bool = False,
) -> list[CasePlan]:
    """Backends x devices x variants in the order given, then NumPy on the CPU.

    ``implementations`` beyond ``keras`` add, per backend x device, one case per native variant
    after the Keras ones (``torch-cpu-native``, ``torch-cpu-native-fast``; ``native.cases``), and
    ``numpy-cpu-native`` (NumPy training) after ``numpy-cpu``; without ``keras`` only those run.

    Each backend's class says why a case cannot run here (``Backend.planning_skip_reason``);
    ``installed`` and ``gpu_present`` default to its own checks, looked up at call time so tests
    can pretend a backend or a GPU is missing. ``training_only`` (the open division, a race of
    training) leaves out the cases that train nothing (``numpy-cpu``, the NumPy reference's serving).
    """
    installed = installed or backends.is_installed
    plans = []
    has_gpu = (gpu_present or backends.gpu_hardware_present)()
    for name in (name for name in names if backends.get(name).is_keras):
        backend = backends.get(name)
        for device in devices:
            for variant in native_cases.with_native(variants, implementations, name):
                chosen = dict(variant).get("precision", precision)
                reason = backend.planning_skip_reason(device, chosen, installed=installed(name), gpu_present=has_gpu)
                plans.append(CasePlan(f"{name}-{device}{variant_suffix(variant)}", name, device, reason, variant))
    for name in (name for name in names if not backends.get(name).is_keras):
        for device in (device for device in devices if device in backends.get(name).devices):
            plans.append(CasePlan(f"{name}-{device}", name, device))
            plans += [CasePlan(f"{name}-{device}{variant_suffix(v)}", name, device, None, v)
                      for v in native_cases.with_native((), implementations, name)]
    return [plan for plan in plans if plan.trains] if training_only else plans
