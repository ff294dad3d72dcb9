"""PyTorch: a ``torch.no_grad`` call for the direct path; ``torch.backends`` flags for TF32."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from mnist_mlp.backends.base import Backend


class TorchBackend(Backend):
    name = "torch"
    module_name = "torch"
    packages = ("keras", "torch")
    tf32_switch = "torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32"
    device_peak_counter, device_peak_resets = "torch.cuda.max_memory_allocated", True
    keras_multi_step = False  # Keras 3: "`steps_per_execution` must be 1 with the PyTorch backend"

    def device_names(self) -> list[str]:
        torch = self.module()
        gpus = [f"cuda:{index}" for index in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
        return ["cpu", *gpus]

    def describe_devices(self) -> dict[str, Any]:
        """Version, devices (id, kind, name) and CUDA runtime, for ``mnist-mlp doctor``."""
        torch = self.module()

        devices = [{"id": "cpu:0", "kind": "cpu", "name": "cpu"}]
        if torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                devices.append({"id": f"cuda:{index}", "kind": "gpu", "name": torch.cuda.get_device_name(index)})
        return {"version": torch.__version__, "devices": devices, "cuda_runtime": torch.version.cuda}

    def active_device_name(self) -> str:
        torch = self.module()
        return f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"

    def gpu_absent_reason(self) -> str:
        torch = self.module()
        if getattr(torch.version, "cuda", None) is None:
            return f"this PyTorch build ({torch.__version__}) is CPU-only ({self.install_hint(gpu=True)})"
        return "PyTorch sees no CUDA device (driver or CUDA_VISIBLE_DEVICES?)"

    def peak_device_memory(self, device: str, reset: bool = False) -> int | None:
        if device != "gpu" or not self.module().cuda.is_available():
            return None
        torch = self.module()
        peak = int(torch.cuda.max_memory_allocated())
        if reset:
            torch.cuda.reset_peak_memory_stats()
        return peak

    def synchronize(self, *outputs: Any) -> None:
        torch = self.module()
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def direct_call(self, model: Any, x: np.ndarray) -> Callable[[], np.ndarray]:
        torch = self.module()
        device = "cuda" if torch.cuda.is_available() else "cpu"
        inputs = torch.as_tensor(x, device=device)

        def call() -> np.ndarray:
            with torch.no_grad():
                return model(inputs, training=False).detach().cpu().numpy()

        return call

    def loss_and_gradients(self, model: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """The loss and ``torch.autograd.grad`` with respect to the model's parameters."""
        torch = self.module()
        import keras

        device = "cuda" if torch.cuda.is_available() else "cpu"
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        params = [v.value for v in model.trainable_variables]
        loss = loss_fn(torch.as_tensor(y, device=device), model(torch.as_tensor(x, device=device), training=True))
        grads = torch.autograd.grad(loss, params)
        return float(loss.detach().cpu()), [g.detach().cpu().numpy() for g in grads]

    def matmul_probe(self, device: str, size: int) -> Callable[[], None]:
        torch = self.module()
        where = "cuda" if device == "gpu" else "cpu"
        a = torch.rand(size, size, device=where, dtype=torch.float32)
        b = torch.rand(size, size, device=where, dtype=torch.float32)
        out = torch.empty(size, size, device=where, dtype=torch.float32)

        def run() -> None:
            torch.mm(a, b, out=out)
            if where == "cuda":
                torch.cuda.synchronize()

        return run

    def tiny_op_probe(self, device: str) -> Callable[[], None]:
        torch = self.module()
        where = "cuda" if device == "gpu" else "cpu"
        x = torch.zeros(1, device=where, dtype=torch.float32)
        out = torch.empty(1, device=where, dtype=torch.float32)

        def run() -> None:
            torch.add(x, 1.0, out=out)
            if where == "cuda":
                torch.cuda.synchronize()

        return run

    def set_tf32(self, enabled: bool) -> bool:
        torch = self.module()
        previous = bool(torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled
        return previous

    # ------------------------------------------------------------------ data parallel

    def data_parallel_prepare(self, devices: int, device: str) -> None:
        """Nothing to simulate: one process per device (CPU ranks share the cores)."""

    def data_parallel_engine(self, devices: int, device: str, processes: int = 1) -> Any:
        from mnist_mlp.backends.torch_parallel import TorchDataParallel

        return TorchDataParallel(devices, device, sync=self.synchronize)

    def data_parallel_device_count(self, device: str) -> int:
        """GPUs: one rank per CUDA device; CPU: ranks are processes, as many as asked (they share the cores)."""
        if device == "cpu":
            return 1 << 30
        torch = self.module()
        return torch.cuda.device_count() if torch.cuda.is_available() else 0

    def multi_process_skip_reason(self) -> str | None:
        return ("torch ranks are processes on this host (torch.multiprocessing); several hosts need torchrun, "
                "not wired into mnist-mlp")
