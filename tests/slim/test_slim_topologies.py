"""Every TF-Slim topology of the spec's table (issue 4): recognised by the slim plugin, converted,
run by OpenVINO and compared with TensorFlow.

Nets: the zoo's tf_slim cases (inception_v1/v2/v3, resnet_v1/v2 at 50/101/152, vgg_16/19,
alexnet_v2; frozen, checkpoint and MetaGraph forms) and the hand-written Slim nets of
``slim/_nets.py`` for the rows tf_slim lacks (Inception v4, Inception-ResNet v2, MobileNet v1,
NASNet-A mobile) plus MobileNet v2 and PNASNet (recognised, not in the table).

The zoo's whole-network tests already convert every zoo net in every form without
preprocessing; here every table topology is converted with the spec's preprocessing embedded
(``--slim_preprocessing``) and fed raw 0..255 images, while TensorFlow is fed the same images
preprocessed the way Slim does (inception: ``(x/255 - 0.5) * 2``; vgg: ``x - RGB means``).
"""
from __future__ import annotations

import logging
import zlib

import numpy as np
import pytest

import tfconv
from tfconv import pipeline, plugins
from tfconv.api import config_for
from tfconv.errors import UsageError
from tfconv.graph import Graph, Port
from models import zoo
from ovrun import rel_err, run_ir
from slim import cases

pytest.importorskip("openvino")

TOLERANCE = 1e-4
FORMS = ("frozen", "checkpoint", "meta_graph")
# zoo net -> the topology the plugin must name
ZOO_TOPOLOGIES = {n: n for n in zoo.SLIM_NETS}
HAND_TOPOLOGIES = {n: n for n in cases.NETS}
ALL = {**{f"zoo:{k}": v for k, v in ZOO_TOPOLOGIES.items()},
       **{f"hand:{k}": v for k, v in HAND_TOPOLOGIES.items()}}
NOT_IN_TABLE = {"alexnet_v2", "mobilenet_v2", "pnasnet_mobile"}
INCEPTION_STYLE = {"inception_v1", "inception_v2", "inception_v3", "inception_v4",
                   "inception_resnet_v2", "mobilenet_v1_0.25_128", "nasnet_mobile"}
VGG_RGB_MEAN = np.array([123.68, 116.78, 103.94], np.float32)   # Slim's _R_MEAN, _G_MEAN, _B_MEAN


@pytest.fixture(scope="module", autouse=True)
def _prebuild():
    zoo.prebuild([f"slim-{n}" for n in zoo.SLIM_NETS])
    cases.prebuild()


def _case(label: str) -> zoo.ModelCase:
    source, _, net = label.partition(":")
    return zoo.get(f"slim-{net}") if source == "zoo" else cases.get(net)


def _model(case: zoo.ModelCase, form: str) -> tuple[object, dict]:
    """The model path and the keywords that load ``case`` in ``form``."""
    if form == "frozen":
        return case.pb, {}
    forms = zoo.checkpoint_forms(case)
    if form == "checkpoint":
        return forms["inference_graph_pb"], {"input_checkpoint": str(forms["checkpoint"])}
    return forms["meta_graph"], {}


def _source_graph(model, **options):
    """The source graph after the source passes, and its config (no translation)."""
    pm = plugins.get_plugin_manager()
    config = config_for(model, plugin_manager=pm, **options)
    graph = pipeline.load(pm, config)
    findings, problems = pipeline.describe(pm, config, graph)
    assert not problems, problems
    pipeline.run_passes(plugins.passes(pm), graph, config, "source")
    return graph, [f for f in findings if f.kind == "topology"]


# -- recognition ---------------------------------------------------------------------------------


@pytest.mark.zoo
@pytest.mark.parametrize("label", list(ALL))
def test_topology_recognised(label, caplog):
    """Frozen form: the describe hook and the source pass name the topology; the finding's
    flags are the table's values for BGR input; no flags means a WARNING that says what to do."""
    case = _case(label)
    expected = ALL[label]
    with caplog.at_level(logging.INFO, logger="tfconv"):
        graph, found = _source_graph(case.pb)
    assert [f.title for f in found] == [f"Slim {expected}"]
    assert found[0].plugin == "slim"
    assert graph.meta["slim_topology"] == expected
    assert "preprocess" not in graph.meta
    slim_records = [r for r in caplog.records if r.name == "tfconv.slim" and "recognised" in r.getMessage()]
    assert len(slim_records) == 1
    record = slim_records[0]
    if expected in NOT_IN_TABLE:
        assert found[0].flags == ()
        assert record.levelno == logging.INFO and "gives no mean/scale" in record.getMessage()
        return
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    if expected in INCEPTION_STYLE:
        table = "--mean_values [127.5,127.5,127.5] --scale 127.5"
        bgr = ("--reverse_input_channels", "--mean_values", "[127.5,127.5,127.5]", "--scale", "127.5")
    else:
        table = "--mean_values [103.94,116.78,123.68] --scale 1"
        bgr = ("--reverse_input_channels", "--mean_values", "[123.68,116.78,103.94]", "--scale", "1")
    assert f"Slim {expected} recognised; the spec's preprocessing for it is {table}" in message
    assert " ".join(bgr) in message and "--slim_preprocessing" in message
    assert found[0].flags == bgr


@pytest.mark.zoo
@pytest.mark.parametrize("net", ["resnet_v1_101", "resnet_v2_152", "vgg_19"])
def test_structure_decides_depth(net, tmp_path):
    """A net exported under another root scope name: the units per block (ResNet) and the
    convolutions (VGG) still give the depth, whatever the scope says."""
    from tfconv_slim import topology

    case = zoo.get(f"slim-{net}")
    graph, _ = _source_graph(case.pb)
    wrong = "resnet_v1_50" if net.startswith("resnet") else "vgg_16"
    renamed = Graph("tf")
    for op in graph.topological_order():
        o = graph.op(op)
        new = renamed.add_op(o.type, o.name.replace(net, wrong),
                             [Port(p.node.replace(net, wrong), p.index)
                              for p in graph.inputs(op)], o.attrs, len(o.outputs))
        new.outputs = o.outputs
    renamed.meta["inputs"] = graph.meta["inputs"]
    topo = topology.recognise(renamed)
    assert topo is not None and topo.key == net and topo.scope == wrong
    assert any("overrides the scope name" in e for e in topo.evidence)


# -- conversion of the hand-written nets (the zoo's tests cover the tf_slim ones) -----------------


def _check(actual, expected, what):
    assert np.std(expected) > 1e-3 * np.max(np.abs(expected)), f"{what}: degenerate reference"
    err = rel_err(actual, expected)
    assert err <= TOLERANCE, f"{what}: rel err {err:.2e} > {TOLERANCE:.0e}"
    assert (actual.argmax(-1) == expected.argmax(-1)).all(), f"{what}: top-1 differs"
    return err


@pytest.mark.zoo
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("net", list(cases.NETS))
def test_hand_net_converts(net, form, tmp_path):
    """Each hand-written net in each form: recognised, converted, equal to TF on the zoo-style
    reference (inputs already preprocessed, in [-1, 1])."""
    case = cases.get(net)
    model, kw = _model(case, form)
    graph = tfconv.convert_model(model, output=case.outputs[0], **kw)
    assert graph.meta["slim_topology"] == net
    (xml,) = [p for p in tfconv.save_model(graph, tmp_path / "m.xml") if p.suffix == ".xml"]
    ref = np.load(case.reference)
    x = ref[next(iter(case.inputs))]
    (actual,) = run_ir(xml, [np.transpose(x, (0, 3, 1, 2))])
    _check(actual, ref[case.outputs[0]], f"{net} {form}")


# -- Slim leftovers -------------------------------------------------------------------------------


def _softmax(y):
    e = np.exp(y - y.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.zoo
@pytest.mark.parametrize("net", ["inception_v4", "inception_resnet_v2"])
def test_aux_logits_dropped_unless_asked(net, tmp_path, caplog):
    """A Slim export keeps the auxiliary classifier as a graph sink: without --output only
    Predictions is an IR output (and the AuxLogits branch is gone); named, it stays."""
    case = cases.get(net)
    sinks = cases.meta(net)["sinks"]
    aux = next(s for s in sinks if "AuxLogits" in s)
    predictions = next(s for s in sinks if "Predictions" in s)
    with caplog.at_level(logging.INFO, logger="tfconv"):
        graph = tfconv.convert_model(case.pb)
    assert any("auxiliary classifier" in r.getMessage() for r in caplog.records)
    assert not [op for op in graph if "AuxLogits" in op.name]
    (xml,) = [p for p in tfconv.save_model(graph, tmp_path / "a" / "m.xml") if p.suffix == ".xml"]
    ref = np.load(case.reference)
    x = np.transpose(ref[next(iter(case.inputs))], (0, 3, 1, 2))
    outs = run_ir(xml, [x])
    assert len(outs) == 1
    _check(outs[0], _softmax(ref[case.outputs[0]].astype(np.float64)), f"{net} Predictions")

    both = tfconv.convert_model(case.pb, output=f"{predictions},{aux}")
    (xml,) = [p for p in tfconv.save_model(both, tmp_path / "b" / "m.xml") if p.suffix == ".xml"]
    outs = run_ir(xml, [x])
    assert len(outs) == 2 and outs[1].shape == (2, 1000)


def test_slim_preprocessing_needs_a_table_topology(tmp_path):
    """--slim_preprocessing on a net that is no Slim net of the table: a clear error."""
    case = zoo.get("slim-alexnet_v2")
    with pytest.raises(UsageError, match="alexnet_v2 is recognised but the spec's Slim table has no mean/scale"):
        tfconv.convert_model(case.pb, slim_preprocessing="BGR")
    keras = zoo.get("keras3-MobileNetV2")
    with pytest.raises(UsageError, match="not a TF-Slim classification net of the spec's table"):
        tfconv.convert_model(keras.pb, slim_preprocessing="RGB")


@pytest.mark.zoo
def test_quantized_note_input_shape(tmp_path):
    """The spec's note for the TF-Lite hosted Slim models: --input input --input_shape
    [1,HEIGHT,WIDTH,3] on a graph whose input size is undefined; the MobileNet v1 width and size
    come out of the shapes the flags give."""
    tf = pytest.importorskip("tensorflow")
    case = cases.get("mobilenet_v1_0.25_128")
    graph_def = tf.compat.v1.GraphDef.FromString(case.pb.read_bytes())
    for node in graph_def.node:
        if node.op == "Placeholder":
            node.attr["shape"].shape.unknown_rank = True
            node.attr["shape"].shape.ClearField("dim")
    pb = tmp_path / "mobilenet_v1_undefined.pb"
    pb.write_bytes(graph_def.SerializeToString())
    graph, found = _source_graph(pb, input="input", input_shape="[1,128,128,3]",
                                 output=case.outputs[0])
    assert graph.meta["slim_topology"] == "mobilenet_v1_0.25_128"
    ir = tfconv.convert_model(pb, input="input", input_shape="[1,128,128,3]", output=case.outputs[0])
    (xml,) = [p for p in tfconv.save_model(ir, tmp_path / "m.xml") if p.suffix == ".xml"]
    ref = np.load(case.reference)
    x = ref[next(iter(case.inputs))][:1]
    (actual,) = run_ir(xml, [np.transpose(x, (0, 3, 1, 2))])
    _check(actual, ref[case.outputs[0]][:1], "mobilenet_v1 with --input_shape")


# -- the table's preprocessing embedded in the IR -------------------------------------------------

TABLE_ZOO = [n for n in zoo.SLIM_NETS if n not in NOT_IN_TABLE]
TABLE_HAND = [n for n in cases.NETS if n not in NOT_IN_TABLE]
# Each table topology is converted in one form, the forms taken in turn: recognition does not
# depend on the form (the op names are the same once frozen), and the zoo's tests convert every
# zoo net in every form without preprocessing.
PRE_CASES = ([(f"zoo:{n}", FORMS[i % 3]) for i, n in enumerate(TABLE_ZOO)]
             + [(f"hand:{n}", FORMS[i % 3]) for i, n in enumerate(TABLE_HAND)])


def slim_preprocess(raw_rgb: np.ndarray, topology: str) -> np.ndarray:
    """What Slim's preprocessing feeds the net for RGB 0..255 images, in float32 as TF does:
    inception_preprocessing ``convert_image_dtype`` (x/255) then ``(x - 0.5) * 2``;
    vgg_preprocessing ``x - [_R_MEAN, _G_MEAN, _B_MEAN]``."""
    x = raw_rgb.astype(np.float32)
    if topology in INCEPTION_STYLE:
        return (x * np.float32(1.0 / 255.0) - np.float32(0.5)) * np.float32(2.0)
    return x - VGG_RGB_MEAN


def _slim_reference(case: zoo.ModelCase, topology: str) -> tuple[np.ndarray, np.ndarray]:
    """Two raw RGB 0..255 images with different TF top-1 and TF's logits for them preprocessed
    the Slim way; computed with TensorFlow once, cached next to the case.

    The test nets' batch norms are calibrated for preprocessed inputs in [-1, 1] (the zoo's
    range). Inception-style rows map 0..255 there, so their images are integers over the whole
    range. For the mean-only VGG/ResNet rows, images over the whole range would reach the nets
    at 128 times that scale, where every image gets the same class; their images are the means
    plus [-1, 1] (low-contrast images, still raw pixel values)."""
    cache = case.pb.parent / "slim_preprocessed_reference.npz"
    if cache.is_file():
        data = np.load(cache)
        return data["raw_rgb"], data["logits"]
    tf = pytest.importorskip("tensorflow")
    from models._build import FrozenRunner, make_images

    (name, shape), = case.inputs.items()
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))
    if topology in INCEPTION_STYLE:
        raw = np.round(make_images(rng, 16, shape[1], 0.0, 255.0))
    else:
        raw = VGG_RGB_MEAN + make_images(rng, 16, shape[1], -1.0, 1.0)
    run = FrozenRunner(tf, tf.compat.v1.GraphDef.FromString(case.pb.read_bytes()))
    try:
        y = run({name: slim_preprocess(raw, topology)}, case.outputs)[0]
    finally:
        run.close()
    top1 = y.argmax(-1)
    j = next((i for i in range(1, len(top1)) if top1[i] != top1[0]), None)
    assert j is not None, f"{case.name}: every candidate image has top-1 {top1[0]}"
    raw, y = raw[[0, j]], y[[0, j]]
    tmp = cache.with_name(f".{cache.name}.{np.random.default_rng().integers(1 << 30)}.npz")
    np.savez(tmp, raw_rgb=raw, logits=y)
    tmp.replace(cache)
    return raw, y


def _nchw(x):
    return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))


def _ir(graph, path):
    (xml,) = [p for p in tfconv.save_model(graph, path) if p.suffix == ".xml"]
    return xml


@pytest.mark.zoo
@pytest.mark.parametrize("label, form", PRE_CASES, ids=[f"{l}-{f}" for l, f in PRE_CASES])
def test_table_preprocessing_matches_slim(label, form, tmp_path):
    """--slim_preprocessing (BGR input, like the IE samples): the IR fed raw BGR 0..255 images
    computes what TF computes on the RGB images preprocessed the way Slim does."""
    case = _case(label)
    topology = ALL[label]
    raw_rgb, expected = _slim_reference(case, topology)
    model, kw = _model(case, form)
    graph = tfconv.convert_model(model, output=case.outputs[0], slim_preprocessing="BGR", **kw)
    assert graph.meta["slim_topology"] == topology
    assert graph.meta["preprocess"]["source"] == f"slim:{topology}"
    assert graph.meta["preprocess"]["reverse_input_channels"] is True
    (actual,) = run_ir(_ir(graph, tmp_path / "m.xml"), [_nchw(raw_rgb[..., ::-1])])
    _check(actual, expected, f"{label} {form} BGR")


def _err(xml, feed, expected):
    (actual,) = run_ir(xml, [_nchw(feed)])
    return rel_err(actual, expected), bool((actual.argmax(-1) == expected.argmax(-1)).all())


@pytest.mark.zoo
def test_reverse_input_channels_reasoning(tmp_path):
    """Why --slim_preprocessing reverses channels for BGR input and re-orders the table's means.

    Slim nets are trained on RGB; the table lists the VGG/ResNet means in BGR order, for images
    read as BGR. tfconv (like the Model Optimizer) reverses the channels *before* subtracting
    the means, so the means are given in the model's RGB order. Proved on resnet_v1_50:
    the right flags match TF for BGR and for RGB input; the table's row taken literally (BGR
    means, no reversal) and the table's means with a reversal are both wrong."""
    case = zoo.get("slim-resnet_v1_50")
    raw_rgb, expected = _slim_reference(case, "resnet_v1_50")
    raw_bgr = raw_rgb[..., ::-1]
    out = case.outputs[0]

    def convert(name, **flags):
        return _ir(tfconv.convert_model(case.pb, output=out, **flags), tmp_path / name / "m.xml")

    rgb = convert("rgb", slim_preprocessing="RGB")
    err, top1 = _err(rgb, raw_rgb, expected)
    assert err <= TOLERANCE and top1, f"--slim_preprocessing RGB fed RGB: {err:.2e}"
    # the same network fed BGR: the channels the net sees are swapped
    err, _ = _err(rgb, raw_bgr, expected)
    assert err > 100 * TOLERANCE, f"RGB preset fed BGR should be wrong, rel err {err:.2e}"

    flags = convert("flags", reverse_input_channels=True, mean_values="[123.68,116.78,103.94]", scale=1)
    err, top1 = _err(flags, raw_bgr, expected)
    assert err <= TOLERANCE and top1, f"explicit flags fed BGR: {err:.2e}"

    literal = convert("literal", mean_values="[103.94,116.78,123.68]", scale=1)
    err, _ = _err(literal, raw_bgr, expected)
    assert err > 100 * TOLERANCE, f"the table's row without a reversal should be wrong: {err:.2e}"

    reversed_table = convert("table_rev", reverse_input_channels=True,
                             mean_values="[103.94,116.78,123.68]", scale=1)
    err, _ = _err(reversed_table, raw_bgr, expected)
    assert err > 100 * TOLERANCE, f"the table's BGR means after a reversal should be wrong: {err:.2e}"


@pytest.mark.zoo
def test_symmetric_means_still_need_the_reversal(tmp_path):
    """Inception rows have equal means for every channel, yet a BGR image must still be
    reversed: the RGB-trained first convolution weighs the channels differently."""
    case = cases.get("mobilenet_v1_0.25_128")
    raw_rgb, expected = _slim_reference(case, "mobilenet_v1_0.25_128")
    xml = _ir(tfconv.convert_model(case.pb, output=case.outputs[0], slim_preprocessing="BGR"),
              tmp_path / "m.xml")
    err, top1 = _err(xml, raw_rgb[..., ::-1], expected)
    assert err <= TOLERANCE and top1
    err, _ = _err(xml, raw_rgb, expected)
    assert err > 100 * TOLERANCE, f"BGR preset fed RGB should be wrong: {err:.2e}"


def test_slim_preprocessing_conflicts_with_user_flags():
    case = zoo.get("slim-resnet_v1_50")
    with pytest.raises(UsageError, match="cannot be combined with --mean_values"):
        tfconv.convert_model(case.pb, slim_preprocessing="BGR", mean_values="[1,2,3]")


@pytest.mark.zoo
def test_predictions_reshapes_removed(tmp_path):
    """Slim's Predictions softmax is Reshape([-1, C]) -> Softmax -> Reshape(Shape(logits)): on
    2-D logits the IR keeps just the SoftMax, its output keeps the TF name and a static class
    dimension ([?,1000], not [?,?]), and it computes TF's softmax."""
    from ovrun import ir_layer_types

    case = cases.get("mobilenet_v1_0.25_128")
    graph = tfconv.convert_model(case.pb)
    (result,) = graph.outputs
    source = graph.inputs(result.node)[0]
    assert graph.op(source.node).type == "SoftMax"
    assert graph.info(source).shape == (None, 1000)
    assert "MobilenetV1/Predictions/Reshape_1:0" in graph.info(source).names
    xml = _ir(graph, tmp_path / "m.xml")
    types = ir_layer_types(xml)
    assert "ShapeOf" not in types and "Reshape" not in types
    ref = np.load(case.reference)
    (actual,) = run_ir(xml, [_nchw(ref[next(iter(case.inputs))])])
    _check(actual, _softmax(ref[case.outputs[0]].astype(np.float64)), "Predictions")


@pytest.mark.parametrize("net, flags, needles", [
    ("alexnet_v2", ["--slim_preprocessing"], ["alexnet_v2 is recognised", "no mean/scale", "--mean_values"]),
    ("resnet_v1_50", ["--slim_preprocessing", "--mean_values", "[1,2,3]"],
     ["cannot be combined with --mean_values"]),
    ("resnet_v1_50", ["--slim_preprocessing=GBR"], ["--slim_preprocessing", "bgr", "rgb"]),
])
def test_cli_bad_slim_preprocessing(net, flags, needles, tmp_path):
    """Bad --slim_preprocessing uses: one clean error, non-zero exit, nothing written."""
    import subprocess
    import sys

    from cliassert import assert_clean_failure

    case = zoo.get(f"slim-{net}")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "tfconv.cli", "convert", str(case.pb),
                             "-o", str(out), *flags], capture_output=True, text=True,
                            timeout=600)
    assert_clean_failure(result, out, *needles)
