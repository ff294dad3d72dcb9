"""OpenVINO on the CPU: float32 forced, and its own bfloat16 default as a case of its own.

On a CPU with AVX512-BF16 or AMX, OpenVINO's CPU plugin infers in bfloat16 unless told otherwise
(``INFERENCE_PRECISION_HINT``): its probabilities then differed from NumPy's by up to 4.4e-2 in the
reference run of 2026-12-03, so a float32 row must force f32, and the bfloat16 speed is shown
apart, with its accuracy change.
The precision in force is read back from the compiled model, not assumed.
"""

from __future__ import annotations

from pathlib import Path

from mnist_mlp.serving.runtime import Runtime, Session

HINTS = {"float32": "f32", "bfloat16": "bf16"}


class OpenVinoRuntime(Runtime):
    name = "openvino"
    format = "openvino"
    module_name = "openvino"
    packages = ("openvino",)
    companions = (".bin",)

    def _open(self, path: Path, threads: int) -> Session:
        import openvino as ov

        core = ov.Core()
        default = str(core.get_property("CPU", "INFERENCE_PRECISION_HINT"))
        config = {"INFERENCE_PRECISION_HINT": HINTS[self.precision], "INFERENCE_NUM_THREADS": threads}
        compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        in_force = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        request = compiled.create_infer_request()

        def call(x):
            request.infer({0: x})
            return request.get_output_tensor(0).data.copy()

        setting = {"asked": self.precision, "in_force": _precision_name(in_force), "how": f"INFERENCE_PRECISION_HINT={HINTS[self.precision]}",
                   "runtime_default": _precision_name(default), "threads": threads}
        return Session(call, setting, (compiled, request))

    def unavailable_reason(self, session: Session) -> str | None:
        if session.setting["in_force"] != self.precision:
            return f"OpenVINO runs {session.setting['in_force']} on this CPU when asked for {self.precision}: nothing of its own to measure"
        return None


class OpenVinoBf16(OpenVinoRuntime):
    """OpenVINO's default on CPUs with bfloat16 units: a case of its own, judged by its accuracy."""

    name = "openvino-bf16"
    precision = "bfloat16"


def _precision_name(hint: str) -> str:
    """OpenVINO's element type as the suite names precisions: <Type: 'bfloat16'> -> bfloat16, f32 -> float32."""
    text = hint.lower()
    for name, short in (("bfloat16", "bf16"), ("float32", "f32"), ("float16", "f16")):
        if name in text or text == short:
            return name
    return text
