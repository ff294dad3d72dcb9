"""ONNX Runtime on its CPU execution provider: the ONNX export, in float32, and dynamically
quantised to int8 (weights int8, activations quantised per call) as a case of its own."""

from __future__ import annotations

from pathlib import Path


from mnist_mlp.serving.runtime import Runtime, Session


class OnnxRuntime(Runtime):
    name = "onnxruntime"
    format = "onnx"
    module_name = "onnxruntime"
    packages = ("onnxruntime", "onnx")
    how = "CPUExecutionProvider: float32 kernels, no automatic downcast"

    def _open(self, path: Path, threads: int) -> Session:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"the model takes {len(inputs)} inputs, the seed's MLP one")
        name = inputs[0].name
        setting = {"asked": self.precision, "in_force": self.precision, "how": self.how,
                    "providers": session.get_providers(), "threads": threads}
        return Session(lambda x: session.run(None, {name: x})[0], setting, session)


class OnnxRuntimeInt8(OnnxRuntime):
    """ONNX Runtime's own reduced precision: ``quantize_dynamic`` of the float32 export."""

    name = "onnxruntime-int8"
    precision = "int8"
    how = "onnxruntime.quantization.quantize_dynamic (weights QInt8, activations quantised per call), CPUExecutionProvider"

    def prepare(self, exported: Path, folder: Path) -> Path:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        out = Path(folder) / "model.int8.onnx"
        quantize_dynamic(str(exported), str(out), weight_type=QuantType.QInt8)
        return out

    def artifact_in(self, folder: str | Path) -> Path:
        return Path(folder) / "model.int8.onnx"
