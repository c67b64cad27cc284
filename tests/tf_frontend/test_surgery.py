"""``--input``/``--output`` graph surgery with Model Optimizer semantics: cuts at inner nodes
(``node``, ``node:P``, ``P:node``), shapes and types of cut inputs, ``->value`` freezing of inner
tensors, IR input order, ``-b`` on cut inputs, output order; the IR runs in OpenVINO and matches
TensorFlow fed at the same tensors. Bad names and ports: one clear message, no output dir."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

from cliassert import assert_clean_failure  # noqa: E402
from ovrun import core, rel_err, run_ir  # noqa: E402
from tfconv.graph import Port  # noqa: E402

TFCONV = [sys.executable, "-m", "tfconv.cli"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
RNG = np.random.default_rng(7)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """x[?,4] -> MatMul(W) "mm" -> Tanh "act" -> AddV2(act, y[?,3]) "s" -> Mul(2) "m" -> "out";
    act -> Sigmoid "out2". Saved with ``_output_shapes``; the live session computes references."""
    import tensorflow as tf
    tf1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        y = tf1.placeholder(tf.float32, [None, 3], name="y")
        w = tf.constant(RNG.standard_normal((4, 3)).astype(np.float32), name="w")
        mm = tf.matmul(x, w, name="mm")
        act = tf.tanh(mm, name="act")
        s = tf.add(act, y, name="s")
        m = tf.multiply(s, 2.0, name="m")
        tf.identity(m, name="out")
        tf.sigmoid(act, name="out2")
    path = tmp_path_factory.mktemp("surgery") / "net.pb"
    path.write_bytes(graph.as_graph_def(add_shapes=True).SerializeToString())
    sess = tf1.Session(graph=graph)
    yield path, sess, graph
    sess.close()


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*TFCONV, *map(str, args)], capture_output=True, text=True,
                          check=False, env=ENV)


def convert_ok(model_path: Path, out_dir: Path, *args) -> tuple[Path, subprocess.CompletedProcess]:
    result = run("convert", model_path, "-o", out_dir, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return out_dir / "net.xml", result


def tf_run(model, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    _, sess, graph = model
    fetch = [graph.get_tensor_by_name(o) for o in outputs]
    return sess.run(fetch, {graph.get_tensor_by_name(k): v for k, v in feeds.items()})


def names(ports) -> list[set[str]]:
    return [set(p.get_names()) for p in ports]


def check(xml: Path, feeds: list[np.ndarray], expected: list[np.ndarray]) -> None:
    actual = run_ir(xml, feeds)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert rel_err(a, e) <= 1e-5


def data(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("item", ["act", "act:0", "act[2,3]{f32}"], ids=["bare", "out-port", "shape-type"])
def test_cut_output_port(model, tmp_path, item):
    xml, result = convert_ok(model[0], tmp_path / "ir", "--input", item, "--output", "out,out2",
                             "--log_level", "WARNING")
    # y is still needed by "s": allowed, after the given input, with a warning naming it.
    assert "still need" in result.stderr and "y" in result.stderr
    compiled = core().compile_model(str(xml), "CPU")
    ins = names(compiled.inputs)
    assert "act/placeholder_out_port_0" in ins[0] and "act:0" in ins[0]
    assert "y" in ins[1] and len(ins) == 2  # x only fed the cut part: gone
    shape = str(compiled.inputs[0].get_partial_shape())
    assert shape == ("[2,3]" if "[" in item else "[?,3]")
    a, y = data(2, 3), data(2, 3)
    expected = tf_run(model, ["out:0", "out2:0"], {"act:0": a, "y:0": y})
    check(xml, [a, y], expected)


def test_cut_input_port(model, tmp_path):
    """``0:s`` cuts only s's first input: out2 (not requested) would still read act."""
    xml, _ = convert_ok(model[0], tmp_path / "ir", "--input", "0:s[2,3]", "--output", "out")
    compiled = core().compile_model(str(xml), "CPU")
    ins = names(compiled.inputs)
    assert "s/placeholder_port_0" in ins[0] and "y" in ins[1] and len(ins) == 2
    a, y = data(2, 3), data(2, 3)
    check(xml, [a, y], tf_run(model, ["out:0"], {"act:0": a, "y:0": y}))


def test_two_cuts_order_ir_inputs(model, tmp_path):
    xml, result = convert_ok(model[0], tmp_path / "ir", "--input", "1:s,mm", "--output", "out",
                             "--log_level", "WARNING")
    assert "still need" not in result.stderr
    compiled = core().compile_model(str(xml), "CPU")
    ins = names(compiled.inputs)
    assert len(ins) == 2
    assert "s/placeholder_port_1" in ins[0] and "mm/placeholder_out_port_0" in ins[1]
    y, mm = data(3, 3), data(3, 3)
    check(xml, [y, mm], tf_run(model, ["out:0"], {"y:0": y, "mm:0": mm}))


def test_freeze_inner_tensor(model, tmp_path):
    value = np.arange(6, dtype=np.float32).reshape(2, 3) / 10
    xml, _ = convert_ok(model[0], tmp_path / "ir", "--input", "act[2,3]->[0,0.1,0.2,0.3,0.4,0.5]",
                        "--output", "out")
    compiled = core().compile_model(str(xml), "CPU")
    assert [("y" in n) for n in names(compiled.inputs)] == [True]
    y = data(2, 3)
    check(xml, [y], tf_run(model, ["out:0"], {"act:0": value, "y:0": y}))


def test_cut_with_batch(model, tmp_path):
    xml, result = convert_ok(model[0], tmp_path / "ir", "--input", "mm,y", "-b", "3",
                             "--output", "out")
    compiled = core().compile_model(str(xml), "CPU")
    assert [str(p.get_partial_shape()) for p in compiled.inputs] == ["[3,3]", "[3,3]"]
    assert "Input  mm/placeholder_out_port_0: [3,3] float32" in result.stdout
    mm, y = data(3, 3), data(3, 3)
    check(xml, [mm, y], tf_run(model, ["out:0"], {"mm:0": mm, "y:0": y}))


def test_output_order_and_output_that_is_an_input(model, tmp_path):
    xml, _ = convert_ok(model[0], tmp_path / "ir", "--output", "out2,out,mm")
    compiled = core().compile_model(str(xml), "CPU")
    outs = names(compiled.outputs)
    assert "out2:0" in outs[0] and "out:0" in outs[1] and "mm:0" in outs[2]
    x, y = data(2, 4), data(2, 3)
    check(xml, [x, y], tf_run(model, ["out2:0", "out:0", "mm:0"], {"x:0": x, "y:0": y}))
    xml2, _ = convert_ok(model[0], tmp_path / "ir2", "--input", "act", "--output", "act,out2")
    a = data(2, 3)
    check(xml2, [a], [a, *tf_run(model, ["out2:0"], {"act:0": a})])



@pytest.mark.parametrize("args, needles", [
    (["--input", "import/act"], ["'import/act'", "Did you mean: act", "Placeholders: x [?,4]"]),
    (["--input", "serving_default_y:0"], ["Did you mean: y"]),
    (["--output", "ou2"], ["Did you mean: out2"]),
    (["--input", "act:5"], ["'act'", "(Tanh) has 1 output(s)", "port 5"]),
    (["--input", "7:s"], ["'s'", "(AddV2) has 2 input(s)", "port 7"]),
    (["--input", "act[2,3,4]"], ["'act'", "rank 2", "rank 3"]),
    (["--input", "y[1,2,3]"], ["'y'", "rank 2", "rank 3"]),
], ids=["import-prefix", "serving-prefix", "output", "out-port", "in-port", "cut-rank", "rank"])
def test_errors(model, tmp_path, args, needles):
    out = tmp_path / "ir"
    assert_clean_failure(run("convert", model[0], "-o", out, *args), out, *needles)


def test_did_you_mean_strips_prefixes_and_matches_suffixes():
    from tfconv.graph import Graph
    from tfconv_tf_frontend.loader import _did_you_mean
    g = Graph("tf")
    for name in ("serving_default_image", "block1/conv", "block2/conv_bn", "logits"):
        g.add_op("Identity", name)
    assert _did_you_mean(g, "import/image:0") == ["serving_default_image"]
    assert _did_you_mean(g, "conv")[0] == "block1/conv"
    assert _did_you_mean(g, "conv_bn")[0] == "block2/conv_bn"
    assert _did_you_mean(g, "import/logits") == ["logits"]
    assert _did_you_mean(g, "logts") == ["logits"]


def test_cut_tensor_type_follows_the_producer():
    from tfconv.config import ConvertConfig, InputSpec
    from tfconv.graph import Graph
    from tfconv_tf_frontend.loader import apply_user_io
    g = Graph("tf")
    g.add_op("Placeholder", "x", (), {"dtype": np.dtype(np.float32), "shape": (None, 3)})
    g.add_op("Shape", "shp", [Port("x")], {"T": np.dtype(np.float32), "out_type": np.dtype(np.int32)})
    g.add_op("Less", "lt", [Port("x"), Port("x")], {"T": np.dtype(np.float32)})
    g.add_op("Relu", "r", [Port("x")], {"T": np.dtype(np.float16)})
    g.add_op("Identity", "o1", [Port("shp")])
    g.add_op("Identity", "o2", [Port("lt")])
    g.add_op("Identity", "o3", [Port("r")])
    g.add_op("Identity", "o4", [Port("o3")])
    g.meta["inputs"], g.outputs = ["x"], [Port("o1"), Port("o2"), Port("o4")]
    specs = (InputSpec("shp"), InputSpec("lt"), InputSpec("r"), InputSpec("o3", dtype="int8"))
    apply_user_io(g, ConvertConfig(inputs=specs))
    got = [g.op(n).attrs["dtype"] for n in g.meta["inputs"]]
    assert got == [np.dtype(t) for t in ("int32", "bool", "float16", "int8")]
    assert g.meta["inputs"][0] == "shp/placeholder_out_port_0"
