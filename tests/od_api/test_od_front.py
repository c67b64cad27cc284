"""The od_api plugin's front: pipeline.config reading, recognising Object Detection API graphs
(meta-architecture, input, outputs, what the graph fixes) from their structure, the checks of
the flag and the config against the graph, the legacy recipe notice, ``inspect``, and no Slim
advice on OD backbones.

The graphs are the five fixtures of ``../shared/fixtures/od_api`` (loaded once per module, in
each of their three forms); the bad-input cases run the real command line.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cliassert import assert_clean_failure
from tfconv import pipeline, plugins
from tfconv.config import ConvertConfig
from tfconv.graph import Graph, Port
from tfconv_od_api import checks
from tfconv_od_api.pipeline_config import OdConfigError, load, parse
from tfconv_od_api.recognize import recognize
from tfconv_slim import topology

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("TFCONV_OD_FIXTURES", ROOT.parent / "shared" / "fixtures" / "od_api"))
KINDS = {"ssd_mobilenet_v2_tiny": "ssd", "ssd_mobilenet_v1_fpn_tiny": "ssd",
         "faster_rcnn_inception_v2_tiny": "faster_rcnn", "mask_rcnn_inception_v2_tiny": "mask_rcnn",
         "rfcn_tiny": "rfcn"}
FORMS = {"frozen": "frozen_inference_graph.pb", "meta": "model.ckpt.meta", "saved_model": "saved_model"}
FLAG = "--tensorflow_object_detection_api_pipeline_config"
TFCONV = [sys.executable, "-m", "tfconv.cli"]
SSD = FIXTURES / "ssd_mobilenet_v2_tiny"


def convert(*args, cwd=None) -> subprocess.CompletedProcess:
    return run("convert", *args, cwd=cwd)


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([*TFCONV, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env, check=False)


def one_line_failure(result, out: Path, *needles: str) -> str:
    err = assert_clean_failure(result, out, *needles)
    assert len(err.strip().splitlines()) == 1, err
    return err


# -- pipeline.config: the fixtures ---------------------------------------------------------


@pytest.mark.parametrize("name", list(KINDS))
def test_fixture_configs_parse(name):
    cfg = load(FIXTURES / name / "pipeline.config")
    assert cfg.kind == KINDS[name]
    assert cfg.meta_arch == ("ssd" if cfg.kind == "ssd" else "faster_rcnn")
    assert cfg.num_classes == 3
    assert cfg.iou_threshold == pytest.approx(0.6)
    assert cfg.source == FIXTURES / name / "pipeline.config"
    assert "model" in cfg.raw and "eval_config" in cfg.raw  # fields tfconv does not use are kept
    if cfg.kind == "ssd":
        assert cfg.resizer == "fixed_shape" and cfg.score_converter == "SIGMOID"
        assert cfg.box_coder == "faster_rcnn_box_coder" and cfg.box_coder_scales == (10, 10, 5, 5)
        assert cfg.first_stage_max_proposals is None
    else:
        assert cfg.resizer == "keep_aspect_ratio" and cfg.score_converter == "SOFTMAX"
        assert cfg.anchor_generator == "grid_anchor_generator"
        assert cfg.anchor["height_stride"] == 16 and cfg.anchor["aspect_ratios"] == [0.5, 1.0, 2.0]


def test_fixture_config_values():
    ssd = load(SSD / "pipeline.config")
    assert (ssd.height, ssd.width, ssd.max_detections_per_class, ssd.max_total_detections) == (160, 160, 20, 20)
    assert ssd.anchor_generator == "ssd_anchor_generator" and ssd.anchor["num_layers"] == 6
    assert ssd.anchor["min_scale"] == 0.2 and ssd.anchor["reduce_boxes_in_lowest_layer"] is True
    assert ssd.raw["model"]["ssd"]["feature_extractor"]["type"] == "ssd_mobilenet_v2"
    fpn = load(FIXTURES / "ssd_mobilenet_v1_fpn_tiny" / "pipeline.config")
    assert fpn.anchor_generator == "multiscale_anchor_generator"
    assert (fpn.anchor["min_level"], fpn.anchor["max_level"], fpn.anchor["scales_per_octave"]) == (3, 7, 2)
    mask = load(FIXTURES / "mask_rcnn_inception_v2_tiny" / "pipeline.config")
    assert (mask.min_dimension, mask.max_dimension, mask.pad_to_max_dimension) == (128, 192, False)
    assert (mask.mask_height, mask.mask_width, mask.initial_crop_size) == (8, 8, 14)
    assert (mask.first_stage_max_proposals, mask.max_total_detections) == (20, 12)
    rfcn = load(FIXTURES / "rfcn_tiny" / "pipeline.config")
    assert rfcn.rfcn_crop_size == (6, 6) and rfcn.rfcn_spatial_bins == (3, 3)
    assert rfcn.anchor["scales"] == [0.25, 0.5, 1.0, 2.0]


# -- pipeline.config: hand-written text ------------------------------------------------------


def test_text_format_forms():
    text = """
    # a comment line
    model {                       # trailing comment
      ssd: {
        num_classes: 0x5a ;       # hex, ';' separator
        image_resizer < fixed_shape_resizer { height: 300, width: 300 } >
        anchor_generator { ssd_anchor_generator { aspect_ratios: [1.0, 2.0, 0.5f] scales: 0.1 scales: .2 } }
        post_processing { batch_non_max_suppression { score_threshold: -1e-8 iou_threshold: 6e-1 }
                          score_converter: SIGMOID }
        name: "it's " 'a "name"\\n'
        [some.extension.field] { flag: true value: inf other: -inf }
        unknown_field_kept: { nested: [ {a: 1}, {a: 2} ] }
        empty_list: []
        add_background_class: False
      }
    }
    """
    tree = parse(text)
    ssd = tree["model"]["ssd"]
    assert ssd["num_classes"] == 90
    assert ssd["image_resizer"] == {"fixed_shape_resizer": {"height": 300, "width": 300}}
    assert ssd["anchor_generator"]["ssd_anchor_generator"] == {"aspect_ratios": [1.0, 2.0, 0.5],
                                                               "scales": [0.1, 0.2]}
    assert ssd["post_processing"]["batch_non_max_suppression"] == {"score_threshold": -1e-8,
                                                                   "iou_threshold": 0.6}
    assert ssd["name"] == "it's a \"name\"\n"
    assert ssd["[some.extension.field]"] == {"flag": True, "value": float("inf"), "other": float("-inf")}
    assert ssd["unknown_field_kept"] == {"nested": [{"a": 1}, {"a": 2}]}
    assert ssd["empty_list"] == [] and ssd["add_background_class"] is False


def test_defaults_and_repeated_single_values(tmp_path):
    path = tmp_path / "pipeline.config"
    path.write_text("model { faster_rcnn { num_classes: 7 image_resizer { keep_aspect_ratio_resizer {} }\n"
                    "first_stage_anchor_generator { grid_anchor_generator { scales: 1.0 } } } }\n")
    cfg = load(path)
    assert (cfg.kind, cfg.num_classes) == ("faster_rcnn", 7)
    assert (cfg.min_dimension, cfg.max_dimension) == (600, 1024)   # the proto's defaults
    assert (cfg.first_stage_max_proposals, cfg.max_total_detections) == (300, 100)
    assert cfg.score_converter == "IDENTITY" and cfg.iou_threshold == 0.6
    assert cfg.anchor["scales"] == [1.0] and cfg.anchor["height"] == 256


SYNTAX_ERRORS = [
    # (text, line, column, what is expected)
    ("model {\n  ssd {\n    num_classes 3\n", 3, 17, "':' or '{' after the field name 'num_classes'"),
    ("model {\n  ssd {\n    num_classes: 3\n  }\n", 5, 1, "'}' to close the message"),
    ("model { }\n}\n", 2, 1, "a field name"),
    ("model {\n  name: \"unterminated\n}\n", 2, 9, "a closing quote on the same line"),
    ("model {\n  type: \u201cssd\u201d\n}\n", 2, 9, "a field name or value"),
    ("a: [1, 2\nb: 3\n", 2, 1, "',' or ']' in the list"),
    ("a: }\n", 1, 4, "a value"),
    ("[ext.name { }\n", 1, 11, "an extension name and ']'"),
]


@pytest.mark.parametrize("text,line,col,expected", SYNTAX_ERRORS,
                         ids=["no-colon", "unclosed", "extra-brace", "open-string", "curly-quote",
                              "open-list", "no-value", "open-extension"])
def test_syntax_error_names_line_and_column(tmp_path, text, line, col, expected):
    path = tmp_path / "pipeline.config"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(OdConfigError) as info:
        load(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: line {line}, column {col}: expected {expected}"), msg
    assert "\n" not in msg


@pytest.mark.parametrize("text,needle", [
    ("train_config { batch_size: 1 }\n", "no 'model { ... }' block"),
    ("model { yolo { num_classes: 3 } }\n", "meta-architecture 'yolo' is not supported"),
    ("model { ssd { image_resizer { fixed_shape_resizer { } } } }\n", "model.ssd.num_classes is missing"),
    ("model { ssd { num_classes: \"three\" } }\n", "model.ssd.num_classes is 'three', expected a number"),
    ("model { ssd { num_classes: 2.5 } }\n", "model.ssd.num_classes is 2.5"),
], ids=["no-model", "unknown-arch", "no-classes", "string-classes", "float-classes"])
def test_config_content_errors(tmp_path, text, needle):
    path = tmp_path / "pipeline.config"
    path.write_text(text)
    with pytest.raises(OdConfigError, match="^" + str(path).replace(".", r"\.")) as info:
        load(path)
    assert needle in str(info.value)


def test_unreadable_configs(tmp_path):
    with pytest.raises(OdConfigError, match="does not exist"):
        load(tmp_path / "missing.config")
    (tmp_path / "exported").mkdir()
    shutil.copy(SSD / "pipeline.config", tmp_path / "exported" / "pipeline.config")
    with pytest.raises(OdConfigError, match="is a directory.*holds .*pipeline.config: pass that"):
        load(tmp_path / "exported")
    binary = tmp_path / "frozen.config"
    binary.write_bytes((SSD / "frozen_inference_graph.pb").read_bytes()[:4096])
    with pytest.raises(OdConfigError, match="not UTF-8 text|binary data"):
        load(binary)


# -- recognition -----------------------------------------------------------------------------

_GRAPHS: dict = {}


def loaded(name: str, form: str) -> Graph:
    """The fixture's source graph as tfconv loads it (cached for the module)."""
    if (name, form) not in _GRAPHS:
        pm = plugins.get_plugin_manager()
        path = FIXTURES / name / FORMS[form]
        options = {"input_meta_graph": str(path)} if form == "meta" else {}
        _GRAPHS[name, form] = pipeline.load(pm, ConvertConfig(model=path, options=options))
    return _GRAPHS[name, form]


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("name", list(KINDS))
def test_fixture_recognised(name, form):
    graph = loaded(name, form)
    rec = recognize(graph)
    assert rec is not None and rec.kind == KINDS[name]
    assert rec.image_input == "image_tensor"
    expected = ["detection_boxes", "detection_scores", "detection_classes", "num_detections"]
    assert list(rec.outputs) == expected + (["detection_masks"] if rec.kind == "mask_rcnn" else [])
    # what the graph fixes is what the exporter's pipeline.config says
    cfg = load(FIXTURES / name / "pipeline.config")
    f = rec.facts
    assert f.num_classes == cfg.num_classes
    assert f.iou_threshold == pytest.approx(cfg.iou_threshold, rel=1e-6)
    assert f.score_threshold == pytest.approx(cfg.score_threshold, rel=1e-6, abs=1e-9)
    assert (f.max_detections_per_class, f.max_total_detections) == \
        (cfg.max_detections_per_class, cfg.max_total_detections)
    assert f.score_converter == cfg.score_converter and f.resizer == cfg.resizer
    if cfg.resizer == "fixed_shape":
        assert f.resize_size == (cfg.height, cfg.width)
    else:
        assert f.resize_range == (cfg.min_dimension, cfg.max_dimension)
    if rec.kind == "ssd":
        assert f.box_coder_scales == cfg.box_coder_scales
    else:
        assert f.first_stage_max_proposals == cfg.first_stage_max_proposals
        assert f.first_stage_iou_threshold == pytest.approx(cfg.first_stage_nms_iou_threshold)
    if rec.kind == "mask_rcnn":
        assert f.mask_size == (cfg.mask_height, cfg.mask_width)
        assert f.initial_crop_size == cfg.initial_crop_size
    assert checks.mismatches(cfg, rec) == []
    if rec.kind != "rfcn":  # R-FCN scores with position-sensitive maps, not a ClassPredictor
        assert "class predictor: 4 scores per box (3 classes + background)" in rec.evidence
    # the backbone (MobilenetV1/V2, InceptionV2 under FeatureExtractor scopes) is no Slim classifier
    assert topology.recognise(graph) is None


RENAMES = (("SecondStage", "Stage2"), ("FirstStage", "Stage1"), ("FeatureExtractor", "Backbone"),
           ("BoxPredictor", "Head"), ("Postprocessor", "Post"), ("GridAnchorGenerator", "Anchors"),
           ("MultipleGridAnchorGenerator", "Anchors"), ("CropAndResize", "Crop"))


def renamed(graph: Graph, rename) -> Graph:
    """A copy of ``graph`` with every op renamed (an older exporter, an import prefix)."""
    copy = Graph(graph.dialect, graph.name)
    names = {op.name: rename(op.name) for op in graph}
    for op in graph:
        new = copy.add_op(op.type, names[op.name], attrs=dict(op.attrs), num_outputs=len(op.outputs))
        new.outputs = [dataclasses.replace(info) for info in op.outputs]
    for op in graph:
        copy.set_inputs(names[op.name], [Port(names[p.node], p.index) for p in graph.inputs(op.name)])
    copy.outputs = [Port(names[p.node], p.index) for p in graph.outputs]
    copy.meta = {**graph.meta, "inputs": [names[n] for n in graph.meta.get("inputs", [])]}
    return copy


@pytest.mark.parametrize("name", ["ssd_mobilenet_v1_fpn_tiny", "mask_rcnn_inception_v2_tiny", "rfcn_tiny"])
def test_recognition_reads_structure_not_names(name):
    """Scopes other than the Preprocessor and the NMS renamed and everything under an import
    prefix: the same meta-architecture and facts."""
    graph = loaded(name, "frozen")

    def rename(op_name: str) -> str:
        for old, new in RENAMES:
            op_name = op_name.replace(old, new)
        return "import/" + op_name

    rec, again = recognize(graph), recognize(renamed(graph, rename))
    assert again is not None and again.kind == rec.kind
    assert again.facts == rec.facts and again.image_input == "import/image_tensor"
    assert list(again.outputs) == list(rec.outputs)
    assert topology.recognise(renamed(graph, rename)) is None


@pytest.mark.parametrize("name", list(KINDS))
def test_every_mismatch_names_both_values(name):
    rec = recognize(loaded(name, "frozen"))
    cfg = load(FIXTURES / name / "pipeline.config")
    changes = {"num_classes": 90, "iou_threshold": 0.5, "score_threshold": 0.3,
               "max_detections_per_class": 100, "max_total_detections": 100,
               "score_converter": "IDENTITY"}
    expected = ["num_classes: pipeline.config says 90, the graph predicts 3 classes (+background)",
                "iou_threshold: pipeline.config says 0.5, the graph's NMS uses 0.6",
                "max_detections_per_class: pipeline.config says 100",
                "max_total_detections: pipeline.config says 100, the graph's NMS keeps "
                f"{cfg.max_total_detections}",
                f"score_converter: pipeline.config says IDENTITY, the graph applies {cfg.score_converter}"]
    if cfg.resizer == "fixed_shape":
        changes.update(height=300, width=300)
        expected.append(f"image_resizer: pipeline.config says fixed_shape_resizer 300x300, the graph "
                        f"resizes every image to {cfg.height}x{cfg.width}")
    else:
        changes.update(min_dimension=600, max_dimension=1024)
        expected.append("image_resizer: pipeline.config says keep_aspect_ratio_resizer min 600 / max "
                        f"1024, the graph resizes with keep_aspect_ratio_resizer min {cfg.min_dimension}")
    if cfg.kind == "ssd":
        changes.update(box_coder_scales=(10.0, 10.0, 2.0, 2.0))
        expected.append("box_coder scales (y, x, height, width): pipeline.config says 10, 10, 2, 2, "
                        "the graph decodes with 10, 10, 5, 5")
    else:
        changes.update(first_stage_max_proposals=300, first_stage_nms_iou_threshold=0.5)
        expected += [f"first_stage_max_proposals: pipeline.config says 300, the graph's proposal NMS "
                     f"keeps {cfg.first_stage_max_proposals}",
                     "first_stage_nms_iou_threshold: pipeline.config says 0.5, the graph's proposal "
                     "NMS uses 0.7"]
    if cfg.kind == "mask_rcnn":
        changes.update(mask_height=15, mask_width=15, initial_crop_size=17)
        expected += ["mask size: pipeline.config says 15x15, the graph's masks are 8x8",
                     "initial_crop_size: pipeline.config says 17, the graph crops 14x14"]
    found = checks.mismatches(dataclasses.replace(cfg, **changes), rec)
    assert len(found) == len(expected) + ("score_threshold" in changes), found
    for line in expected:
        assert any(line in f for f in found), (line, found)
    other = "ssd" if cfg.kind != "ssd" else "rfcn"
    wrong_arch = checks.mismatches(dataclasses.replace(cfg, kind=other), rec)
    assert wrong_arch[0].startswith(f"meta-architecture: pipeline.config says {other}, the graph is")


def _graph_with_nms(preprocessor: bool, scope: str = "nms", output: str | None = None) -> Graph:
    g = Graph("tf")
    g.add_op("Placeholder", "boxes", attrs={"dtype": np.dtype(np.float32), "shape": (None, 4)})
    g.add_op("Placeholder", "scores", attrs={"dtype": np.dtype(np.float32), "shape": (None,)})
    if preprocessor:
        g.add_op("Identity", "Preprocessor/sub", [Port("boxes")])
    for name, value in (("k", np.array(5, np.int32)), ("iou", np.array(0.5, np.float32))):
        g.add_op("Const", name, attrs={"value": value, "dtype": value.dtype})
    g.add_op("NonMaxSuppressionV3", f"{scope}/NonMaxSuppressionV3",
             [Port("boxes"), Port("scores"), Port("k"), Port("iou"), Port("iou")])
    g.outputs = [Port(f"{scope}/NonMaxSuppressionV3")]
    if output:
        g.add_op("Identity", output, [g.outputs[0]])
        g.outputs = [Port(output)]
    return g


def test_non_od_graphs_not_recognised():
    assert recognize(_graph_with_nms(preprocessor=False)) is None  # a hand-written NMS alone
    # another detector that names its output like the exporter does, without OD API scopes
    assert recognize(_graph_with_nms(preprocessor=False, output="detection_boxes")) is None
    multiclass = recognize(_graph_with_nms(False, "Postprocessor/BatchMultiClassNonMaxSuppression",
                                           "detection_boxes"))
    assert multiclass.kind == "ssd" and multiclass.facts.num_classes == 1
    assert multiclass.facts.iou_threshold == 0.5 and multiclass.facts.max_detections_per_class == 5
    assert recognize(_graph_with_nms(preprocessor=True)).kind == "ssd"
    combined = _graph_with_nms(True)
    for name, value in (("per_class", 7), ("total", 9), ("score", 0.25)):
        value = np.array(value, np.float32 if name == "score" else np.int32)
        combined.add_op("Const", name, attrs={"value": value, "dtype": value.dtype})
    combined.add_op("CombinedNonMaxSuppression", "Postprocessor/CombinedNonMaxSuppression",
                    [Port(n) for n in ("boxes", "scores", "per_class", "total", "iou", "score")],
                    num_outputs=4)
    combined.remove("nms/NonMaxSuppressionV3")
    combined.outputs = [Port("Postprocessor/CombinedNonMaxSuppression")]
    facts = recognize(combined).facts
    assert (facts.max_detections_per_class, facts.max_total_detections) == (7, 9)
    assert (facts.iou_threshold, facts.score_threshold, facts.num_classes) == (0.5, 0.25, None)
    plain = Graph("tf")
    plain.add_op("Placeholder", "x", attrs={"dtype": np.dtype(np.float32), "shape": (1, 4)})
    plain.add_op("Relu", "Preprocessor/relu", [Port("x")])
    plain.outputs = [Port("Preprocessor/relu")]
    assert recognize(plain) is None


# -- the command line ------------------------------------------------------------------------


def small_graph(path: Path) -> Path:
    """x[?,4] -> Relu -> out: not a detector."""
    from tfconv_tf_frontend import proto
    gd = proto.GraphDef()
    for name, op, inputs in (("x", "Placeholder", []), ("relu", "Relu", ["x"]), ("out", "Identity", ["relu"])):
        node = gd.node.add()
        node.name, node.op = name, op
        node.input.extend(inputs)
        key = "dtype" if op == "Placeholder" else "T"
        node.attr[key].type = 1
        if op == "Placeholder":
            node.attr["shape"].shape.dim.add().size = -1
            node.attr["shape"].shape.dim.add().size = 4
    path.write_bytes(gd.SerializeToString())
    return path


@pytest.fixture(scope="module")
def bad_configs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("configs")
    text = (SSD / "pipeline.config").read_text()
    edited = (text.replace("num_classes: 3", "num_classes: 90").replace("iou_threshold: 0.6", "iou_threshold: 0.45")
              .replace("height: 160", "height: 300").replace("width: 160", "width: 300")
              .replace("max_total_detections: 20", "max_total_detections: 100"))
    assert edited.count("300") == 2 and "num_classes: 90" in edited
    (root / "mismatch.config").write_text(edited)
    (root / "malformed.config").write_text(text.replace("width: 160", "width 160", 1))  # line 7
    return {"mismatch": root / "mismatch.config", "malformed": root / "malformed.config"}


def test_flags_on_convert_validate_and_inspect():
    helps = {cmd: run(cmd, "--help").stdout for cmd in ("convert", "validate", "inspect")}
    for cmd, text in helps.items():
        assert FLAG + " FILE" in text, cmd
        assert ("--od_output [tf|detection_output]" in text) == (cmd != "inspect"), cmd


def test_cli_od_model_without_flag(tmp_path):
    out = tmp_path / "ir"
    err = one_line_failure(convert(SSD / "frozen_inference_graph.pb", "-o", out), out,
                           "looks like an Object Detection API ssd model: pass " + FLAG,
                           str(SSD / "pipeline.config"), "(the exporter's file beside the model)")
    assert "Slim" not in err
    alone = tmp_path / "alone"
    alone.mkdir()
    model = shutil.copy(FIXTURES / "rfcn_tiny" / "frozen_inference_graph.pb", alone / "frozen.pb")
    one_line_failure(convert(model, "-o", out), out,
                     "looks like an Object Detection API rfcn model: pass " + FLAG + " <its pipeline.config>",
                     "the Object Detection API exporter writes pipeline.config beside the frozen graph")


def test_cli_flag_on_non_od_model(tmp_path):
    out = tmp_path / "ir"
    model = small_graph(tmp_path / "plain.pb")
    one_line_failure(convert(model, FLAG, SSD / "pipeline.config", "-o", out), out,
                     f"{FLAG} is for TensorFlow Object Detection API models, and {model} is not one",
                     "drop it")
    one_line_failure(convert(model, "--od_output", "detection_output", "-o", out), out,
                     "--od_output detection_output is for TensorFlow Object Detection API models")


@pytest.mark.parametrize("case", ["missing", "malformed", "mismatch"])
def test_cli_bad_config(tmp_path, bad_configs, case):
    out = tmp_path / "ir"
    config = bad_configs.get(case, tmp_path / "nowhere" / "pipeline.config")
    result = convert(SSD / "frozen_inference_graph.pb", FLAG, config, "-o", out)
    if case == "missing":
        one_line_failure(result, out, f"{FLAG}: {config} does not exist")
    elif case == "malformed":
        one_line_failure(result, out, f"{config}: line 7, column 15: expected ':' or '{{' after "
                                      "the field name 'width'")
    else:
        one_line_failure(result, out, f"{config} does not match the graph of ",
                         "num_classes: pipeline.config says 90, the graph predicts 3 classes (+background)",
                         "iou_threshold: pipeline.config says 0.45, the graph's NMS uses 0.6",
                         "image_resizer: pipeline.config says fixed_shape_resizer 300x300, the graph resizes every image to 160x160",
                         "max_total_detections: pipeline.config says 100, the graph's NMS keeps 20",
                         "pass the pipeline.config this graph was exported with")


def test_cli_legacy_recipe_is_a_notice(tmp_path):
    out = tmp_path / "ir"
    legacy = "/opt/intel/openvino_2021/deployment_tools/model_optimizer/extensions/front/tf/ssd_v2_support.json"
    result = convert("--input_model", SSD / "frozen_inference_graph.pb", "--transformations_config", legacy,
                 FLAG, SSD / "pipeline.config", "-o", out)
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if "ssd_v2_support.json" in line]
    assert notices == ["[ WARNING ] --transformations_config ssd_v2_support.json is not applied: the "
                       "od_api plugin recognises Object Detection API models from the graph and reads "
                       f"{FLAG}; no recipe is needed (od_api)"]
    assert "Slim" not in result.stderr
    assert (out / "frozen_inference_graph.xml").is_file()
    # a recipe file that names no legacy OD file is still read (and a missing one is an error)
    other = tmp_path / "mine.json"
    result = convert(SSD / "frozen_inference_graph.pb", "--transformations_config", other,
                 FLAG, SSD / "pipeline.config", "-o", tmp_path / "ir2")
    one_line_failure(result, tmp_path / "ir2", f"cannot read the transformations config {other}")


def test_cli_legacy_recipe_ids_skipped(tmp_path):
    """A copied legacy recipe (any file name) with OD replacement ids is skipped, not matched."""
    out = tmp_path / "ir"
    recipe = tmp_path / "my_ssd.json"
    recipe.write_text('[{"id": "ObjectDetectionAPIPreprocessorReplacement", "match_kind": "scope", '
                      '"instances": [".*Preprocessor/"]}, {"id": "ObjectDetectionAPISSDPostprocessorReplacement", '
                      '"match_kind": "points", "instances": {"start_points": ["Postprocessor/Shape"], '
                      '"end_points": ["detection_boxes"]}}]')
    result = convert(SSD / "frozen_inference_graph.pb", "--transformations_config", recipe,
                 FLAG, SSD / "pipeline.config", "-o", out)
    assert result.returncode == 0, result.stderr
    assert ("recipe(s) ObjectDetectionAPIPreprocessorReplacement, "
            "ObjectDetectionAPISSDPostprocessorReplacement not applied") in result.stderr


def test_inspect_reports_meta_architecture(tmp_path):
    before = sorted(p.name for p in tmp_path.iterdir())
    model = FIXTURES / "mask_rcnn_inception_v2_tiny" / "frozen_inference_graph.pb"
    result = run("inspect", model, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "Object Detection API mask_rcnn  (od_api)" in text
    assert "mask_rcnn, 3 classes, keep_aspect_ratio_resizer min 128 / max 192" in text
    assert f"{FLAG} {model.parent / 'pipeline.config'}" in text  # in the suggested flags
    assert "Slim" not in text
    config = FIXTURES / "faster_rcnn_inception_v2_tiny" / "pipeline.config"
    result = run("inspect", model, FLAG, config, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import json
    report = json.loads(result.stdout)
    (finding,) = [f for f in report["findings"] if f["plugin"] == "od_api"]
    assert finding["data"]["kind"] == "mask_rcnn" and finding["data"]["image_input"] == "image_tensor"
    assert any("does not match the graph: meta-architecture: pipeline.config says faster_rcnn"
               in d for d in finding["details"])
    assert sorted(p.name for p in tmp_path.iterdir()) == before
