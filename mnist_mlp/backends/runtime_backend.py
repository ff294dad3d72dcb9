"""A serving runtime seen by the harness: a case that serves an exported artifact on the CPU.

The harness plans, runs, probes and collects cases through ``Backend`` objects; a serving case is
one more, like the NumPy reference it resembles (it trains nothing and serves the weights the
run's first Keras case trained). Everything about the runtime itself (artifact, load, call,
precision) is its ``serving.Runtime``; this adapter only answers the harness's questions. The
peak and latency probes are NumPy's: the runtimes have no matmul of their own to call, and the
machine's CPU is the same.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from mnist_mlp.backends.numpy_backend import NumpyBackend
from mnist_mlp.serving import Runtime


class RuntimeBackend(NumpyBackend):
    is_keras = False
    trains = False
    inference_paths = ("runtime",)
    #: the quick profile runs every serving case in TensorFlow's process (``bench.group``): the
    #: export needs Keras on TensorFlow, whose import (7.5 to 8.9 s for ``import tensorflow`` alone
    #: on the 2-core development VM) is then paid once
    process_group = "tensorflow"
    #: the probes are NumPy's: a NumPy probe taken moments before in the process stands in
    probe_family = "numpy"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.name = runtime.name
        self.module_name = runtime.module_name
        self.packages = (*runtime.packages, "tensorflow")
        self.devices = runtime.devices

    def is_installed(self) -> bool:
        return self.runtime.is_installed()

    def install_hint(self, gpu: bool = False) -> str:
        return self.runtime.install_hint()

    def gpu_absent_reason(self) -> str:
        return f"{self.name} is served on the CPU here (its GPU build is not a dependency of this suite)"

    def serving_setup(self, device: str) -> str | None:
        """Before anything imports keras: the export runs Keras on TensorFlow on the CPU; why not, if it cannot."""
        if importlib.util.find_spec("tensorflow") is None:
            return f"{self.name}: exporting the model needs TensorFlow (pip install 'mnist-mlp[tensorflow]')"
        os.environ["KERAS_BACKEND"] = "tensorflow"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        return None

    def precision_policy(self, device: str, precision: str) -> dict[str, Any]:
        return {"precision": self.runtime.precision, "tf32": False,
                "how": "set when the artifact is loaded; what was in force: the serving check's setting"}
