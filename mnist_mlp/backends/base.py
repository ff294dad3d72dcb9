"""What every framework class answers, and the parts that are the same for all of them.

One ``Backend`` subclass per framework (``tensorflow_backend``, ``jax_backend``,
``torch_backend``, ``numpy_backend``) holds everything that differs between frameworks: the
environment to set before import, how to see its devices and why one is absent, the direct
compiled inference call, device synchronisation, its own FP32 matmul peak probe, the precision
policy (TF32 on NVIDIA GPUs) and its package versions. The harness asks the class; it never
branches on a backend's name. Framework modules are imported lazily through ``module()``, which
tests replace with fakes to exercise the GPU paths on a machine without one.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mnist_mlp.errors import BackendUnavailable, UsageError

log = logging.getLogger(__name__)

#: matmul precisions a case can ask for: true FP32, or TF32 tensor cores (NVIDIA GPUs only)
PRECISIONS = ("fp32", "tf32")
#: square size of the peak probes; 2*n^3 FLOPs per matmul
CPU_PROBE_SIZE = 2048
GPU_PROBE_SIZE = 8192


def gpu_hardware_present() -> bool:
    """A cheap, framework-free guess whether this machine has an NVIDIA GPU at all."""
    return shutil.which("nvidia-smi") is not None or Path("/dev/nvidia0").exists()


def best_gflops(matmul: Callable[[], None], size: int, repeats: int, budget_s: float, warm_up: bool = True) -> float:
    """GFLOP/s of the fastest of ``repeats`` timed calls (after one untimed warm-up, unless
    ``warm_up`` is False), within ``budget_s``.

    ``matmul`` must return only when the product is finished (synchronised on a GPU).
    """
    if warm_up:
        matmul()
    best = float("inf")
    started = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        matmul()
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() - started > budget_s:
            break
    return 2.0 * size**3 / best / 1e9


#: (probe family, device, size) of the matmul probes this process has warmed up (``Backend.peak_gflops``)
_WARM_PROBES: set[tuple[str, str, int]] = set()

#: the latency probe: timed calls of the tiny op (after a warm-up), at most this many within the budget
LATENCY_REPEATS = 200
LATENCY_BUDGET_S = 0.15
#: the framework-free Python loop of the latency probe: iterations of one addition
PYTHON_LOOP = 2_000


def median_call_us(call: Callable[[], Any], repeats: int = LATENCY_REPEATS, budget_s: float = LATENCY_BUDGET_S) -> float:
    """The median wall time of one ``call()`` in microseconds (after three untimed warm-ups),
    over at most ``repeats`` calls within ``budget_s``: the round trip of a call that does
    almost nothing, which is what bounds a batch-32 step or a batch-1 prediction on a CPU."""
    for _ in range(3):
        call()
    times = []
    started = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - started > budget_s:
            break
    times.sort()
    return 1e6 * times[len(times) // 2]


def python_loop() -> int:
    """A fixed framework-free Python loop (the machine's interpreter speed, the latency probe's
    second figure): ``PYTHON_LOOP`` additions."""
    total = 0
    for i in range(PYTHON_LOOP):
        total += i
    return total


class Backend:
    """One framework. Subclasses set the class attributes and override the framework hooks."""

    #: the name users type (``--backend``) and results store
    name: str = ""
    #: the module that must be importable for this backend to run
    module_name: str = ""
    #: distributions whose versions describe this backend
    packages: tuple[str, ...] = ()
    #: a Keras backend (False for the NumPy reference)
    is_keras: bool = True
    #: whether its Keras runs several training steps per compiled call (``compile(steps_per_execution=N)``
    #: above 1; Keras on PyTorch refuses it)
    keras_multi_step: bool = True
    devices: tuple[str, ...] = ("cpu", "gpu")
    #: whether its benchmark case trains a model (the NumPy reference serves another case's weights)
    trains: bool = True
    #: the inference paths its case times, the headline one first (``bench.direct.make_callable``)
    inference_paths: tuple[str, ...] = ("predict", "direct")
    #: the framework's own counter of peak device memory (``peak_device_memory``), and whether it can start afresh
    device_peak_counter: str | None = None
    device_peak_resets: bool = False
    #: cases whose backends share a process group run in one process in the quick profile
    #: (``bench.group``); None: the backend's own name
    process_group: str | None = None
    #: backends whose peak and latency probes are the same measurement (the serving runtimes use
    #: NumPy's); None: the backend's own name. A shared process reuses a family's recent probe.
    probe_family: str | None = None

    def process_group_of(self, implementation: str) -> str:
        """The process group of this backend's ``implementation`` (keras, native, native-fast)."""
        return self.process_group or self.name

    def serving_setup(self, device: str) -> str | None:
        """Before anything imports keras, in a case that trains nothing: set what its serving needs;
        why it cannot run here (None: it can). Nothing to do for the NumPy reference."""
        return None

    # ------------------------------------------------------------------ before import

    def is_installed(self) -> bool:
        """Whether the framework can be imported, without importing it."""
        return importlib.util.find_spec(self.module_name) is not None

    def install_hint(self, gpu: bool = False) -> str:
        """The pip command that adds this backend (its CUDA build with ``gpu``)."""
        return f"pip install 'mnist-mlp[{'gpu-' if gpu else ''}{self.name}]'"

    def planning_skip_reason(self, device: str, precision: str = "fp32", *, installed: bool | None = None,
                             gpu_present: bool | None = None) -> str | None:
        """Why a case of this backend cannot run here, decided before any framework is imported."""
        if device not in self.devices:
            return f"{self.name} runs on {', '.join(self.devices)} only"
        if not (self.is_installed() if installed is None else installed):
            return f"{self.name} is not installed ({self.install_hint()})"
        if device == "gpu" and not (gpu_hardware_present() if gpu_present is None else gpu_present):
            return "no GPU on this machine (no nvidia-smi, no /dev/nvidia0)"
        if precision == "tf32" and device != "gpu":
            return "TF32 is a tensor-core mode of NVIDIA GPUs: nothing to measure on the CPU"
        return None

    def environment(self, device: str) -> dict[str, str | None]:
        """Environment variables for ``device``, set before the framework is imported (None: unset)."""
        if device == "cpu":  # hide GPUs from every framework, so "cpu" really means the CPU
            return {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
        # share the GPU politely: no framework grabs all of its memory up front
        return {"JAX_PLATFORMS": None, "XLA_PYTHON_CLIENT_PREALLOCATE": os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE", "false"),
                "TF_FORCE_GPU_ALLOW_GROWTH": os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH", "true")}

    def select(self, device: str = "cpu") -> None:
        """Set the environment so the next ``import keras`` uses this backend on ``device``."""
        if self.is_keras and "keras" in sys.modules:
            import keras  # already imported: only safe if it is the same backend

            if keras.backend.backend() != self.name:
                raise UsageError(
                    f"--backend: keras is already imported with backend {keras.backend.backend()!r}; "
                    f"run {self.name!r} in a fresh process"
                )
        if not self.is_installed():
            raise BackendUnavailable(f"--backend: {self.name} is not installed ({self.install_hint()})")
        if self.is_keras:
            os.environ["KERAS_BACKEND"] = self.name
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.apply_environment(device)

    def apply_environment(self, device: str) -> None:
        """Set (or unset, where None) this backend's ``environment`` for ``device`` in this process."""
        for key, value in self.environment(device).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def versions(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for package in self.packages:
            try:
                found[package] = importlib.metadata.version(package)
            except importlib.metadata.PackageNotFoundError:
                found[package] = None
        return found

    # ------------------------------------------------------------------ after import

    def module(self) -> Any:
        """The framework module (tests replace this with a fake)."""
        return importlib.import_module(self.module_name)

    def describe_devices(self) -> dict[str, Any]:
        """``{"version", "devices": [{"id", "kind", "name"}], "cuda_runtime"}`` for ``mnist-mlp doctor``."""
        raise NotImplementedError

    def device_names(self) -> list[str]:
        """Every device the framework sees, e.g. ``["cpu:0"]`` or ``["cpu:0", "cuda:0"]``."""
        raise NotImplementedError

    def gpu_absent_reason(self) -> str:
        """Why the framework sees no GPU, in words a user can act on."""
        return f"{self.name} sees no GPU on this machine"

    def active_device_name(self) -> str:
        """The device the framework computes on by default."""
        gpus = [name for name in self.device_names() if not name.startswith("cpu")]
        return gpus[0] if gpus else "cpu"

    def require_device(self, device: str) -> str:
        """Confirm ``device`` is what the framework computes on, else raise with the reason."""
        name = self.active_device_name()
        on_gpu = not name.startswith("cpu")
        if device == "gpu" and not on_gpu:
            raise BackendUnavailable(f"--device gpu: {self.gpu_absent_reason()}")
        if device == "cpu" and on_gpu:
            raise BackendUnavailable(f"--device cpu: {self.name} still computes on {name}")
        return name

    def peak_device_memory(self, device: str, reset: bool = False) -> int | None:
        """The framework's peak device memory in bytes so far (``device_peak_counter``); with ``reset``
        the counter then starts afresh where it can (``device_peak_resets``). None on a CPU or where
        the framework keeps no counter (``bench.memory`` reads it per phase)."""
        return None

    def synchronize(self, *outputs: Any) -> None:
        """Wait until queued device work is finished, ``outputs`` (arrays the work produced) too.

        The harness calls it wherever a clock is read around device work (the epoch timers, the
        training span, the direct call, the data-parallel fit), so an asynchronous device cannot
        make a timer stop at the launch instead of the finish. No-op where work is synchronous."""

    def direct_call(self, model: Any, x: np.ndarray) -> Callable[[], np.ndarray]:
        """The model on the batch ``x`` through the framework's own compiled path, as NumPy."""
        raise NotImplementedError

    def loss_and_gradients(self, model: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """The model's mean sparse categorical cross-entropy on ``(x, y)`` and its gradients with
        respect to ``model.trainable_variables``, by the framework's own autodiff (``verify --training``)."""
        raise NotImplementedError

    def matmul_probe(self, device: str, size: int) -> Callable[[], None]:
        """A zero-argument FP32 ``size`` x ``size`` matmul on ``device`` that returns when finished."""
        raise NotImplementedError

    def peak_gflops(self, device: str, *, size: int | None = None, repeats: int = 5, budget_s: float = 1.5) -> float:
        """This framework's FP32 matmul GFLOP/s on ``device`` (best of ``repeats``), TF32 off."""
        size = size or (GPU_PROBE_SIZE if device == "gpu" else CPU_PROBE_SIZE)
        with self.precision_scope(device, "fp32"):
            run = self.matmul_probe(device, size)
            # the untimed warm-up pays a first call's costs (compilation, allocation, threads):
            # once per framework, device and size in a process; a later probe (the next case of a
            # shared process) starts warm, and its fastest call is kept anyway
            key = (self.probe_family or self.name, device, size)  # the runtimes' probe is NumPy's
            warmed = key not in _WARM_PROBES
            _WARM_PROBES.add(key)
            return best_gflops(run, size, repeats, budget_s, warm_up=warmed)

    def probe_peak(self, device: str, **kwargs: Any) -> dict[str, Any]:
        """``peak_gflops`` as a record: ``{"gflops", "probe"}`` or ``{"gflops": None, "error"}``.

        A failing probe (out of memory, a driver error) is reported, never a crashed case.
        """
        probe = f"{self.name} FP32 matmul on {device}"
        try:
            return {"gflops": self.peak_gflops(device, **kwargs), "probe": probe}
        except Exception as exc:  # noqa: BLE001 - a probe must never take the case with it
            log.warning("%s peak probe failed: %s", self.name, exc)
            return {"gflops": None, "probe": probe, "error": f"{type(exc).__name__}: {exc}"[:300]}

    def tiny_op_probe(self, device: str) -> Callable[[], None]:
        """A zero-argument call of the smallest op on ``device`` (one element plus one, through the
        framework's compiled or eager path as its trainers use it) that returns when finished."""
        raise NotImplementedError

    def probe_latency(self, device: str) -> dict[str, Any]:
        """The machine's and the framework's latency, now: ``{"framework_us", "python_us", "probe"}``.

        ``framework_us`` is the median round trip of ``tiny_op_probe`` (dispatch, launch and
        synchronisation: what a batch-32 training step or a batch-1 prediction pays per op on a
        CPU, where the matmul peak says little); ``python_us`` the median time of a fixed Python
        loop (``python_loop``). A failing probe is reported, never a crashed case.
        """
        probe = f"{self.name} tiny op (1 element + 1) on {device}; a {PYTHON_LOOP}-addition Python loop"
        try:
            return {"framework_us": median_call_us(self.tiny_op_probe(device)), "python_us": median_call_us(python_loop),
                    "probe": probe}
        except Exception as exc:  # noqa: BLE001 - a probe must never take the case with it
            log.warning("%s latency probe failed: %s", self.name, exc)
            return {"framework_us": None, "python_us": None, "probe": probe, "error": f"{type(exc).__name__}: {exc}"[:300]}

    # ------------------------------------------------------------------ precision

    def set_tf32(self, enabled: bool) -> bool:
        """Switch TF32 matmuls on or off; return the previous setting (GPU frameworks override)."""
        return False

    def precision_policy(self, device: str, precision: str) -> dict[str, Any]:
        """Apply ``precision`` for the whole case and describe what was set (stored per case)."""
        if precision not in PRECISIONS:
            raise UsageError(f"--precision: unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
        if device != "gpu":
            return {"precision": "fp32", "tf32": False, "how": "CPU: FP32 matmuls (no TF32 on CPUs)"}
        self.set_tf32(precision == "tf32")
        return {"precision": precision, "tf32": precision == "tf32", "how": self.tf32_switch}

    #: how TF32 is switched in this framework (written into each case's precision policy)
    tf32_switch: str = ""

    def precision_scope(self, device: str, precision: str) -> "_PrecisionScope":
        """A ``with`` block in ``precision``, the previous setting restored after it."""
        return _PrecisionScope(self, device == "gpu", precision == "tf32")

    # ------------------------------------------------------------------ data parallel

    def data_parallel_prepare(self, devices: int, device: str) -> None:
        """Make ``devices`` devices of kind ``device`` available (simulated on a CPU).

        Called after ``select`` and before the framework starts its runtime.
        """
        raise UsageError(f"--data-parallel: {self.name} has no data-parallel engine")

    def data_parallel_engine(self, devices: int, device: str, processes: int = 1) -> Any:
        """The object whose ``fit(config, initial_weights, x, y, ...)`` trains over ``devices`` devices."""
        raise UsageError(f"--data-parallel: {self.name} has no data-parallel engine")

    def data_parallel_device_count(self, device: str) -> int:
        """How many devices of kind ``device`` the data-parallel engine can use here (after prepare)."""
        return 0

    def data_parallel_missing(self, devices: int, device: str) -> str | None:
        """Why ``devices`` devices of kind ``device`` are not here (None: they are): a skip, not a failure."""
        found = self.data_parallel_device_count(device)
        if found < devices:
            return f"{self.name} sees {found} {device} device(s); data parallel on {devices} needs {devices}"
        return None

    def multi_process_skip_reason(self) -> str | None:
        """Why this framework's data-parallel training cannot span several processes (None: it can)."""
        return f"{self.name} trains data-parallel within one host only"

    def join_processes(self, coordinator: str, processes: int, process_id: int) -> None:
        """Join a data-parallel run that spans ``processes`` processes (only where the framework can)."""
        raise UsageError(f"--processes: {self.multi_process_skip_reason()}")


class _PrecisionScope:
    def __init__(self, backend: Backend, active: bool, tf32: bool) -> None:
        self.backend, self.active, self.tf32 = backend, active, tf32
        self.previous = False

    def __enter__(self) -> None:
        if self.active:
            self.previous = self.backend.set_tf32(self.tf32)

    def __exit__(self, *exc: Any) -> None:
        if self.active:
            self.backend.set_tf32(self.previous)
