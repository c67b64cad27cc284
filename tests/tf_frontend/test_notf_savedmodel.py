"""SavedModels, checkpoints and MetaGraphs frozen WITHOUT TensorFlow (functions.py + bundle.py):
the zoo's Keras SavedModels and slim checkpoint forms, and the small models of every format,
converted by the TF-free path (the log says so), run by OpenVINO and compared with TensorFlow;
models it cannot handle fall back to TensorFlow (log says why) and still match; the SavedModel
path imports no TensorFlow; bad checkpoints give one clear message."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfconv
from tfconv.errors import ModelFormatError

pytest.importorskip("openvino")

from models import zoo  # noqa: E402
from ovrun import rel_err, run_ir  # noqa: E402

TOLERANCE = 1e-4
ZOO_SAVED_MODELS = [f"{family}-{app}" for family in ("keras3", "tf_keras")
                    for app in zoo.SAVED_MODEL_APPS]
ZOO_SLIM = [f"slim-{n}" for n in ("inception_v1", "inception_v2", "inception_v3", "resnet_v1_50",
                                  "resnet_v2_50", "vgg_16", "alexnet_v2")]
NOTF = "without TensorFlow"


def _convert(tmp_path: Path, model, caplog, **options) -> tuple[Path, str]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tfconv"):
        graph = tfconv.convert_model(model, **options)
    (xml,) = [p for p in tfconv.save_model(graph, tmp_path / "m.xml") if p.suffix == ".xml"]
    return xml, caplog.text


def _check(xml: Path, data: np.ndarray, expected: np.ndarray, nchw: bool = True) -> float:
    assert np.std(expected) > 1e-3 * np.max(np.abs(expected)), "degenerate reference"
    (actual,) = run_ir(xml, [np.transpose(data, (0, 3, 1, 2)) if nchw else data])
    err = rel_err(actual, expected)
    assert err <= TOLERANCE, f"rel err {err:.2e} > {TOLERANCE:.0e}"
    assert (actual.argmax(-1) == expected.argmax(-1)).all(), "top-1 differs"
    return err


# --- the zoo ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zoo_built():
    zoo.prebuild(ZOO_SAVED_MODELS + ZOO_SLIM)


@pytest.mark.zoo
@pytest.mark.parametrize("name", ZOO_SAVED_MODELS)
def test_zoo_saved_model_without_tf(zoo_built, name, tmp_path, caplog):
    case = zoo.get(name)
    ref = np.load(case.reference)
    xml, log = _convert(tmp_path, zoo.saved_model_dir(case), caplog)
    assert "froze TF2 SavedModel" in log and NOTF in log, log
    _check(xml, ref[next(iter(case.inputs))], ref[case.outputs[0]])


@pytest.mark.zoo
@pytest.mark.parametrize("form", ["binary_graph+ckpt", "text_graph+ckpt_index", "meta_graph"])
@pytest.mark.parametrize("name", ZOO_SLIM)
def test_zoo_slim_checkpoints_without_tf(zoo_built, name, form, tmp_path, caplog):
    case = zoo.get(name)
    forms = zoo.checkpoint_forms(case)
    prefix, output = forms["checkpoint"], case.outputs[0]
    if form == "binary_graph+ckpt":
        xml, log = _convert(tmp_path, forms["inference_graph_pb"], caplog,
                            input_checkpoint=prefix, output=output)
    elif form == "text_graph+ckpt_index":
        xml, log = _convert(tmp_path, forms["inference_graph_pbtxt"], caplog,
                            input_model_is_text=True, input_checkpoint=f"{prefix}.index",
                            output=output)
    else:
        xml, log = _convert(tmp_path, forms["meta_graph"], caplog, output=output)
    assert NOTF in log, log
    ref = np.load(case.reference)
    _check(xml, ref[next(iter(case.inputs))], ref[output])


@pytest.mark.zoo
def test_saved_model_path_imports_no_tensorflow(zoo_built, tmp_path):
    directory = zoo.saved_model_dir(zoo.get("keras3-MobileNetV2"))
    code = ("import sys; from tfconv.cli import main; rc = main(['convert', %r, '-o', %r, "
            "'--silent']); bad = [m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras', 'tf_keras')]; print(bad); sys.exit(rc or (3 if bad else 0))"
            ) % (str(directory), str(tmp_path / "ir"))
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "tensorflow" not in result.stderr
    assert (tmp_path / "ir").is_dir()


# --- small models of every format (built with TensorFlow) -------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    pytest.importorskip("tensorflow")
    import formatmodels as fm
    root = tmp_path_factory.mktemp("notf")
    return {
        "v1": fm.checkpoint_model(root / "v1", version=1, text=False),
        "v2": fm.checkpoint_model(root / "v2", version=2, text=True, resource=True),
        "v2ref": fm.checkpoint_model(root / "v2ref", version=2, text=False, resource=False),
        "meta": fm.meta_graph_model(root / "meta"),
        "tf1": fm.tf1_saved_model(root / "tf1_sm", ["serve"]),
        "tf2": fm.tf2_module_saved_model(root / "tf2_sm"),
        "tf_keras": fm.tf_keras_saved_model(root / "tf_keras_sm"),
        "keras3": fm.keras3_export(root / "keras3_sm"),
        "cond": _tf2_cond_saved_model(root / "cond_sm"),
        "gather": _tf2_gather_saved_model(root / "gather_sm"),
        "multi": _tf2_multi_io_saved_model(root / "multi_sm"),
        "partitioned": _partitioned_meta_graph(root / "partitioned"),
        "other": fm.unrelated_checkpoint(root),
    }


def _tf2_cond_saved_model(out: Path):
    """A tf.Module whose function holds a tf.cond on a constant (a StatelessIf, which the TF-free
    path lowers to a Switch/Merge that translation folds)."""
    import formatmodels as fm
    import tensorflow as tf
    rng = np.random.default_rng(9)

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(rng.standard_normal((3, 5)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 3], tf.float32, name="images")])
        def __call__(self, images):
            y = tf.reduce_mean(images, axis=[1, 2])
            y = tf.cond(tf.constant(False), lambda: y * 2.0, lambda: y + 1.0)
            return {"scores": tf.matmul(y, self.w)}

    net = Net()
    data = fm.feed(9)
    expected = net(tf.constant(data))["scores"].numpy()
    tf.saved_model.save(net, str(out), signatures={"serving_default": net.__call__})
    return out, data, expected


def _tf2_gather_saved_model(out: Path):
    """A tf.Module that looks rows up in a variable (tf.gather on a resource: ResourceGather)."""
    import tensorflow as tf
    rng = np.random.default_rng(10)

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.Variable(rng.standard_normal((50, 6)).astype(np.float32))
            self.w = tf.Variable(rng.standard_normal((6, 4)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 7], tf.int32, name="ids")])
        def __call__(self, ids):
            rows = tf.gather(self.table, ids)
            return {"scores": tf.matmul(tf.reduce_mean(rows, axis=1), self.w)}

    net = Net()
    data = rng.integers(0, 50, size=(3, 7)).astype(np.int32)
    expected = net(tf.constant(data))["scores"].numpy()
    tf.saved_model.save(net, str(out), signatures={"serving_default": net.__call__})
    return out, data, expected


def _tf2_multi_io_saved_model(out: Path):
    """Two inputs, three outputs (keys not in creation order), a captured eager constant."""
    import tensorflow as tf
    rng = np.random.default_rng(11)

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(rng.standard_normal((4, 3)).astype(np.float32))
            self.offset = tf.constant(rng.standard_normal((3,)).astype(np.float32))  # captured

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x"),
                                      tf.TensorSpec([None, 3], tf.float32, name="bias")])
        def __call__(self, x, bias):
            y = tf.matmul(x, self.w)
            return {"zeta": y + bias, "alpha": y * 2.0, "mid": tf.nn.relu(y + self.offset)}

    net = Net()
    data = [rng.standard_normal((2, 4)).astype(np.float32),
            rng.standard_normal((2, 3)).astype(np.float32)]
    result = net(*map(tf.constant, data))
    expected = {k: v.numpy() for k, v in result.items()}
    tf.saved_model.save(net, str(out), signatures={"serving_default": net.__call__})
    return out, data, expected


def _partitioned_meta_graph(out: Path):
    """A TF1 MetaGraph whose variable is partitioned (sliced in the checkpoint)."""
    import formatmodels as fm
    import tensorflow as tf
    v1 = tf.compat.v1
    out.mkdir(parents=True, exist_ok=True)
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 8, 8, 3], name="x")
        w = v1.get_variable("w", shape=(3, 6), partitioner=v1.fixed_size_partitioner(2),
                            initializer=v1.random_normal_initializer(seed=1))
        y = tf.identity(tf.matmul(tf.reduce_mean(x, axis=[1, 2]), w), name="logits")
        saver = v1.train.Saver()
        data = fm.feed(12)
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            expected = sess.run(y, {x: data})
            saver.save(sess, str(out / "model"))
    return out / "model.meta", data, expected


def test_multi_io_saved_model_matches_the_tensorflow_path(small, tmp_path, caplog):
    from tfconv_tf_frontend import formats, freeze, functions
    directory, data, expected = small["multi"]
    meta, tags, key, _ = formats.choose(directory, formats.read_saved_model(directory), None, None)
    ours = functions.freeze_saved_model_v2(directory, meta, key)
    theirs = freeze.freeze_saved_model_v2(directory, tags, key)
    assert ours.inputs == theirs.inputs, (ours.inputs, theirs.inputs)
    assert sorted(ours.inputs) == ["bias", "x"]
    assert ours.output_names == theirs.output_names == ["alpha", "mid", "zeta"]
    assert ours.outputs == theirs.outputs
    assert [n.op for n in ours.graph_def.node if n.name.startswith("captured/")] == ["Const"]
    xml, log = _convert(tmp_path, directory, caplog)
    assert NOTF in log, log
    feeds = dict(zip(["x", "bias"], data))
    actual = run_ir(xml, [feeds[n] for n in ours.inputs])  # IR inputs in the signature's order
    for got, k in zip(actual, ["alpha", "mid", "zeta"]):
        assert rel_err(got, expected[k]) <= TOLERANCE, k
    # Each IR output carries its signature key as a tensor name, on the right tensor.
    from ovrun import F32, core
    compiled = core().compile_model(str(xml), "CPU", F32)
    result = compiled([feeds[n] for n in ours.inputs])
    for k in ["alpha", "mid", "zeta"]:
        assert rel_err(result[compiled.output(k)], expected[k]) <= TOLERANCE, k


def test_partitioned_variable_falls_back_to_tensorflow(small, tmp_path, caplog):
    meta, data, expected = small["partitioned"]
    xml, log = _convert(tmp_path, meta, caplog, output="logits")
    assert "freezing with TensorFlow, the TF-free path cannot" in log and "partitioned" in log, log
    (actual,) = run_ir(xml, [data])
    assert rel_err(actual, expected) <= TOLERANCE


def test_resource_gather_becomes_a_gather_of_the_checkpoint_value(small, tmp_path, caplog):
    directory, data, expected = small["gather"]
    xml, log = _convert(tmp_path, directory, caplog)
    assert NOTF in log, log
    (actual,) = run_ir(xml, [data])
    assert rel_err(actual, expected) <= TOLERANCE


@pytest.mark.parametrize("kind", ["tf2", "tf_keras", "keras3"])
def test_tf2_saved_models_without_tf(small, kind, tmp_path, caplog):
    directory, data, expected = small[kind]
    xml, log = _convert(tmp_path, directory, caplog)
    assert "froze TF2 SavedModel" in log and NOTF in log, log
    _check(xml, data, expected)


@pytest.mark.parametrize("kind", ["tf2", "tf_keras", "keras3"])
def test_tf2_inputs_and_outputs_match_the_tensorflow_path(small, kind):
    from tfconv_tf_frontend import formats, freeze, functions
    directory = small[kind][0]
    meta, tags, key, tf2 = formats.choose(directory, formats.read_saved_model(directory), None, None)
    ours = functions.freeze_saved_model_v2(directory, meta, key)
    theirs = freeze.freeze_saved_model_v2(directory, tags, key)
    assert tf2 and ours.inputs == theirs.inputs and ours.output_names == theirs.output_names
    assert ours.outputs == theirs.outputs


def test_tf1_saved_model_without_tf(small, tmp_path, caplog):
    directory, data, expected = small["tf1"]
    xml, log = _convert(tmp_path, directory, caplog, saved_model_signature="probs")
    assert "froze TF1 SavedModel" in log and NOTF in log, log
    _check(xml, data, expected["probs"])


@pytest.mark.parametrize("kind", ["v2", "v2ref"])
def test_graph_with_v2_checkpoint_without_tf(small, kind, tmp_path, caplog):
    graph, prefix, data, expected = small[kind]
    xml, log = _convert(tmp_path, graph, caplog, input_checkpoint=str(prefix),
                        input_model_is_text=graph.suffix == ".pbtxt")
    assert NOTF in log, log
    _check(xml, data, expected)


def test_meta_graph_without_tf(small, tmp_path, caplog):
    meta, data, expected = small["meta"]
    xml, log = _convert(tmp_path, meta, caplog)
    assert "froze MetaGraph" in log and NOTF in log, log
    _check(xml, data, expected)
    xml, log = _convert(tmp_path, meta.with_suffix(".pbtxt"), caplog)  # text MetaGraph
    assert NOTF in log, log
    _check(xml, data, expected)


def test_v1_checkpoint_falls_back_to_tensorflow(small, tmp_path, caplog):
    graph, prefix, data, expected = small["v1"]
    xml, log = _convert(tmp_path, graph, caplog, input_checkpoint=str(prefix))
    assert "V1 checkpoints are read with TensorFlow" in log
    assert "(V1) with TensorFlow" in log
    _check(xml, data, expected)


def test_functional_control_flow_without_tf(small, tmp_path, caplog):
    """A StatelessIf is lowered by functional.py (tests/tf_frontend/test_ops_functional.py)."""
    directory, data, expected = small["cond"]
    xml, log = _convert(tmp_path, directory, caplog)
    assert "froze TF2 SavedModel cond_sm (tags serve, signature serving_default) without " \
        "TensorFlow" in log, log
    _check(xml, data, expected, nchw=False)  # no image op: the input keeps its NHWC layout


def test_checkpoint_of_another_graph_lists_the_variables(small, tmp_path):
    graph = small["v2ref"][0]
    other = small["other"]
    with pytest.raises(ModelFormatError) as err:
        tfconv.convert_model(graph, input_checkpoint=str(other))
    text = str(err.value)
    assert f"checkpoint {other} has no value for 9 variable(s)" in text
    assert "conv1/kernel" in text and "it holds e.g. other" in text
    assert "checkpoint that was saved with it" in text


def test_corrupt_index_says_so(small, tmp_path):
    graph, prefix, _, _ = small["v2ref"]
    bad = tmp_path / "model.ckpt"
    for f in Path(prefix).parent.iterdir():
        if f.name.startswith("model.ckpt."):
            (tmp_path / f.name).write_bytes(f.read_bytes())
    index = tmp_path / "model.ckpt.index"
    data = bytearray(index.read_bytes())
    data[5] ^= 0xFF
    index.write_bytes(bytes(data))
    out = tmp_path / "ir"
    result = subprocess.run([sys.executable, "-m", "tfconv.cli", "convert", str(graph),
                             "--input_checkpoint", str(bad), "-o", str(out)],
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert f"checkpoint index {index} is corrupt" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


_HIDE_TF = ("import sys; sys.modules['tensorflow'] = None; from tfconv.cli import main; "
            "sys.exit(main(['convert'] + sys.argv[1:]))")


def test_without_tensorflow_installed(small, tmp_path):
    """With TensorFlow unavailable, TF-free formats still convert; the others say why TF is
    needed (one line, non-zero exit, nothing written)."""
    ok = subprocess.run([sys.executable, "-c", _HIDE_TF, str(small["tf2"][0]), "-o",
                         str(tmp_path / "ok")], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr[-2000:]
    graph, prefix, _, _ = small["v1"]
    out = tmp_path / "ir"
    bad = subprocess.run([sys.executable, "-c", _HIDE_TF, str(graph), "--input_checkpoint",
                          str(prefix), "-o", str(out)], capture_output=True, text=True,
                         check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and not out.exists()
    assert "needs TensorFlow (it is a V1 checkpoint), which is not installed" in bad.stderr
    assert "pip install" in bad.stderr
