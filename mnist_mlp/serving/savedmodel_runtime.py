"""A TensorFlow SavedModel served by TensorFlow itself (``tf.saved_model.load``, its ``serve`` endpoint):
what TF Serving runs, without the server. Float32; TF32 is a GPU mode and off on the CPU."""

from __future__ import annotations

from pathlib import Path

from mnist_mlp.serving.runtime import Runtime, Session


class SavedModelRuntime(Runtime):
    name = "savedmodel"
    format = "savedmodel"
    module_name = "tensorflow"
    packages = ("tensorflow",)

    def _open(self, path: Path, threads: int) -> Session:
        if not (path / "saved_model.pb").is_file():  # before TensorFlow's import: seconds for nothing
            raise ValueError("no saved_model.pb in it")
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        endpoint = getattr(loaded, "serve", None)
        if endpoint is None:
            raise ValueError("it has no serve endpoint (Keras' export writes one)")
        setting = {"asked": self.precision, "in_force": "float32", "how": "tf.saved_model.load(...).serve, float32 graph",
                   "tf32": bool(tf.config.experimental.tensor_float_32_execution_enabled()), "threads": threads}
        return Session(lambda x: endpoint(tf.constant(x)).numpy(), setting, loaded)
