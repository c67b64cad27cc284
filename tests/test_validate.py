"""``tfconv validate`` (TensorFlow vs OpenVINO on the same inputs, ``--bisect``) and the
``model.mapping`` file, on zoo networks: real TensorFlow, real OpenVINO, real files."""
from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from cliassert import assert_clean_failure, assert_unchanged, snapshot
from models import zoo

pytest.importorskip("openvino")

TFCONV = [sys.executable, "-m", "tfconv.cli"]
OUTPUT_LINE = re.compile(r"Output (\S+): TF \[([\d,]*)\] IR \[([\d,]*)\]  max abs (\S+)  rel (\S+)"
                         r"(?:  top-1 (\d+)/(\d+)  top-\d+ (\d+)/(\d+))?.*  (OK|FAIL)")


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*TFCONV, *map(str, args)], capture_output=True, text=True, check=False,
                          cwd=cwd)


def outputs(stdout: str) -> list[re.Match]:
    return [m for m in map(OUTPUT_LINE.search, stdout.splitlines()) if m]


def convert(model: Path, out: Path, *args) -> Path:
    result = run("convert", model, "-o", out, "-n", "m", *args)
    assert result.returncode == 0, result.stderr
    return out / "m.xml"


@pytest.fixture(scope="module")
def mobilenet():
    return zoo.get("keras3-MobileNetV2")


# -- validate passes on good conversions --------------------------------------------------------


@pytest.mark.zoo
@pytest.mark.parametrize("name, form", [("keras3-MobileNetV2", "frozen"),
                                        ("slim-inception_v1", "frozen"),
                                        ("keras3-MobileNetV2", "saved_model"),
                                        ("slim-inception_v1", "meta_graph")])
def test_validate_passes_on_zoo_models(name, form):
    case = zoo.get(name)
    args = [case.pb]
    if form == "saved_model":
        args = [zoo.saved_model_dir(case)]
    elif form == "meta_graph":
        args = ["--input_meta_graph", zoo.checkpoint_forms(case)["meta_graph"],
                "--output", case.outputs[0]]
    result = run("validate", *args, "-b", "2", "--seed", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (row,) = outputs(result.stdout)
    assert row[10] == "OK" and row[2] == row[3] == "2,1000"
    assert float(row[5]) <= 1e-4
    assert float(row[4]) > 0 or float(row[5]) == 0  # a real comparison was made
    assert row[6] == row[7] == "2" and row[8] == row[9] == "2"  # top-1 and top-5 agree
    assert "[ SUCCESS ] 1 output(s) match TensorFlow" in result.stdout


@pytest.mark.zoo
def test_validate_with_embedded_preprocessing(tmp_path):
    """The IR takes raw 0..255 images; TensorFlow gets (reverse(x) - mean) / scale."""
    case = zoo.get("slim-inception_v1")
    flags = ["--mean_values", "[127.5,127.5,127.5]", "--scale", "127.5", "--reverse_input_channels"]
    result = run("validate", case.pb, *flags)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the IR takes raw data, TensorFlow gets (input[channels reversed] - [127.5,127.5,127.5]) / 127.5" \
        in result.stdout
    (row,) = outputs(result.stdout)
    assert row[10] == "OK" and float(row[5]) <= 1e-4
    xml = convert(case.pb, tmp_path / "ir", *flags)
    forgot = run("validate", case.pb, "--ir", xml)  # the same IR without the flags: TF sees raw data
    assert forgot.returncode == 1 and "give validate the same flags" in forgot.stderr


@pytest.mark.zoo
def test_validate_existing_ir_with_npz_inputs(mobilenet, tmp_path):
    """--ir with --inputs: the zoo's own reference images; both sides see the same batch."""
    xml = convert(mobilenet.pb, tmp_path / "ir")
    ref = np.load(mobilenet.reference)
    np.savez(tmp_path / "in.npz", input=ref["input"])
    result = run("validate", mobilenet.pb, "--ir", xml, "--inputs", tmp_path / "in.npz")
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = outputs(result.stdout)
    assert row[2] == "2,1000" and row[6] == "2" and float(row[5]) <= 1e-4


@pytest.mark.zoo
def test_validate_with_images(mobilenet, tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (90 + 10 * i, 120, 3), dtype=np.uint8)).save(
            tmp_path / f"im{i}.png")
    result = run("validate", mobilenet.pb, "--images",
                 f"{tmp_path / 'im0.png'},{tmp_path / 'im1.png'}")
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = outputs(result.stdout)
    assert row[2] == "2,1000" and row[10] == "OK"


# -- validate fails on a broken IR, and --bisect finds where ---------------------------------------


def perturb_weight(xml: Path, nth: int = 4) -> list[str]:
    """Add a large value to one weight of the ``nth`` Convolution whose output carries TF names;
    returns those names."""
    root = ET.parse(xml).getroot()
    layers = {layer.get("id"): layer for layer in root.iter("layer")}
    seen = 0
    for edge in root.iter("edge"):
        src, dst = layers[edge.get("from-layer")], layers[edge.get("to-layer")]
        if dst.get("type") != "Convolution" or edge.get("to-port") != "1" or src.get("type") != "Const":
            continue
        names = dst.find("output/port").get("names")
        if not names:
            continue
        if seen < nth:
            seen += 1
            continue
        data = src.find("data")
        offset, size = int(data.get("offset")), int(data.get("size"))
        assert data.get("element_type") == "f32"
        blob = bytearray(xml.with_suffix(".bin").read_bytes())
        w = np.frombuffer(bytes(blob[offset:offset + size]), np.float32).copy()
        w[w.size // 2] += 20 * float(np.abs(w).max())
        blob[offset:offset + size] = w.tobytes()
        xml.with_suffix(".bin").write_bytes(bytes(blob))
        return names.split(",")
    raise AssertionError("no named Convolution with constant weights")


@pytest.mark.zoo
def test_perturbed_constant_fails_and_bisect_names_its_consumer(mobilenet, tmp_path):
    xml = convert(mobilenet.pb, tmp_path / "ir")
    good = run("validate", mobilenet.pb, "--ir", xml)
    assert good.returncode == 0, good.stdout + good.stderr
    names = perturb_weight(xml)
    nodes = {n.rsplit(":", 1)[0] for n in names}

    bad = run("validate", mobilenet.pb, "--ir", xml)
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert bad.stderr.startswith("[ ERROR ] validation failed: output Identity:0 differs"), bad.stderr
    assert "--bisect" in bad.stderr
    (row,) = outputs(bad.stdout)
    assert row[10] == "FAIL" and float(row[5]) > 1e-4

    found = run("validate", mobilenet.pb, "--ir", xml, "--bisect")
    assert found.returncode == 1 and "Traceback" not in found.stderr
    match = re.search(r"first diverging TF node: (\S+) \((\w+)\)", found.stdout)
    assert match, found.stdout
    assert match[2] == "Conv2D"  # the perturbed weights' consumer, even when fused with more
    computes = re.search(r"which computes the TF nodes (.*)", found.stdout)[1]
    assert match[1] in computes and all(f"{n} (" in computes for n in nodes), (computes, nodes)
    compared = int(re.search(r"comparing (\d+) TF tensors", found.stdout)[1])
    assert compared > 50  # the IR keeps most TF tensor names


@pytest.mark.zoo
def test_bisect_on_a_good_ir_finds_nothing(tmp_path):
    case = zoo.get("slim-inception_v1")
    result = run("validate", case.pb, "--bisect")
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"bisect: all (\d+) compared tensors agree", result.stdout)
    assert match and int(match[1]) > 50, result.stdout


# -- clean failures -------------------------------------------------------------------------------


def test_validate_bad_inputs_fail_cleanly(mobilenet, tmp_path):
    """Each bad call fails cleanly and writes nothing: validate converts in memory, so neither
    the working folder (where ``convert`` would put the IR), nor the inputs' folder, nor the
    model's folder may change."""
    other = tmp_path / "other.xml"
    other.write_text("<mapping><map/></mapping>\n")
    text = tmp_path / "cat.png"
    text.write_text("not a picture\n")
    np.savez(tmp_path / "wrong.npz", other=np.zeros(3))
    work = tmp_path / "work"
    work.mkdir()
    before, model_before = snapshot(tmp_path), snapshot(mobilenet.pb.parent)
    for args, needles in [
            (("--ir", tmp_path / "missing.xml"), ("missing.xml: no such file",)),
            (("--ir", mobilenet.pb), ("is not an OpenVINO IR",)),
            (("--ir", other), ("is not an OpenVINO IR", "<mapping>")),
            (("--images", text), ("cat.png is not an image",)),
            (("--inputs", tmp_path / "none.npz"), ("none.npz: no such file",)),
            (("--inputs", tmp_path / "wrong.npz"), ("no array for input 'input'",))]:
        result = run("validate", mobilenet.pb, *args, cwd=work)
        assert_clean_failure(result, work / f"{mobilenet.pb.stem}.xml", *needles)
        assert_unchanged(tmp_path, before)
        assert_unchanged(mobilenet.pb.parent, model_before)


# -- the mapping file ---------------------------------------------------------------------------


def tf_values(pb: Path, feeds: dict, names: list[str]) -> list[np.ndarray]:
    import tensorflow as tf
    v1 = tf.compat.v1
    gd = v1.GraphDef.FromString(pb.read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(gd, name="")
    with v1.Session(graph=graph) as sess:
        return sess.run(names, {f"{k}:0": v for k, v in feeds.items()})


@pytest.mark.zoo
def test_mapping_points_at_ir_ports_that_hold_the_tf_tensors(mobilenet, tmp_path):
    import openvino as ov
    xml = convert(mobilenet.pb, tmp_path / "ir")
    mapping = xml.with_suffix(".mapping")
    assert sorted(p.name for p in xml.parent.iterdir()) == ["m.bin", "m.mapping", "m.xml"]
    ir = ET.parse(xml).getroot()
    ports = {}
    for layer in ir.iter("layer"):
        for port in layer.findall("output/port"):
            ports[(layer.get("id"), port.get("id"))] = (layer.get("name"), port.get("names") or "")
    entries = ET.parse(mapping).getroot().findall("map")
    assert len(entries) > 100
    pairs = []
    for entry in entries:
        fw, irn = entry.find("framework"), entry.find("IR")
        key = (irn.get("id"), irn.get("out_port_id"))
        assert key in ports, key
        layer_name, names = ports[key]
        assert irn.get("name") == layer_name
        tensor = f"{fw.get('name')}:{fw.get('out_port_id')}"
        assert tensor in names.split(",") or (fw.get("out_port_id") == "0"
                                              and fw.get("name") in names.split(","))
        pairs.append(tensor)
    assert len(set(pairs)) == len(pairs)  # each TF tensor once

    # Every computed (non-constant) tensor, fetched from the IR by name, equals TF's.
    model = ov.Core().read_model(str(xml))
    const_ids = {layer.get("id") for layer in ir.iter("layer") if layer.get("type") == "Const"}
    sample = [t for t, e in zip(pairs, entries) if e.find("IR").get("id") not in const_ids]
    assert len(sample) > 100
    model.add_outputs(sample)
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    x = np.load(mobilenet.reference)["input"][:1]
    result = compiled([np.transpose(x, (0, 3, 1, 2))])
    expected = tf_values(mobilenet.pb, {"input": x}, sample)
    for name, want in zip(sample, expected):
        got = next(np.asarray(result[o]) for o in compiled.outputs if name in o.get_names())
        if got.shape != want.shape and got.ndim == 4:  # NCHW in the IR, NHWC in TF
            got = got.transpose(0, 2, 3, 1)
        assert got.shape == want.shape, name
        err = float(np.max(np.abs(got - want))) / (float(np.max(np.abs(want))) or 1.0)
        assert err <= 1e-4, (name, err)


def two_input_graph(path: Path) -> Path:
    """An image input, an int32 index input and a bool input, two outputs (one an int)."""
    import tensorflow as tf
    v1 = tf.compat.v1
    rng = np.random.default_rng(4)
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 12, 10, 3], name="image")
        idx = v1.placeholder(tf.int32, [2], name="index")
        flag = v1.placeholder(tf.bool, [2, 4], name="flag")
        k = tf.constant(rng.normal(0, 0.5, (3, 3, 3, 4)).astype(np.float32))
        h = tf.nn.relu(tf.nn.conv2d(x, k, 1, "SAME"))
        pooled = tf.reduce_mean(h, axis=[1, 2])                                   # [N, 4]
        table = tf.constant(rng.normal(0, 1, (10, 4)).astype(np.float32))
        picked = tf.gather(table, idx)                                            # [2, 4]
        mixed = tf.where(flag, picked, -picked)
        tf.add(tf.reduce_sum(mixed, 0, keepdims=True), pooled, name="scores")     # [N, 4]
        tf.argmax(h, axis=-1, output_type=tf.int32, name="best_channel")         # [N, 12, 10]
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


def test_validate_several_inputs_of_several_types(tmp_path):
    pb = two_input_graph(tmp_path / "g.pb")
    result = run("validate", pb, "--output", "scores,best_channel",
                 "--input", "image[3,12,10,3],index,flag")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {m[1]: m for m in outputs(result.stdout)}
    assert rows["scores:0"][2] == rows["scores:0"][3] == "3,4" and rows["scores:0"][6] == "3"
    assert rows["best_channel:0"][2] == rows["best_channel:0"][3] == "3,12,10"
    assert float(rows["scores:0"][5]) <= 1e-4 and float(rows["best_channel:0"][4]) == 0
    # The same through --inputs (arrays in TF layout), and a wrong shape is a clean error.
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "in.npz", image=rng.uniform(-1, 1, (2, 12, 10, 3)).astype(np.float32),
             index=np.array([9, 0], np.int32), flag=rng.integers(0, 2, (2, 4)).astype(bool))
    given = run("validate", pb, "--output", "scores,best_channel", "--inputs", tmp_path / "in.npz")
    assert given.returncode == 0, given.stdout + given.stderr
    assert {m[1]: m[2] for m in outputs(given.stdout)}["scores:0"] == "2,4"
    np.savez(tmp_path / "bad.npz", image=np.zeros((2, 10, 12, 3), np.float32),
             index=np.array([1, 2], np.int32), flag=np.ones((2, 4), bool))
    work = tmp_path / "work"
    work.mkdir()
    before = snapshot(tmp_path)
    assert_clean_failure(run("validate", pb, "--output", "scores", "--inputs", tmp_path / "bad.npz",
                             cwd=work),
                         work / f"{pb.stem}.xml", "array 'image' has shape [2,10,12,3]",
                         "takes [?,12,10,3] (TF layout)")
    assert_unchanged(tmp_path, before)
