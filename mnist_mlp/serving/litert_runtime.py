"""LiteRT (TensorFlow Lite's successor, ``ai-edge-litert``) with its XNNPACK CPU delegate, float32.

The exported flatbuffer has a batch dimension of -1 (any size); the interpreter is resized to a
batch's shape once and reused while the shape stays, so a timed call pays the copy in, the
invocation and the copy out, not a re-allocation.
"""

from __future__ import annotations

from pathlib import Path

from mnist_mlp.serving.runtime import Runtime, Session


class LiteRtRuntime(Runtime):
    name = "litert"
    format = "litert"
    module_name = "ai_edge_litert.interpreter"
    packages = ("ai-edge-litert",)

    def _open(self, path: Path, threads: int) -> Session:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"the model has {len(inputs)} inputs and {len(outputs)} outputs, the seed's MLP one each")
        source, target = inputs[0]["index"], outputs[0]["index"]
        shape: list = [None]

        def call(x):
            if shape[0] != x.shape:
                interpreter.resize_tensor_input(source, x.shape, strict=False)
                interpreter.allocate_tensors()
                shape[0] = x.shape
            interpreter.set_tensor(source, x)
            interpreter.invoke()
            return interpreter.get_tensor(target)

        dtype = getattr(inputs[0]["dtype"], "__name__", str(inputs[0]["dtype"]))
        setting = {"asked": self.precision, "in_force": "float32" if dtype == "float32" else dtype,
                   "how": "XNNPACK delegate (the default), float32 model; no fp16 or int8 conversion", "threads": threads}
        return Session(call, setting, interpreter)
