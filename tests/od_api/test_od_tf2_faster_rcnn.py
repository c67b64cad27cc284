"""A TF2 Faster R-CNN export (issue 17): ``faster_rcnn_resnet50_keras``, built by the Object
Detection API's TF2 model builder and exported by its ``exporter_lib_v2`` (``data/README.md``).

``../shared/fixtures/od_api_tf2`` has no Faster R-CNN: the Keras ResNet50 backbone has no width
setting, so a random-weight export is ~110 MB. This one is the same export with every kernel a
rotation of one shared random sequence, so it is stored compressed in
``data/faster_rcnn_resnet50_tf2.tar.xz`` (~1 MB); BatchNorm after each backbone conv rescales,
gamma/beta are random and the statistics and predictors calibrated, so its detections are
varied (20 per image, scores 0.3-0.7, 3 classes). The test unpacks it, converts it in both
layouts without the pipeline.config flag, and matches OpenVINO's detections with TensorFlow's,
run live from the SavedModel, on three images.
"""
from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from ovrun import core, ir_layer_types

from .test_od_fixtures import STANDARD, TOP, has_outputs, infer, output_names, scene
from .test_od_tf2 import match

pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

ARCHIVE = Path(__file__).parent / "data" / "faster_rcnn_resnet50_tf2.tar.xz"
SIZES = [(150, 200), (117, 205), (230, 149)]   # wide, wider, tall
LAYOUTS = ["nchw", "nhwc"]


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    """The unpacked export: ``<dir>/saved_model`` and ``<dir>/pipeline.config``."""
    root = tmp_path_factory.mktemp("frcnn_tf2")
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(root, filter="data")
    return root / "faster_rcnn_resnet50_tf2"


@pytest.fixture(scope="module")
def references(export):
    import tensorflow as tf
    fn = tf.saved_model.load(str(export / "saved_model")).signatures["serving_default"]
    cases = []
    for i, (h, w) in enumerate(SIZES):
        image = scene(h, w, i)
        out = fn(input_tensor=tf.constant(image))
        cases.append((image, {k: out[k].numpy() for k in STANDARD}))
    return cases


@pytest.fixture(scope="module")
def irs(export, tmp_path_factory):
    from tfconv.api import convert_model, save_model
    from tfconv.plugins import get_plugin_manager
    pm = get_plugin_manager()
    root = tmp_path_factory.mktemp("frcnn_tf2_ir")
    found = {}
    for layout in LAYOUTS:
        ir = convert_model(saved_model_dir=export / "saved_model", plugin_manager=pm,
                           disable_nhwc_to_nchw=layout == "nhwc")
        found[layout] = root / layout / "model.xml"
        save_model(ir, found[layout])
    return found


def test_references_are_not_degenerate(references):
    """Varied detections: 20 per image, several classes, spread scores."""
    for _, ref in references:
        assert int(ref["num_detections"][0]) == TOP
        assert len(set(ref["detection_classes"][0].tolist())) >= 2
        scores = ref["detection_scores"][0]
        assert scores.max() - scores.min() > 0.1


@pytest.mark.parametrize("layout", LAYOUTS)
def test_detections_match_tensorflow(layout, irs, references):
    xml = irs[layout]
    types = ir_layer_types(xml)
    assert not set(types) & {"Loop", "TensorIterator"}, sorted(set(types))
    assert types.count("NonMaxSuppression") == 2  # the first stage's and the second's
    names = output_names(xml)
    assert has_outputs(names, STANDARD), names
    model = core().read_model(str(xml))
    shapes = {n: out.get_partial_shape() for out in model.outputs for n in out.get_names()}
    assert all(shapes[n].is_static for n in STANDARD), {n: str(shapes[n]) for n in STANDARD}
    (param,) = model.inputs
    assert param.get_any_name() == "input_tensor"
    assert str(param.get_partial_shape()) == ("[1,3,?,?]" if layout == "nchw" else "[1,?,?,3]")
    for image, ref in references:
        got = infer(xml, image, layout)
        match(ref, got)
        np.testing.assert_allclose(got["detection_scores"], ref["detection_scores"], atol=2e-3)
