"""Every non-frozen TensorFlow format of the spec through the CLI: checkpoints (V1/V2, binary
and text graphs), MetaGraphs, SavedModels (TF1 with tags and signatures, TF2 tf.Module,
tf_keras model.save, Keras 3 model.export); the IR runs in OpenVINO and matches TensorFlow.
Bad inputs: one clear message, non-zero exit, no output directory."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

import formatmodels as fm  # noqa: E402
from cliassert import assert_clean_failure  # noqa: E402
from ovrun import rel_err, run_ir  # noqa: E402

TFCONV = [sys.executable, "-m", "tfconv.cli"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Every format, built once for the module."""
    root = tmp_path_factory.mktemp("formats")
    out = {}
    out["v1"] = fm.checkpoint_model(root / "v1", version=1, text=False)
    out["v2"] = fm.checkpoint_model(root / "v2", version=2, text=True, resource=True)
    out["meta"] = fm.meta_graph_model(root / "meta")
    out["tf1"] = fm.tf1_saved_model(root / "tf1_sm", ["train", "serve"])
    out["tf2"] = fm.tf2_module_saved_model(root / "tf2_sm")
    out["tf_keras"] = fm.tf_keras_saved_model(root / "tf_keras_sm")
    out["keras3"] = fm.keras3_export(root / "keras3_sm")
    return out


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*TFCONV, *map(str, args)], capture_output=True, text=True,
                          check=False, env=ENV)


def convert_ok(out_dir: Path, *args) -> tuple[Path, subprocess.CompletedProcess]:
    result = run("convert", *args, "-o", out_dir, "--log_level", "INFO")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    xmls = list(out_dir.glob("*.xml"))
    assert len(xmls) == 1, list(out_dir.iterdir())
    return xmls[0], result


def assert_matches(xml: Path, data: np.ndarray, expected: np.ndarray) -> None:
    assert np.std(expected) > 1e-3 * np.max(np.abs(expected)), "degenerate reference"
    (actual,) = run_ir(xml, [np.transpose(data, (0, 3, 1, 2))])
    err = rel_err(actual, expected)
    assert err <= 1e-4, f"rel err {err:.2e}"



# --- checkpoints -----------------------------------------------------------------------------


def test_v1_checkpoint_with_binary_graph(models, tmp_path):
    graph, prefix, data, expected = models["v1"]
    assert prefix.is_file()  # V1: one file
    xml, result = convert_ok(tmp_path / "ir", graph, "--input_checkpoint", prefix)
    assert "with checkpoint" in result.stderr and "(V1)" in result.stderr
    assert "Output logits:0: [?,5] float32" in result.stdout
    assert_matches(xml, data, expected)


@pytest.mark.parametrize("naming", ["prefix", "index", "data"])
def test_v2_checkpoint_with_text_graph(models, tmp_path, naming):
    graph, prefix, data, expected = models["v2"]
    given = {"prefix": str(prefix), "index": f"{prefix}.index",
             "data": f"{prefix}.data-00000-of-00001"}[naming]
    xml, result = convert_ok(tmp_path / "ir", "--input_model", graph, "--input_model_is_text",
                             "--input_checkpoint", given)
    assert f"with checkpoint {prefix} (V2)" in result.stderr
    assert_matches(xml, data, expected)


def test_missing_checkpoint(models, tmp_path):
    graph = models["v2"][0]
    out = tmp_path / "ir"
    result = run("convert", graph, "--input_checkpoint", tmp_path / "nothing.ckpt", "-o", out)
    assert_clean_failure(result, out, "has no .index/.data files", "pass the prefix, e.g. model.ckpt")
    assert len(result.stderr.splitlines()) == 1


def test_checkpoint_of_another_graph(models, tmp_path):
    graph = models["v1"][0]
    prefix = fm.unrelated_checkpoint(tmp_path)
    out = tmp_path / "ir"
    result = run("convert", graph, "--input_checkpoint", prefix, "-o", out)
    assert_clean_failure(result, out, f"checkpoint {prefix} has no value for 9 variable(s)",
                         "conv1/kernel")


def test_checkpoint_without_graph(models, tmp_path):
    prefix = models["v2"][1]
    out = tmp_path / "ir"
    result = run("convert", f"{prefix}.index", "-o", out)
    assert_clean_failure(result, out, "weights found (", "but no graph", "--input_checkpoint")


# --- MetaGraph -------------------------------------------------------------------------------


def test_meta_graph_positional(models, tmp_path):
    meta, data, expected = models["meta"]
    xml, result = convert_ok(tmp_path / "ir", meta)
    assert "froze MetaGraph model.meta with checkpoint model (V2)" in result.stderr
    assert_matches(xml, data, expected)


def test_text_meta_graph_without_meta_suffix(models, tmp_path):
    meta, data, expected = models["meta"]
    xml, result = convert_ok(tmp_path / "ir", meta.with_suffix(".pbtxt"))
    assert "froze MetaGraph model.pbtxt with checkpoint model (V2)" in result.stderr
    assert_matches(xml, data, expected)


def test_meta_graph_without_checkpoint(models, tmp_path):
    meta = shutil.copy(models["meta"][0], tmp_path / "lonely.meta")
    out = tmp_path / "ir"
    result = run("convert", meta, "-o", out)
    assert_clean_failure(result, out, "MetaGraph", "has no .index/.data files")


def test_meta_graph_with_checkpoint_elsewhere(models, tmp_path):
    meta, data, expected = models["meta"]
    moved = shutil.copy(meta, tmp_path / "net.meta")
    xml, result = convert_ok(tmp_path / "ir", moved, "--input_checkpoint", meta.with_suffix(""))
    assert "froze MetaGraph net.meta with checkpoint model (V2)" in result.stderr
    assert_matches(xml, data, expected)


def test_meta_graph_flag(models, tmp_path):
    meta, data, expected = models["meta"]
    result = run("convert", "--input_meta_graph", meta, "-o", tmp_path / "ir")
    assert result.returncode == 0, result.stderr[-3000:]
    (xml,) = (tmp_path / "ir").glob("*.xml")
    assert_matches(xml, data, expected)


# --- SavedModel ------------------------------------------------------------------------------


def test_tf2_module_saved_model(models, tmp_path):
    directory, data, expected = models["tf2"]
    xml, result = convert_ok(tmp_path / "ir", directory)
    assert "froze TF2 SavedModel tf2_sm (tags serve, signature serving_default)" in result.stderr
    assert "Input  images: [?,3,8,8] float32" in result.stdout
    assert "Output scores:0: [?,5] float32" in result.stdout  # named after the signature's key
    assert xml.name == "tf2_sm.xml"
    assert_matches(xml, data, expected)


def test_saved_model_dir_flag(models, tmp_path):
    directory, data, expected = models["tf2"]
    result = run("convert", "--saved_model_dir", directory, "-o", tmp_path / "ir")
    assert result.returncode == 0, result.stderr[-3000:]
    (xml,) = (tmp_path / "ir").glob("*.xml")
    assert_matches(xml, data, expected)


@pytest.mark.parametrize("kind", ["tf_keras", "keras3"])
def test_keras_saved_models(models, tmp_path, kind):
    directory, data, expected = models[kind]
    xml, result = convert_ok(tmp_path / "ir", directory)
    assert "froze TF2 SavedModel" in result.stderr
    assert_matches(xml, data, expected)


@pytest.mark.parametrize("signature, key", [("logits", "scores"), ("probs", "probabilities")])
def test_tf1_saved_model_tags_and_signature(models, tmp_path, signature, key):
    directory, data, expected = models["tf1"]
    xml, result = convert_ok(tmp_path / "ir", directory, "--saved_model_tags", "serve,train",
                             "--saved_model_signature", signature)
    assert f"froze TF1 SavedModel tf1_sm (tags serve,train, signature {signature})" in result.stderr
    assert f"Output {key}:0: [?,5] float32" in result.stdout
    assert_matches(xml, data, expected[signature])


LISTING = ["tag set 'train,serve'",
           "signature 'logits': inputs images=x:0 [?,8,8,3] float32 -> outputs scores=logits:0 [?,5] float32",
           "signature 'probs': inputs images=x:0 [?,8,8,3] float32 -> outputs probabilities=probs:0"]


def test_saved_model_wrong_tag(models, tmp_path):
    out = tmp_path / "ir"
    result = run("convert", models["tf1"][0], "--saved_model_tags", "custom", "-o", out)
    assert_clean_failure(result, out, "no MetaGraph with tag set 'custom'", "--saved_model_tags",
                         *LISTING)


def test_saved_model_default_tag_missing(models, tmp_path):
    out = tmp_path / "ir"
    result = run("convert", models["tf1"][0], "-o", out)
    assert_clean_failure(result, out, "no MetaGraph with tag set 'serve'", *LISTING)


def test_saved_model_unknown_signature(models, tmp_path):
    out = tmp_path / "ir"
    result = run("convert", models["tf1"][0], "--saved_model_tags", "train,serve",
                 "--saved_model_signature", "serving_default", "-o", out)
    assert_clean_failure(result, out, "has no signature 'serving_default'",
                         "--saved_model_signature", *LISTING)


def test_saved_model_ambiguous_signature(models, tmp_path):
    out = tmp_path / "ir"
    result = run("convert", models["tf1"][0], "--saved_model_tags", "train,serve", "-o", out)
    assert_clean_failure(result, out, "has 2 signatures and none is 'serving_default'",
                         "--saved_model_signature", *LISTING)


def test_saved_model_pb_file_still_points_to_the_directory(models, tmp_path):
    directory = models["tf2"][0]
    out = tmp_path / "ir"
    result = run("convert", directory / "saved_model.pb", "-o", out)
    assert_clean_failure(result, out, "pass its directory", "--saved_model_dir")


def test_listing_reads_no_tensorflow(models):
    """The tag/signature listing comes from our own schema (checked in a fresh interpreter)."""
    code = ("import sys; from pathlib import Path; from tfconv_tf_frontend import formats;"
            f"print(formats.listing(formats.read_saved_model(Path({str(models['tf1'][0])!r}))));"
            "sys.exit(3 if [m for m in sys.modules if m.split('.')[0] == 'tensorflow'] else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    for line in LISTING:
        assert line in result.stdout
