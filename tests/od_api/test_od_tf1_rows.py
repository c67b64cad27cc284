"""Rows of the spec's Object Detection API table without a fixture in ``../shared/fixtures/od_api``
(issue 11): SSD MobileNet V1 PPN and SSD ResNet50 V1 FPN (RetinaNet), exported by the API's own
TF1 builder and exporter with compressible weights (``data/tf1_exports.tar.xz``, ~0.5 MB for
both; ``data/make_tf1_exports.py`` is how). Each frozen graph converts with
``--tensorflow_object_detection_api_pipeline_config`` in both layouts, is recognised from its
structure, and OpenVINO's detections match TensorFlow's on three images by the fixtures' bar
(top 20 by class, IoU >= 0.95, score within 2e-3, num_detections equal).
"""
from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from ovrun import ir_layer_types

from .test_od_fixtures import STANDARD, assert_varied, infer, match, scene, tf_run

pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

ARCHIVE = Path(__file__).parent / "data" / "tf1_exports.tar.xz"
NAMES = ["ssd_mobilenet_v1_ppn", "ssd_resnet50_v1_fpn"]
SIZES = [(150, 200), (117, 205), (230, 149)]
LAYOUTS = ["nchw", "nhwc"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tf1_rows")
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(root, filter="data")
    return root


@pytest.fixture(scope="module")
def references(exports):
    images = [scene(h, w, i) for i, (h, w) in enumerate(SIZES)]
    return {name: list(zip(images, tf_run(exports / name / "frozen_inference_graph.pb", images,
                                          STANDARD)))
            for name in NAMES}


@pytest.fixture(scope="module")
def irs(exports, tmp_path_factory):
    from tfconv.api import convert_model, save_model
    from tfconv.plugins import get_plugin_manager
    pm = get_plugin_manager()
    root = tmp_path_factory.mktemp("tf1_rows_ir")
    found = {}
    for name in NAMES:
        for layout in LAYOUTS:
            ir = convert_model(
                input_model=exports / name / "frozen_inference_graph.pb", plugin_manager=pm,
                tensorflow_object_detection_api_pipeline_config=exports / name / "pipeline.config",
                disable_nhwc_to_nchw=layout == "nhwc")
            found[name, layout] = root / f"{name}-{layout}" / "model.xml"
            save_model(ir, found[name, layout])
    return found


@pytest.mark.parametrize("name", NAMES)
def test_references_are_not_degenerate(name, references):
    """Varied detections: 20 per image, several classes, spread scores."""
    for _, ref in references[name]:
        assert_varied(ref, 0.05)


@pytest.mark.parametrize("name", NAMES)
def test_recognised_from_structure(name, exports):
    """Recognised as SSD from the graph alone; what the graph fixes is what the exporter's
    pipeline.config says."""
    from tfconv import pipeline
    from tfconv.config import ConvertConfig
    from tfconv.plugins import get_plugin_manager
    from tfconv_od_api.pipeline_config import load
    from tfconv_od_api.recognize import recognize
    graph = pipeline.load(get_plugin_manager(),
                          ConvertConfig(model=exports / name / "frozen_inference_graph.pb"))
    rec = recognize(graph)
    assert rec is not None and rec.kind == "ssd"
    cfg, f = load(exports / name / "pipeline.config"), rec.facts
    assert (f.num_classes, f.max_total_detections, f.score_converter, f.resizer) == \
        (cfg.num_classes, cfg.max_total_detections, cfg.score_converter, cfg.resizer)
    assert f.iou_threshold == pytest.approx(cfg.iou_threshold, rel=1e-6)


CASES = [pytest.param(n, lay, id=f"{n}-{lay}") for n in NAMES for lay in LAYOUTS]


@pytest.mark.parametrize(("name", "layout"), CASES)
def test_detections_match_tensorflow(name, layout, irs, references):
    xml = irs[name, layout]
    types = ir_layer_types(xml)
    assert not set(types) & {"Loop", "TensorIterator"}, sorted(set(types))
    for image, ref in references[name]:
        match(ref, infer(xml, image, layout))
