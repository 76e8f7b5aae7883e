"""Which ops break ONNX Runtime's static int8 of a tfsal ONNX file: parity CC per ``op_types_to_quantize`` choice.

ONNX Runtime's ``quantize_static`` with its defaults turns the shipped FastSal-C into a constant map (the
``onnxruntime int8`` row of ``benchmarks/bench_runtimes.py``, parity CC 0.0000). This quantises the same file three
ways (every op, every op but MatMul, Conv only) with the benchmark's settings (QDQ, per-channel int8 weights, uint8
activations) and prints each one's mean CC against the float ONNX file on demo val images (docs/performance.md).

Example:
    python experiments/ort_int8_ops.py /tmp/rtbench/fastsal-c-*/fastsal-c.onnx [--calibration 32] [--images 5]
"""
import argparse
import collections
import os
import tempfile

import numpy as np

CHOICES = {  # label -> quantize_static's op_types_to_quantize (None: its default, every op it supports)
    "every op (default)": None,
    "every op but MatMul": ["Conv", "Add", "Concat", "Mul", "DepthToSpace", "Relu", "Clip", "Resize", "Sigmoid",
                            "Transpose", "Reshape"],
    "Conv only": ["Conv"],
}


def main():
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from tfsal import kernels
    from tfsal.export import calibration_images, default_parity_images, prepare_images

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("onnx", help="a float .onnx file written by `tfsal export --onnx` (raw-pixel NHWC input)")
    ap.add_argument("--calibration", type=int, default=32, help="demo train calibration images")
    ap.add_argument("--images", type=int, default=5, help="demo val images for the CC")
    args = ap.parse_args()
    print(dict(collections.Counter(n.op_type for n in onnx.load(args.onnx).graph.node)))
    ref = ort.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
    name, shape = ref.get_inputs()[0].name, ref.get_inputs()[0].shape
    size = (int(shape[1]), int(shape[2]))
    cal = calibration_images(size, None, args.calibration)[0]
    images = prepare_images(default_parity_images(args.images)[0], size)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(cal)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {name: x[None]}

    with tempfile.TemporaryDirectory() as tmp:
        for label, ops in CHOICES.items():
            out = os.path.join(tmp, "q.onnx")
            quantize_static(args.onnx, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            **({} if ops is None else {"op_types_to_quantize": ops}))
            sess = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
            ccs = [kernels.cc(ref.run(None, {name: x[None]})[0].reshape(size), sess.run(None, {name: x[None]})[0]
                              .reshape(size)) for x in images]
            print(f"{label}: mean CC {np.mean(ccs):.4f} on {len(ccs)} demo val images", flush=True)


if __name__ == "__main__":
    main()
