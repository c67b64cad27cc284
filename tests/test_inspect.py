"""``tfconv inspect``: format, signatures, inputs, outputs, op histogram, unsupported ops,
topology and quantization findings, text and ``--json``; it writes no file anywhere, and bad
input fails cleanly.

Models: the zoo's Keras 3 MobileNetV2 SavedModel and Slim inception_v1 checkpoint forms, a TF1
SavedModel with two signatures and no default, a graph with op types no plugin translates and a
FakeQuant graph, all built with TensorFlow."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

sys.path.insert(0, str(Path(__file__).parent / "tf_frontend"))

import formatmodels as fm  # noqa: E402
from models import zoo  # noqa: E402

TFCONV = [sys.executable, "-m", "tfconv.cli"]
FQ_TYPES = ("FakeQuantWithMinMaxArgs", "FakeQuantWithMinMaxVars",
            "FakeQuantWithMinMaxVarsPerChannel")


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``roots`` with its size and modification time."""
    out = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(root.rglob("*"))
        for p in paths:
            st = p.stat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def inspect(tmp_path: Path, *args, watch: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``tfconv inspect`` in an empty working directory; assert that it wrote nothing
    there, nor next to the model (``watch``)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    before = _snapshot(*watch)
    result = subprocess.run([*TFCONV, "inspect", *map(str, args)], capture_output=True,
                            text=True, cwd=cwd, check=False,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert list(cwd.iterdir()) == [], "inspect wrote files into the working directory"
    assert _snapshot(*watch) == before, "inspect changed files next to the model"
    return result


def inspect_json(tmp_path: Path, *args, watch: tuple[Path, ...] = ()) -> dict:
    result = inspect(tmp_path, *args, "--json", watch=watch)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def findings(report: dict, kind: str) -> list[dict]:
    return [f for f in report["findings"] if f["kind"] == kind]


# --- models -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tf1_saved_model(tmp_path_factory) -> Path:
    path, _, _ = fm.tf1_saved_model(tmp_path_factory.mktemp("tf1") / "sm", ["serve"])
    return path


@pytest.fixture(scope="module")
def unsupported_graph(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    """x -> Cumprod -> Igamma(., x) -> Igamma(., x) -> Relu -> out: Cumprod and Igamma have no
    translator (``tfconv ops``); returns the .pb and {op type: node names} counted in TF."""
    import tensorflow as tf
    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 6], name="x")
        y = tf.math.cumprod(x, axis=1, name="running_product")
        y = tf.math.igamma(y, x, name="gamma_a")
        y = tf.math.igamma(y, x, name="gamma_b")
        tf.identity(tf.nn.relu(y), name="out")
    path = tmp_path_factory.mktemp("unsupported") / "model.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    from tfconv.plugins import get_plugin_manager, translators
    translated = translators(get_plugin_manager()).owners("tf")
    expected: dict[str, list[str]] = {}
    for op in g.get_operations():
        if op.type not in translated:
            expected.setdefault(op.type, []).append(op.name)
    assert expected, "every op of the graph is translated now: pick other ops (tfconv ops)"
    return path, dict(sorted(expected.items()))


@pytest.fixture(scope="module")
def fakequant_graph(tmp_path_factory) -> tuple[Path, Counter]:
    """quantnets' MobileNet-like FakeQuant net on an input of unknown height and width;
    returns the .pb and the FakeQuant counts by (op type, bits, narrow range) read from TF."""
    from quantnets import mobilenet_like, tf
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, None, None, 3], name="image")
        mobilenet_like(x)
    counts: Counter = Counter()
    for op in g.get_operations():
        if op.type in FQ_TYPES:
            counts[(op.type, op.get_attr("num_bits"), op.get_attr("narrow_range"))] += 1
    path = tmp_path_factory.mktemp("fq") / "quantized.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    return path, counts


# --- Keras SavedModel -------------------------------------------------------------------------


@pytest.mark.zoo
def test_keras_saved_model(tmp_path):
    case = zoo.get("keras3-MobileNetV2")
    directory = zoo.saved_model_dir(case)
    report = inspect_json(tmp_path, directory, watch=(directory,))
    assert report["loaded"] and report["load_error"] is None
    (fmt,) = findings(report, "format")
    assert fmt["title"] == "TF2 SavedModel" and fmt["plugin"] == "tf_frontend"
    sigs = {f["data"]["signature"]: f for f in findings(report, "signature")}
    assert set(sigs) == {"serve", "serving_default"}
    default = sigs["serving_default"]
    assert default["data"]["selected"] and not sigs["serve"]["data"]["selected"]
    assert default["flags"] == ["--saved_model_signature", "serving_default"]
    assert default["data"]["inputs"] == {
        "keras_tensor": "serving_default_keras_tensor:0 [?,224,224,3] float32"}
    (out_key,) = default["data"]["outputs"]
    assert default["data"]["outputs"][out_key].endswith("[?,1000] float32")
    assert report["inputs"] == [{"name": "keras_tensor", "shape": [None, 224, 224, 3],
                                 "dtype": "float32", "op_type": "Placeholder"}]
    assert [o["name"] for o in report["outputs"]] == [f"{out_key}:0"]
    # The architecture's op counts equal those of the zoo's frozen graph of the same net.
    frozen = zoo.meta(case.name)["op_counts"]
    for op_type in ("Conv2D", "DepthwiseConv2dNative", "Relu6", "MatMul", "Pad", "Rsqrt"):
        assert report["op_types"][op_type] == frozen[op_type], op_type
    assert sum(report["op_types"].values()) == report["nodes"]
    assert report["unsupported"] == {}
    assert findings(report, "topology") == [] and findings(report, "quantization") == []

    text = inspect(tmp_path, directory, watch=(directory,))
    assert text.returncode == 0, text.stderr
    out = text.stdout
    for line in ("Format:", "  TF2 SavedModel  (tf_frontend)", "Signatures:",
                 "  'serving_default' (tag set 'serve'), converted by default  (tf_frontend)",
                 "    flags: --saved_model_signature serve",
                 "  keras_tensor  [?,224,224,3] float32",
                 f"Op types ({report['nodes']} nodes, {len(report['op_types'])} types):",
                 f"  Conv2D                 {frozen['Conv2D']}",
                 "Unsupported op types: none (a translator exists for every op the outputs need)",
                 "Topology: none recognised"):
        assert line in out.splitlines(), f"{line!r} not in:\n{out}"


# --- TF1 SavedModel with two signatures ------------------------------------------------------


def test_saved_model_without_default_signature(tmp_path, tf1_saved_model):
    report = inspect_json(tmp_path, tf1_saved_model, watch=(tf1_saved_model,))
    assert not report["loaded"]
    assert "--saved_model_signature" in report["load_error"]
    (fmt,) = findings(report, "format")
    assert fmt["title"] == "TF1 SavedModel"
    assert any("pick one with --saved_model_signature NAME" in d for d in fmt["details"])
    sigs = {f["data"]["signature"]: f for f in findings(report, "signature")}
    assert set(sigs) == {"logits", "probs"}
    assert sigs["logits"]["data"]["outputs"] == {"scores": "logits:0 [?,5] float32"}
    assert sigs["probs"]["data"]["outputs"] == {"probabilities": "probs:0 [?,5] float32"}
    for key, f in sigs.items():
        assert f["flags"] == ["--saved_model_signature", key]
        assert f["data"]["inputs"] == {"images": "x:0 [?,8,8,3] float32"}
        assert not f["data"]["selected"]
    assert report["inputs"] == [] and report["op_types"] == {}

    text = inspect(tmp_path, tf1_saved_model, watch=(tf1_saved_model,))
    assert text.returncode == 0
    assert "Graph: not loaded:" in text.stdout
    assert "    flags: --saved_model_signature probs" in text.stdout.splitlines()

    # The flag the finding suggests picks that signature, and the graph loads.
    chosen = inspect_json(tmp_path, tf1_saved_model, "--saved_model_signature", "probs",
                          watch=(tf1_saved_model,))
    assert chosen["loaded"]
    sigs = {f["data"]["signature"]: f["data"]["selected"] for f in findings(chosen, "signature")}
    assert sigs == {"logits": False, "probs": True}
    assert [i["name"] for i in chosen["inputs"]] == ["x"]
    assert [o["name"] for o in chosen["outputs"]] == ["probabilities:0"]
    assert chosen["op_types"]["Softmax"] == 1 and chosen["op_types"]["Conv2D"] == 2


# --- Slim checkpoint -------------------------------------------------------------------------


@pytest.mark.zoo
def test_slim_checkpoint(tmp_path):
    case = zoo.get("slim-inception_v1")
    forms = zoo.checkpoint_forms(case)
    prefix = forms["checkpoint"]
    ckpt_dir = Path(prefix).parent
    watch = (ckpt_dir, forms["inference_graph_pb"])
    report = inspect_json(tmp_path, "--input_model", forms["inference_graph_pb"],
                          "--input_checkpoint", prefix, watch=watch)
    (fmt,) = findings(report, "format")
    assert fmt["title"] == "inference graph (binary GraphDef) with a V2 checkpoint"
    assert report["inputs"] == [{"name": "input", "shape": [None, 224, 224, 3],
                                 "dtype": "float32", "op_type": "Placeholder"}]
    assert case.outputs[0] + ":0" in [o["name"] for o in report["outputs"]]
    (topo,) = findings(report, "topology")
    assert topo["plugin"] == "slim" and "inception_v1" in topo["title"]
    assert "--mean_values" in topo["flags"] and "--mean_values" in report["suggested_flags"]
    frozen = zoo.meta(case.name)["op_counts"]
    assert report["op_types"]["Conv2D"] == frozen["Conv2D"]
    assert report["unsupported"] == {}

    meta = inspect_json(tmp_path, forms["meta_graph"], watch=watch)
    assert findings(meta, "format")[0]["title"] == "MetaGraph (binary)"
    assert meta["op_types"]["Conv2D"] == frozen["Conv2D"]

    # The checkpoint alone: described, and the flag to use instead is suggested.
    weights = inspect(tmp_path, prefix, watch=watch)
    assert weights.returncode == 0, weights.stderr
    assert "TensorFlow V2 checkpoint (weights only, no graph)" in weights.stdout
    assert f"    flags: --input_meta_graph {forms['meta_graph']}" in weights.stdout.splitlines()


# --- unsupported op types -------------------------------------------------------------------


def test_unsupported_ops(tmp_path, unsupported_graph):
    path, expected = unsupported_graph
    total = sum(len(names) for names in expected.values())
    report = inspect_json(tmp_path, path, watch=(path,))
    assert report["unsupported"] == expected
    assert findings(report, "format")[0]["title"] == "frozen GraphDef (binary)"
    for op_type, names in expected.items():
        assert report["op_types"][op_type] == len(names)
    listed = [f"  {op_type} x{len(names)}: {', '.join(names)}" for op_type, names in expected.items()]
    text = inspect(tmp_path, path, watch=(path,)).stdout.splitlines()
    assert (f"Unsupported op types ({len(expected)} type(s) in {total} node(s); no installed "
            "plugin translates them):") in text
    assert all(line in text for line in listed), text
    # the same graph as a text GraphDef
    import tensorflow as tf
    text_path = tmp_path / "model.pbtxt"
    text_path.write_text(str(tf.compat.v1.GraphDef.FromString(path.read_bytes())))
    as_text = inspect_json(tmp_path, "--input_model", text_path, "--input_model_is_text",
                           watch=(text_path,))
    assert findings(as_text, "format")[0]["title"] == "frozen GraphDef (text)"
    assert as_text["unsupported"] == expected and as_text["op_types"] == report["op_types"]
    # convert fails on the same op types and nodes, and writes nothing
    out_dir = tmp_path / "ir"
    conv = subprocess.run([*TFCONV, "convert", str(path), "-o", str(out_dir)],
                          capture_output=True, text=True, check=False)
    assert conv.returncode != 0 and not out_dir.exists()
    lines = conv.stderr.splitlines()
    assert all(" " * 10 + line in lines for line in listed), conv.stderr


# --- FakeQuant --------------------------------------------------------------------------------


def test_fakequant(tmp_path, fakequant_graph):
    path, counts = fakequant_graph
    report = inspect_json(tmp_path, path, watch=(path,))
    (quant,) = findings(report, "quantization")
    assert quant["plugin"] == "tf_frontend"
    assert quant["data"]["total"] == sum(counts.values()) > 0
    expected: dict[str, dict[str, int]] = {}
    for (op_type, bits, narrow), n in counts.items():
        label = f"{bits}-bit" + (" narrow range" if narrow else "")
        expected.setdefault(op_type, {})[label] = n
    assert quant["data"]["counts"] == expected
    # The input has unknown height and width: the flags to fix them are suggested.
    assert quant["flags"] == ["--input", "image", "--input_shape", "[1,HEIGHT,WIDTH,3]"]
    assert report["suggested_flags"] == quant["flags"]
    assert report["inputs"] == [{"name": "image", "shape": [None, None, None, 3],
                                 "dtype": "float32", "op_type": "Placeholder"}]
    assert report["unsupported"] == {}
    text = inspect(tmp_path, path, watch=(path,)).stdout.splitlines()
    assert "Quantization:" in text
    n4 = expected["FakeQuantWithMinMaxVars"]["4-bit narrow range"]
    assert any(line.startswith("    FakeQuantWithMinMaxVars x") and f"4-bit narrow range x{n4}"
               in line for line in text), text


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["missing", "directory", "text", "no_model", "bad_dir_flag",
                                  "writing_flag"])
def test_bad_input(tmp_path, kind):
    other = tmp_path / "dir"
    other.mkdir()
    (other / "notes.txt").write_text("hello\n")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("these are notes\n")
    args, needle = {
        "missing": ([tmp_path / "nope.pb"], "does not exist"),
        "directory": ([other], "directory"),
        "text": ([text_file], "not a TensorFlow GraphDef"),
        "no_model": ([], "no model given"),
        "bad_dir_flag": (["--saved_model_dir", other], "not a SavedModel directory"),
        "writing_flag": ([text_file, "--tensorboard_logdir", tmp_path / "tb"], "tensorboard_logdir"),
    }[kind]
    result = inspect(tmp_path, *args, watch=(other, text_file))
    assert result.returncode != 0
    assert result.stderr.startswith("[ ERROR ]"), result.stderr
    assert needle in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "tb").exists()


def test_describe_hook_failure_does_not_hide_others(tmp_path, unsupported_graph):
    """A plugin whose describe hook raises is reported as a note; the others still report."""
    plugin = tmp_path / "broken_describe.py"
    plugin.write_text("from tfconv import hookimpl\n\n\n@hookimpl\n"
                      "def tfconv_describe_model(path, config, graph):\n"
                      "    raise RuntimeError('boom')\n")
    path, expected = unsupported_graph
    env = {**os.environ, "TFCONV_PLUGINS": "broken_describe", "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([*TFCONV, "inspect", str(path), "--json"], capture_output=True,
                            text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["problems"] == ["plugin broken_describe could not describe the model: "
                                  "RuntimeError: boom"]
    assert findings(report, "format")[0]["plugin"] == "tf_frontend"
    assert report["unsupported"] == expected
    np.testing.assert_equal(sum(report["op_types"].values()), report["nodes"])


def test_contradicting_flags_fail(tmp_path, tf1_saved_model, unsupported_graph):
    """Flags convert would reject are errors, not a partial description."""
    path, _ = unsupported_graph
    for args, needle in (
            ([tf1_saved_model, "--saved_model_dir", path.parent], "two models given"),
            ([tf1_saved_model, "--input_checkpoint", tmp_path / "m.ckpt"],
             "--input_checkpoint goes with an inference graph")):
        result = inspect(tmp_path, *args, watch=(tf1_saved_model, path))
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.startswith("[ ERROR ]") and needle in result.stderr, result.stderr
