"""TensorFlow: ``tf.function`` for the direct call, ``tf.matmul`` for the peak, TF32 via tf.config."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from mnist_mlp.backends.base import Backend


class TensorFlowBackend(Backend):
    name = "tensorflow"
    module_name = "tensorflow"
    packages = ("keras", "tensorflow")
    tf32_switch = "tf.config.experimental.enable_tensor_float_32_execution"
    device_peak_counter, device_peak_resets = "tf.config.experimental.get_memory_info('GPU:0')['peak']", True
    #: the traced gradient function of the last model seen by ``loss_and_gradients``
    _grad_functions: dict = {}
    #: ``direct_call``'s traced function of the model last served (keyed by its id)
    _direct_functions: dict = {}

    def device_names(self) -> list[str]:
        tf = self.module()
        gpus = [f"gpu:{index}" for index, _ in enumerate(tf.config.list_physical_devices("GPU"))]
        return ["cpu:0", *gpus]

    def describe_devices(self) -> dict[str, Any]:
        """Version, devices (id, kind, name) and CUDA runtime, for ``mnist-mlp doctor``."""
        tf = self.module()

        devices = []
        for kind in ("CPU", "GPU"):
            for index, device in enumerate(tf.config.list_physical_devices(kind)):
                name = kind.lower()
                if kind == "GPU":
                    try:
                        name = tf.config.experimental.get_device_details(device).get("device_name") or name
                    except Exception:  # details are a nicety; the device is there either way
                        pass
                devices.append({"id": f"{kind.lower()}:{index}", "kind": kind.lower(), "name": name})
        build = tf.sysconfig.get_build_info()
        runtime = build.get("cuda_version") if build.get("is_cuda_build") else None
        return {"version": tf.__version__, "devices": devices, "cuda_runtime": runtime}

    def gpu_absent_reason(self) -> str:
        tf = self.module()
        if not tf.test.is_built_with_cuda():
            return f"this TensorFlow build ({tf.__version__}) has no CUDA support ({self.install_hint(gpu=True)})"
        return f"TensorFlow sees no GPU (CUDA libraries or driver missing? {self.install_hint(gpu=True)})"

    def peak_device_memory(self, device: str, reset: bool = False) -> int | None:
        if device != "gpu":
            return None
        experimental = self.module().config.experimental
        peak = int(experimental.get_memory_info("GPU:0")["peak"])
        if reset:
            experimental.reset_memory_stats("GPU:0")
        return peak

    def synchronize(self, *outputs: Any) -> None:
        tf = self.module()
        if tf.config.list_logical_devices("GPU"):
            tf.test.experimental.sync_devices()

    def direct_call(self, model: Any, x: np.ndarray) -> Callable[[], np.ndarray]:
        tf = self.module()
        call = self._direct_functions.get(id(model))
        if call is None:  # one traced function per model, so a callable made again is not traced again
            call = tf.function(lambda inputs: model(inputs, training=False))
            type(self)._direct_functions = {id(model): call}
        inputs = tf.convert_to_tensor(x)  # host memory
        if tf.config.list_logical_devices("GPU"):
            with tf.device("/GPU:0"):
                inputs = tf.identity(inputs)  # copied to the GPU once, not on every timed call
        return lambda: call(inputs).numpy()

    def loss_and_gradients(self, model: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """The loss and ``tf.GradientTape`` gradients, inside ``tf.function`` like Keras' train step.

        In a graph Keras takes the loss from the softmax's logits (``_get_logits``), as in training.
        """
        tf = self.module()
        import keras

        run = self._grad_functions.get(id(model))
        if run is None:  # one traced function per model, not one per call
            loss_fn = keras.losses.SparseCategoricalCrossentropy()

            @tf.function
            def run(inputs: Any, labels: Any) -> Any:
                with tf.GradientTape() as tape:
                    loss = loss_fn(labels, model(inputs, training=True))
                return loss, tape.gradient(loss, model.trainable_variables)

            self._grad_functions = {id(model): run}
        loss, grads = run(tf.convert_to_tensor(x), tf.convert_to_tensor(y))
        return float(loss), [g.numpy() for g in grads]

    def matmul_probe(self, device: str, size: int) -> Callable[[], None]:
        tf = self.module()
        where = "/GPU:0" if device == "gpu" else "/CPU:0"
        with tf.device(where):
            a = tf.random.uniform((size, size), dtype=tf.float32)
            b = tf.random.uniform((size, size), dtype=tf.float32)

        def run() -> None:
            with tf.device(where):
                tf.reduce_sum(tf.matmul(a, b)).numpy()  # .numpy() waits; the sum keeps the copy tiny

        return run

    def tiny_op_probe(self, device: str) -> Callable[[], None]:
        tf = self.module()
        where = "/GPU:0" if device == "gpu" else "/CPU:0"
        with tf.device(where):
            x = tf.zeros((1,), dtype=tf.float32)
        add_one = tf.function(lambda v: v + 1.0)

        def run() -> None:
            with tf.device(where):
                add_one(x).numpy()  # .numpy() waits for the result

        return run

    def set_tf32(self, enabled: bool) -> bool:
        tf = self.module()
        previous = bool(tf.config.experimental.tensor_float_32_execution_enabled())
        tf.config.experimental.enable_tensor_float_32_execution(enabled)
        return previous

    # ------------------------------------------------------------------ data parallel

    def data_parallel_prepare(self, devices: int, device: str) -> None:
        """On a CPU: N logical CPU devices, configured before TensorFlow initialises."""
        if device == "cpu":
            from mnist_mlp.backends.tensorflow_parallel import simulate_cpu_devices

            simulate_cpu_devices(self.module(), devices)

    def data_parallel_engine(self, devices: int, device: str, processes: int = 1) -> Any:
        from mnist_mlp.backends.tensorflow_parallel import TensorFlowDataParallel

        return TensorFlowDataParallel(devices, device, sync=self.synchronize)

    def data_parallel_device_count(self, device: str) -> int:
        return len(self.module().config.list_logical_devices(device.upper()))

    def multi_process_skip_reason(self) -> str | None:
        from mnist_mlp.parallel.plan import MULTI_WORKER_SKIP_REASON

        return MULTI_WORKER_SKIP_REASON
