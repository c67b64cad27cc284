"""`make demo`: build the example model, convert it with the tfconv CLI, run the IR in OpenVINO
and print the comparison with TensorFlow."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "demo-output"


def build_example(pb: Path, npz: Path) -> tuple[str, str]:
    """A small MobileNetV2 (alpha 0.35, 96x96) with random, non-degenerate weights, frozen."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    tf.keras.utils.set_random_seed(7)
    model = tf.keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None,
                                              classes=10, classifier_activation=None)
    rng = np.random.default_rng(7)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.1, layer.beta.shape).astype("float32"))
            layer.momentum = 0.0
    calib = rng.uniform(-1, 1, (8, 96, 96, 3)).astype("float32")
    model(calib, training=True)  # moving statistics := statistics of the calibration batch
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([None, 96, 96, 3], tf.float32, name="image"))
    frozen = convert_variables_to_constants_v2(concrete)
    pb.write_bytes(frozen.graph.as_graph_def().SerializeToString())
    x = rng.uniform(-1, 1, (4, 96, 96, 3)).astype("float32")
    y = frozen(tf.constant(x))[0].numpy()
    in_name = frozen.inputs[0].name.split(":")[0]
    out_name = frozen.outputs[0].name.split(":")[0]
    np.savez(npz, x=x, y=y)
    return in_name, out_name


def main() -> int:
    import numpy as np
    import openvino as ov

    OUT.mkdir(exist_ok=True)
    pb, npz = OUT / "example.pb", OUT / "reference.npz"
    print("1. Building the example model (MobileNetV2 0.35, 96x96, random weights) with TensorFlow")
    # TensorFlow logs to stderr before it reads any setting: build in a quiet subprocess.
    built = subprocess.run([sys.executable, __file__, "--build", str(pb), str(npz)],
                           capture_output=True, text=True, check=False)
    if built.returncode:
        print(built.stdout + built.stderr)
        return built.returncode
    in_name, out_name = built.stdout.split()
    print(f"   frozen graph: {pb} (input {in_name}, output {out_name})")
    print("2. Converting with: tfconv convert --input_model example.pb --output_dir demo-output")
    tfconv = Path(sys.executable).with_name("tfconv")
    start = time.perf_counter()
    result = subprocess.run([str(tfconv), "convert", "--input_model", str(pb), "--output_dir", str(OUT),
                             "--log_level", "INFO"], check=False)
    if result.returncode:
        return result.returncode
    print(f"   converted in {time.perf_counter() - start:.2f} s (whole process)")
    print("3. Running the IR in OpenVINO (CPU, f32) and comparing with TensorFlow")
    ref = np.load(npz)
    compiled = ov.Core().compile_model(str(OUT / "example.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    actual = compiled([np.transpose(ref["x"], (0, 3, 1, 2))])[compiled.outputs[0]]
    expected = ref["y"]
    err = float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))
    same_top1 = bool((actual.argmax(-1) == expected.argmax(-1)).all())
    print(f"   IR input  {compiled.inputs[0].get_any_name()} {compiled.inputs[0].get_partial_shape()} (NCHW)")
    print(f"   IR output {compiled.outputs[0].get_any_name()} {compiled.outputs[0].get_partial_shape()}")
    print(f"   max|IR - TF| / max|TF| = {err:.2e}   top-1 equal: {same_top1}")
    print(f"   TF top-1: {expected.argmax(-1).tolist()}   IR top-1: {actual.argmax(-1).tolist()}")
    ok = err <= 1e-4 and same_top1
    print("OK: the IR reproduces TensorFlow" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--build"]:
        print(*build_example(Path(sys.argv[2]), Path(sys.argv[3])))
        sys.exit(0)
    sys.exit(main())
