"""Zoo networks in their non-frozen forms (issue 3): every tf_slim net as a V2 checkpoint with its
binary and its text inference graph and as a MetaGraph; every Keras 3 and tf_keras app as a
SavedModel (Keras 3 ``model.export``; tf_keras ``tf.saved_model.save`` with every layer call
traced, or ``model.save(save_traces=False)``). Converted with the Python API, run by OpenVINO
(default NCHW layout, FP32) and compared with TensorFlow's outputs of the frozen graph (same
weights)."""
from __future__ import annotations


import numpy as np
import pytest

import tfconv
from models import zoo
from ovrun import rel_err, run_ir

pytest.importorskip("openvino")

SLIM_CASES = [f"slim-{n}" for n in zoo.SLIM_NETS]
SAVED_MODEL_CASES = [f"{family}-{app}" for family in ("keras3", "tf_keras")
                     for app in zoo.SAVED_MODEL_APPS]
CHECKPOINT_FORMS = ["binary_graph+ckpt", "text_graph+ckpt_index", "meta_graph"]
TOLERANCE = 1e-4

# (case, form) -> diagnosis of a known converter bug (marked xfail(strict=True)).
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module", autouse=True)
def _prebuild():
    zoo.prebuild(SLIM_CASES + SAVED_MODEL_CASES)


def _params(cases, forms):
    out = []
    for name in cases:
        for form in forms:
            marks = [pytest.mark.zoo]
            if (name, form) in KNOWN_FAILURES:
                marks.append(pytest.mark.xfail(reason=KNOWN_FAILURES[name, form], strict=True))
            out.append(pytest.param(name, form, marks=marks, id=f"{name}-{form}"))
    return out


def _convert_and_check(case, tmp_path, model, **options):
    graph = tfconv.convert_model(model, **options)
    (xml,) = [p for p in tfconv.save_model(graph, tmp_path / "m.xml") if p.suffix == ".xml"]
    ref = np.load(case.reference)
    x = ref[next(iter(case.inputs))]
    (actual,) = run_ir(xml, [np.transpose(x, (0, 3, 1, 2))])
    expected = ref[case.outputs[0]]
    assert np.std(expected) > 1e-3 * np.max(np.abs(expected)), "degenerate reference"
    err = rel_err(actual, expected)
    assert err <= TOLERANCE, f"{case.name}: rel err {err:.2e} > {TOLERANCE:.0e}"
    assert (actual.argmax(-1) == expected.argmax(-1)).all(), "top-1 differs"


@pytest.mark.zoo
@pytest.mark.parametrize("name, form", _params(SLIM_CASES, CHECKPOINT_FORMS))
def test_slim_checkpoint_forms(name, form, tmp_path):
    case = zoo.get(name)
    forms = zoo.checkpoint_forms(case)
    prefix = forms["checkpoint"]
    output = case.outputs[0]
    if form == "binary_graph+ckpt":
        _convert_and_check(case, tmp_path, forms["inference_graph_pb"],
                           input_checkpoint=prefix, output=output)
    elif form == "text_graph+ckpt_index":
        _convert_and_check(case, tmp_path, forms["inference_graph_pbtxt"],
                           input_model_is_text=True, input_checkpoint=f"{prefix}.index",
                           output=output)
    else:
        _convert_and_check(case, tmp_path, forms["meta_graph"], output=output)


@pytest.mark.zoo
@pytest.mark.parametrize("name, form", _params(SAVED_MODEL_CASES, ["saved_model"]))
def test_keras_saved_model(name, form, tmp_path):
    case = zoo.get(name)
    directory = zoo.saved_model_dir(case)
    assert directory is not None and (directory / "saved_model.pb").is_file()
    _convert_and_check(case, tmp_path, directory)


@pytest.mark.zoo
def test_forms_exposed_only_where_built():
    slim = zoo.get(SLIM_CASES[0])
    forms = zoo.checkpoint_forms(slim)
    assert set(forms) == {"inference_graph_pb", "inference_graph_pbtxt", "checkpoint",
                          "meta_graph"}
    assert forms["meta_graph"].is_file() and forms["inference_graph_pb"].is_file()
    assert forms["checkpoint"].with_name("model.ckpt.index").is_file()
    assert zoo.saved_model_dir(slim) is None
    keras = zoo.get(SAVED_MODEL_CASES[0])
    assert zoo.checkpoint_forms(keras) == {}
    assert zoo.saved_model_dir(keras) is not None
