"""JAX: ``jax.jit`` over Keras' ``stateless_call`` for the direct call; matmul precision for TF32."""

from __future__ import annotations

import importlib.util
from typing import Any, Callable

import numpy as np

from mnist_mlp.backends.base import Backend


class JaxBackend(Backend):
    name = "jax"
    module_name = "jax"
    packages = ("keras", "jax", "jaxlib")
    tf32_switch = "jax.config jax_default_matmul_precision (highest | tensorfloat32)"
    #: no reset: the peak since the process started
    device_peak_counter = "jax.devices('gpu')[0].memory_stats()['peak_bytes_in_use']"
    #: ``direct_call``'s compiled function of the model last served (keyed by its id)
    _direct_functions: dict = {}

    def device_names(self) -> list[str]:
        jax = self.module()
        return [f"{dev.platform}:{dev.id}" for dev in jax.devices()] + (
            [] if jax.devices()[0].platform == "cpu" else ["cpu:0"]
        )

    def describe_devices(self) -> dict[str, Any]:
        """Version, devices (id, kind, name) and CUDA runtime, for ``mnist-mlp doctor``."""
        jax = self.module()

        devices, runtime = [], None
        for platform_name in ("cpu", "gpu"):
            try:
                found = jax.devices(platform_name)
            except Exception:  # RuntimeError "Unknown backend gpu" on a CPU-only jaxlib
                continue
            for device in found:
                devices.append({"id": f"{platform_name}:{device.id}", "kind": platform_name, "name": device.device_kind})
            if platform_name == "gpu" and found:
                runtime = getattr(getattr(found[0], "client", None), "platform_version", None)
        if runtime is None:  # no GPU seen: name the CUDA plugin that is installed, if any
            import importlib.metadata

            for plugin in ("jax-cuda13-plugin", "jax-cuda12-plugin"):
                try:
                    runtime = f"{plugin} {importlib.metadata.version(plugin)}"
                    break
                except importlib.metadata.PackageNotFoundError:
                    continue
        return {"version": jax.__version__, "devices": devices, "cuda_runtime": runtime}

    def active_device_name(self) -> str:
        dev = self.module().devices()[0]
        return f"{dev.platform}:{dev.id}"

    def gpu_absent_reason(self) -> str:
        if importlib.util.find_spec("jax_cuda12_plugin") is None:
            return f"the installed jaxlib is CPU-only: no CUDA plugin ({self.install_hint(gpu=True)})"
        return "JAX sees no GPU (its CUDA plugin found no device: driver or CUDA_VISIBLE_DEVICES?)"

    def peak_device_memory(self, device: str, reset: bool = False) -> int | None:
        if device != "gpu":
            return None
        peak = (self.module().devices("gpu")[0].memory_stats() or {}).get("peak_bytes_in_use")
        return None if peak is None else int(peak)

    def synchronize(self, *outputs: Any) -> None:
        """Block until the given outputs are computed, or (none given) every live array is:
        JAX dispatches asynchronously, and ``effects_barrier`` alone waits only for side effects."""
        jax = self.module()
        if outputs:
            jax.block_until_ready(outputs)
        else:
            for array in jax.live_arrays():
                array.block_until_ready()
        jax.effects_barrier()

    def direct_call(self, model: Any, x: np.ndarray) -> Callable[[], np.ndarray]:
        jax = self.module()
        import jax.numpy as jnp

        call = self._direct_functions.get(id(model))
        if call is None:  # one compiled function per model (kept, so the model lives on with it)

            @jax.jit
            def call(tv: Any, ntv: Any, inputs: Any) -> Any:
                outputs, _ = model.stateless_call(tv, ntv, inputs, training=False)
                return outputs

            type(self)._direct_functions = {id(model): call}
        # the variables' buffers of now: Keras' JAX ``predict`` donates them, so a callable made
        # before a ``predict`` cannot be called after it (the inference passes make one per pass)
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        inputs = jnp.asarray(x)
        return lambda: np.asarray(call(trainable, non_trainable, inputs))

    def loss_and_gradients(self, model: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """The compiled loss and ``jax.value_and_grad`` over ``stateless_call`` at the model's weights."""
        jax = self.module()
        import keras

        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss_of(trainable: Any) -> Any:
            outputs, _ = model.stateless_call(trainable, non_trainable, x, training=True)
            return loss_fn(y, outputs)

        loss, grads = jax.jit(jax.value_and_grad(loss_of))([v.value for v in model.trainable_variables])
        return float(loss), [np.asarray(g) for g in grads]

    def matmul_probe(self, device: str, size: int) -> Callable[[], None]:
        jax = self.module()
        import jax.numpy as jnp

        target = jax.devices("gpu" if device == "gpu" else "cpu")[0]
        key_a, key_b = jax.random.split(jax.random.PRNGKey(0))
        a = jax.device_put(jax.random.uniform(key_a, (size, size), dtype=jnp.float32), target)
        b = jax.device_put(jax.random.uniform(key_b, (size, size), dtype=jnp.float32), target)
        mm = jax.jit(lambda x, y: jnp.matmul(x, y, precision=jax.lax.Precision.HIGHEST))
        return lambda: mm(a, b).block_until_ready()

    def tiny_op_probe(self, device: str) -> Callable[[], None]:
        jax = self.module()
        import jax.numpy as jnp

        target = jax.devices("gpu" if device == "gpu" else "cpu")[0]
        x = jax.device_put(jnp.zeros((1,), dtype=jnp.float32), target)
        add_one = jax.jit(lambda v: v + 1.0)
        return lambda: add_one(x).block_until_ready()

    def set_tf32(self, enabled: bool) -> bool:
        jax = self.module()
        previous = jax.config.jax_default_matmul_precision == "tensorfloat32"
        jax.config.update("jax_default_matmul_precision", "tensorfloat32" if enabled else "highest")
        return previous

    # ------------------------------------------------------------------ data parallel

    def data_parallel_prepare(self, devices: int, device: str) -> None:
        """On a CPU: ``XLA_FLAGS=--xla_force_host_platform_device_count=N``, read when JAX starts its backend."""
        if device == "cpu":
            from mnist_mlp.backends.jax_parallel import simulate_cpu_devices

            simulate_cpu_devices(devices)

    def data_parallel_engine(self, devices: int, device: str, processes: int = 1) -> Any:
        from mnist_mlp.backends.jax_parallel import JaxDataParallel

        return JaxDataParallel(devices, device, processes, sync=self.synchronize)

    def data_parallel_device_count(self, device: str) -> int:
        try:
            return len(self.module().devices(device))
        except RuntimeError:  # "Unknown backend gpu" on a CPU-only jaxlib
            return 0

    def multi_process_skip_reason(self) -> str | None:
        return None  # keras.distribution.initialize joins processes (and hosts)

    def join_processes(self, coordinator: str, processes: int, process_id: int) -> None:
        from mnist_mlp.backends.jax_parallel import join_processes

        join_processes(coordinator, processes, process_id)
