"""Object Detection API TF2 exports (``exporter_main_v2.py`` SavedModels; issue 17).

The three fixtures of ``../shared/fixtures/od_api_tf2`` (SSD MobileNet V2 FPNLite, CenterNet
MobileNet V2 FPN, EfficientDet-D0 tiny) convert in both layouts without
``--tensorflow_object_detection_api_pipeline_config`` (the exporter's pipeline.config beside
``saved_model/`` is used); OpenVINO's detections match TensorFlow's on the fixture's reference
image and on two images of other sizes and aspect ratios, run through the SavedModel's
``serving_default`` in TensorFlow once per module.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ovrun import core, ir_layer_types

from .test_od_fixtures import MIN_IOU, SCORE_TOL, STANDARD, TOP, has_outputs, infer, iou, \
    output_names, scene

pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("TFCONV_OD_TF2_FIXTURES",
                               ROOT.parent / "shared" / "fixtures" / "od_api_tf2"))
NAMES = ["od2_ssd_mobilenet_v2_fpnlite_tiny", "od2_centernet_tiny", "od2_efficientdet_d0_tiny"]
LAYOUTS = ["nchw", "nhwc"]
EXTRA_SIZES = [(117, 205), (230, 149)]   # wide and tall; the fixture images are square
# The signature's other outputs, after the four standard ones, in signature order.
EXTRA_OUTPUTS = {
    "od2_ssd_mobilenet_v2_fpnlite_tiny": ["detection_anchor_indices", "detection_multiclass_scores",
                                          "raw_detection_boxes", "raw_detection_scores"],
    "od2_centernet_tiny": ["detection_boxes_strided", "detection_multiclass_scores"],
    "od2_efficientdet_d0_tiny": ["detection_anchor_indices", "detection_multiclass_scores",
                                 "raw_detection_boxes", "raw_detection_scores"],
}
TFCONV = [sys.executable, "-m", "tfconv.cli"]

if not FIXTURES.is_dir():
    pytest.skip(f"no TF2 OD API fixtures at {FIXTURES}", allow_module_level=True)


@pytest.fixture(scope="module")
def references():
    """Per fixture: ``[(image, {output: array})]``: the stored reference, then TF's outputs of
    the SavedModel for two more images (one TF load per fixture, in this process)."""
    import tensorflow as tf
    found = {}
    for name in NAMES:
        stored = np.load(FIXTURES / name / "reference.npz")
        cases = [(stored["input_0"], {k: stored[k] for k in STANDARD})]
        fn = tf.saved_model.load(str(FIXTURES / name / "saved_model")).signatures["serving_default"]
        for i, (h, w) in enumerate(EXTRA_SIZES):
            image = scene(h, w, i + 1)
            out = fn(input_tensor=tf.constant(image))
            cases.append((image, {k: out[k].numpy() for k in STANDARD}))
        found[name] = cases
    return found


@pytest.fixture(scope="module")
def irs(tmp_path_factory):
    """``(name, layout) -> model.xml``, converted in process, without the pipeline.config flag."""
    from tfconv.api import convert_model, save_model
    from tfconv.plugins import get_plugin_manager
    pm = get_plugin_manager()
    root = tmp_path_factory.mktemp("od_tf2")
    found = {}
    for name in NAMES:
        for layout in LAYOUTS:
            ir = convert_model(saved_model_dir=FIXTURES / name / "saved_model", plugin_manager=pm,
                               disable_nhwc_to_nchw=layout == "nhwc")
            xml = root / f"{name}-{layout}" / "model.xml"
            save_model(ir, xml)
            found[name, layout] = xml
    return found


BOX_TOL = 1e-4   # degenerate boxes only (see match)


def match(tf: dict[str, np.ndarray], ir: dict[str, np.ndarray]) -> None:
    """test_od_fixtures.match's bar: each of TF's top 20 detections has an IR detection of its
    class with IoU >= 0.95 and a score within 2e-3; num_detections is equal. CenterNet clips
    boxes to the image, so a peak at the border gives a box of zero width (xmin = xmax = 1),
    whose IoU is undefined: such a box must equal the IR's within 1e-4 instead."""
    num = int(tf["num_detections"][0])
    assert int(ir["num_detections"][0]) == num, (ir["num_detections"], num)
    free = list(range(num))
    for i in range(min(TOP, num)):
        box, score, cls = (tf[k][0, i] for k in STANDARD[:3])

        def overlap(j: int) -> float:
            other = ir["detection_boxes"][0, j]
            if (box[2] - box[0]) * (box[3] - box[1]) <= 0:
                return 1.0 if np.abs(other - box).max() <= BOX_TOL else 0.0
            return iou(box, other)

        candidates = [(overlap(j), j) for j in free if ir["detection_classes"][0, j] == cls
                      and abs(ir["detection_scores"][0, j] - score) <= SCORE_TOL]
        best, j = max(candidates, default=(0.0, -1))
        assert best >= MIN_IOU, (f"TF detection {i} (class {cls:g}, score {score:.5f}, box "
                                 f"{box.tolist()}): no IR match (best IoU {best:.4f})")
        free.remove(j)


CASES = [pytest.param(n, lay, id=f"{n}-{lay}") for n in NAMES for lay in LAYOUTS]


@pytest.mark.parametrize(("name", "layout"), CASES)
def test_detections_match_tensorflow(name, layout, irs, references):
    xml = irs[name, layout]
    types = ir_layer_types(xml)
    assert not set(types) & {"Loop", "TensorIterator"}, sorted(set(types))
    if name == "od2_centernet_tiny":   # peaks: MaxPool + compare + TopK, no NMS
        assert {"MaxPool", "TopK"} <= set(types) and "NonMaxSuppression" not in types
    else:
        assert "NonMaxSuppression" in types
    names = output_names(xml)
    assert has_outputs(names, STANDARD + EXTRA_OUTPUTS[name]), names
    # the signature's static shapes (detections padded to max_total_detections) are kept
    model = core().read_model(str(xml))
    shapes = {n: out.get_partial_shape() for out in model.outputs for n in out.get_names()}
    assert all(shapes[n].is_static for n in STANDARD), {n: str(shapes[n]) for n in STANDARD}
    assert len(names) == len(STANDARD) + len(EXTRA_OUTPUTS[name]), names
    (param,) = core().read_model(str(xml)).inputs
    assert param.get_any_name() == "input_tensor"
    assert str(param.get_partial_shape()) == ("[1,3,?,?]" if layout == "nchw" else "[1,?,?,3]")
    assert param.get_element_type().get_type_name() == "u8"
    matched = 0
    for image, ref in references[name]:
        assert int(ref["num_detections"][0]) > 0
        match(ref, infer(xml, image, layout))
        matched += min(TOP, int(ref["num_detections"][0]))
    assert matched == 3 * TOP  # 20 detections on each image, every one matched


def test_irs_are_deterministic(irs, tmp_path):
    """The same SavedModel converts to byte-identical IR."""
    from tfconv.api import convert_model, save_model
    name = NAMES[0]
    ir = convert_model(saved_model_dir=FIXTURES / name / "saved_model")
    save_model(ir, tmp_path / "model.xml")   # the same name: it is written in the XML
    first = irs[name, "nchw"]
    assert (tmp_path / "model.xml").read_bytes() == first.read_bytes()
    assert (tmp_path / "model.bin").read_bytes() == first.with_suffix(".bin").read_bytes()


def _copy_export(src: Path, dst: Path, config_text: str) -> Path:
    """The fixture's saved_model/ (linked) with another pipeline.config beside it."""
    dst.mkdir()
    (dst / "saved_model").symlink_to(src / "saved_model", target_is_directory=True)
    (dst / "pipeline.config").write_text(config_text)
    return dst / "saved_model"


def test_pipeline_config_beside_is_used_and_said(tmp_path):
    src = FIXTURES / "od2_centernet_tiny"
    out = tmp_path / "out"
    run = subprocess.run([*TFCONV, "convert", "--saved_model_dir", str(src / "saved_model"),
                          "--output_dir", str(out), "--log_level", "INFO"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    used = [line for line in run.stderr.splitlines() if "using the exporter's" in line]
    assert len(used) == 1 and str(src / "pipeline.config") in used[0], run.stderr


@pytest.mark.parametrize(("name", "edit", "expected"), [
    pytest.param("od2_ssd_mobilenet_v2_fpnlite_tiny", ("num_classes: 3", "num_classes: 90"),
                 "num_classes: pipeline.config says 90", id="ssd-classes"),
    pytest.param("od2_efficientdet_d0_tiny", ("iou_threshold: 0.5", "iou_threshold: 0.6"),
                 "iou_threshold: pipeline.config says 0.6", id="efficientdet-iou"),
    pytest.param("od2_centernet_tiny", ("max_box_predictions: 20", "max_box_predictions: 100"),
                 "max_total_detections: pipeline.config says 100", id="centernet-max"),
    pytest.param("od2_centernet_tiny", ("max_dimension: 160", "max_dimension: 192"),
                 "the graph resizes with keep_aspect_ratio_resizer min 160 / max 160",
                 id="centernet-resizer"),
])
def test_mismatched_pipeline_config_is_one_line(name, edit, expected, tmp_path):
    src = FIXTURES / name
    text = (src / "pipeline.config").read_text()
    assert edit[0] in text
    model = _copy_export(src, tmp_path / "export", text.replace(edit[0], edit[1]))
    out = tmp_path / "out"
    run = subprocess.run([*TFCONV, "convert", "--saved_model_dir", str(model),
                          "--output_dir", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in run.stderr, run.stderr
    assert "does not match the graph" in lines[0]
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("flags", [["-b", "2"], ["--input_shape", "[4,320,320,3]"]],
                         ids=["batch", "input_shape"])
def test_a_batch_above_one_is_refused(flags, tmp_path):
    """The TF2 exporter's signature takes one image and its post-processing unstacks it: a
    larger batch would give the first image's detections only, so it is one clear line."""
    out = tmp_path / "out"
    run = subprocess.run([*TFCONV, "convert", "--saved_model_dir",
                          str(FIXTURES / "od2_ssd_mobilenet_v2_fpnlite_tiny" / "saved_model"),
                          "--output_dir", str(out), *flags],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "takes one image per call" in lines[0] and "run the images one at a time" in lines[0]
    assert not out.exists() or not any(out.iterdir())
