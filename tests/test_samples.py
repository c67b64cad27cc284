"""The sample applications: ``tfconv classify`` (top-N like the Inference Engine classification
sample) and ``tfconv detect`` (boxes drawn on the image), run on IRs tfconv converted, checked
against TensorFlow on the same pixels and by reading the written PNG back."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cliassert import assert_clean_failure, assert_unchanged, snapshot
from models import zoo

pytest.importorskip("openvino")
Image = pytest.importorskip("PIL.Image")

TFCONV = [sys.executable, "-m", "tfconv.cli"]
ROW = re.compile(r"^\s*(\d+)\s+([\d.]+)(?:\s+(.*))?$")


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*TFCONV, *map(str, args)], capture_output=True, text=True, check=False,
                          cwd=cwd)


def scene(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """A colour gradient with soft blobs and mild noise: an image with structure, made here."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([255 * xx / width, 255 * yy / height, 128 + 0 * xx], -1)
    for _ in range(4):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(8, 30)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))[..., None]
        img = img * (1 - blob) + rng.uniform(0, 255, 3) * blob
    img += rng.normal(0, 4, img.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def resized(path: Path, width: int, height: int) -> np.ndarray:
    """What the samples feed: bilinear resize with Pillow, HWC RGB uint8."""
    img = Image.open(path).convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(img)


def tf_run(pb: Path, feeds: dict, names: list[str]) -> list[np.ndarray]:
    import tensorflow as tf
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(v1.GraphDef.FromString(pb.read_bytes()), name="")
    with v1.Session(graph=graph) as sess:
        return sess.run([f"{n}:0" for n in names], {f"{k}:0": v for k, v in feeds.items()})


def convert(model: Path, out: Path, *args) -> Path:
    result = run("convert", model, "-o", out, "-n", "m", *args)
    assert result.returncode == 0, result.stderr
    return out / "m.xml"


def table(stdout: str) -> list[list[tuple[int, float, str]]]:
    """Per image, its (class id, probability, label) rows."""
    blocks, cur = [], None
    for line in stdout.splitlines():
        if line.startswith("Image "):
            cur = []
            blocks.append(cur)
        elif cur is not None and (m := ROW.match(line)):
            cur.append((int(m[1]), float(m[2]), m[3] or ""))
    return blocks


# -- classify -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    case = zoo.get("keras3-MobileNetV2")
    xml = convert(case.pb, tmp_path_factory.mktemp("cls"), "-b", "1")
    return case, xml


@pytest.mark.zoo
@pytest.mark.parametrize("rgb", [False, True], ids=["bgr", "rgb"])
def test_classify_gives_tensorflows_top5(classifier, tmp_path, rgb):
    case, xml = classifier
    images = [scene(tmp_path / "a.png", 300, 200, 1), scene(tmp_path / "b.jpg", 160, 240, 2)]
    result = run("classify", xml, *images, "--top", "5", *(["--rgb"] if rgb else []))
    assert result.returncode == 0, result.stderr
    blocks = table(result.stdout)
    assert len(blocks) == 2
    for path, rows in zip(images, blocks):
        pixels = resized(path, 224, 224).astype(np.float32)
        if not rgb:
            pixels = pixels[..., ::-1]
        (logits,) = tf_run(case.pb, {"input": pixels[None]}, case.outputs)
        logits = logits[0].astype(np.float64)
        top5 = np.argsort(-logits)[:5]
        assert np.min(-np.diff(logits[np.argsort(-logits)[:6]])) > 1e-3 * np.ptp(logits), \
            "near-tied top-5: the comparison would be meaningless"
        assert [r[0] for r in rows] == top5.tolist()
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        assert np.allclose([r[1] for r in rows], probs[top5], rtol=1e-3, atol=1e-6)
    if not rgb:  # the channel order matters for this net: BGR and RGB disagree somewhere
        rgb_result = run("classify", xml, *images, "--top", "5", "--rgb")
        assert table(rgb_result.stdout) != blocks


@pytest.mark.zoo
def test_classify_reads_nhwc_irs_too(classifier, tmp_path):
    case, xml = classifier
    nhwc = convert(case.pb, tmp_path / "nhwc", "-b", "1", "--disable_nhwc_to_nchw")
    assert 'shape="1,224,224,3"' in nhwc.read_text()  # channels last
    image = scene(tmp_path / "a.png", 120, 90, 5)
    first, second = run("classify", xml, image), run("classify", nhwc, image)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert [r[0] for r in table(first.stdout)[0]] == [r[0] for r in table(second.stdout)[0]]


@pytest.mark.zoo
def test_classify_labels(classifier, tmp_path):
    _, xml = classifier
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"class number {i}\n" for i in range(1000)))
    image = scene(tmp_path / "a.png", 64, 64)
    result = run("classify", xml, image, "--labels", labels, "--top", "3")
    assert result.returncode == 0, result.stderr
    (rows,) = table(result.stdout)
    assert len(rows) == 3
    assert all(label == f"class number {cid}" for cid, _, label in rows)


@pytest.mark.zoo
def test_sample_errors_are_clean(classifier, tmp_path):
    """Each bad call fails cleanly and writes nothing: not in the working folder (where a
    sample would put its output), not next to the inputs, not at ``--out``."""
    _, xml = classifier
    image = scene(tmp_path / "a.png", 32, 32)
    fake = tmp_path / "photo.jpg"
    fake.write_bytes(b"\x00\x01 definitely not a jpeg\n")
    work = tmp_path / "work"
    work.mkdir()
    before, ir_before = snapshot(tmp_path), snapshot(xml.parent)
    out = work / "out.png"
    for args, needle in [
            (("classify", tmp_path / "missing.xml", image), "missing.xml: no such file"),
            (("classify", image, image), "is not an OpenVINO IR"),
            (("classify", xml, fake), "photo.jpg is not an image"),
            (("classify", xml, tmp_path / "gone.png"), "gone.png: no such file"),
            (("classify", xml, image, "--labels", tmp_path / "no.txt"), "no.txt: no such file"),
            (("detect", xml, image, "--out", out), "no detection outputs"),
            (("detect", xml, fake, "--out", out), "photo.jpg is not an image")]:
        assert_clean_failure(run(*args, cwd=work), out, needle)
        assert_unchanged(tmp_path, before)
        assert_unchanged(xml.parent, ir_before)


# -- detect ---------------------------------------------------------------------------------------

SIZE = 64
# (centre y, centre x, score logit, class) of the three detections the toy detector makes.
DETECTIONS = [(0.28, 0.3, 4.0, 1), (0.7, 0.68, 2.5, 2), (0.3, 0.76, -4.0, 3)]


def toy_detector(path: Path) -> Path:
    """A small TF graph with the Object Detection API's outputs: a conv net whose pooled
    features nudge three fixed boxes (sigmoid-squashed centres and sizes) and scores."""
    import tensorflow as tf
    v1 = tf.compat.v1
    rng = np.random.default_rng(7)
    logit = lambda p: float(np.log(p / (1 - p)))  # noqa: E731
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [1, SIZE, SIZE, 3], name="image_tensor")
        k = tf.constant(rng.normal(0, 0.3, (3, 3, 3, 8)).astype(np.float32))
        h = tf.nn.relu(tf.nn.conv2d(x / 255.0, k, 2, "SAME"))
        f = tf.reduce_mean(h, axis=[1, 2])                                   # [1, 8]
        w = tf.constant(rng.normal(0, 0.05, (8, 12)).astype(np.float32))
        b = np.array([[logit(cy), logit(cx), 0.0, 0.0] for cy, cx, _, _ in DETECTIONS],
                     np.float32).reshape(1, 12)
        raw = tf.reshape(tf.matmul(f, w) + b, [1, 3, 4])
        cy, cx, hh, ww = tf.split(tf.sigmoid(raw), 4, axis=-1)
        hh, ww = 0.1 + 0.3 * hh, 0.1 + 0.3 * ww
        tf.concat([cy - hh / 2, cx - ww / 2, cy + hh / 2, cx + ww / 2], -1, name="detection_boxes")
        ws = tf.constant(rng.normal(0, 0.05, (8, 3)).astype(np.float32))
        bs = np.array([[s for _, _, s, _ in DETECTIONS]], np.float32)
        scores = tf.sigmoid(tf.matmul(f, ws) + bs, name="detection_scores")
        classes = np.array([[c for _, _, _, c in DETECTIONS]], np.float32)
        tf.add(0.0 * scores, classes, name="detection_classes")
        tf.reduce_sum(tf.ones_like(scores), axis=1, name="num_detections")
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


OUTPUTS = ["detection_boxes", "detection_scores", "detection_classes", "num_detections"]


def edge_fraction(img: np.ndarray, box: tuple[int, int, int, int], colour) -> float:
    """The share of pixels along the four edges of ``box`` that have exactly ``colour``."""
    x0, y0, x1, y1 = box
    edges = [img[y0, x0 + 3:x1 - 2], img[y1, x0 + 3:x1 - 2], img[y0 + 3:y1 - 2, x0],
             img[y0 + 3:y1 - 2, x1]]
    pixels = np.concatenate([e.reshape(-1, 3) for e in edges])
    return float(np.mean(np.all(pixels == np.array(colour, np.uint8), axis=1)))


def test_detect_draws_the_boxes(tmp_path):
    from tfconv_ir_backend.tools.detect import box_colour
    pb = toy_detector(tmp_path / "det.pb")
    xml = convert(pb, tmp_path / "ir", "--output", ",".join(OUTPUTS))
    image = scene(tmp_path / "street.png", 200, 150, 3)
    out = tmp_path / "result.png"
    result = run("detect", xml, image, "--out", out, "--threshold", "0.5")
    assert result.returncode == 0, result.stderr
    assert "2 detection(s) with score >= 0.5" in result.stdout

    pixels = resized(image, SIZE, SIZE)[..., ::-1].astype(np.float32)  # BGR, as detect feeds it
    boxes, scores, classes, num = tf_run(pb, {"image_tensor": pixels[None]}, OUTPUTS)
    assert int(num[0]) == 3 and sorted(scores[0] >= 0.5) == [False, True, True]
    drawn = np.asarray(Image.open(out).convert("RGB"))
    assert drawn.shape == (150, 200, 3)
    for (ymin, xmin, ymax, xmax), score, cls in zip(boxes[0], scores[0], classes[0]):
        box = tuple(int(round(min(max(v, 0.0), 1.0) * (n - 1)))
                    for v, n in ((xmin, 200), (ymin, 150), (xmax, 200), (ymax, 150)))
        share = edge_fraction(drawn, box, box_colour(int(cls)))
        if score >= 0.5:
            assert share > 0.95, (box, share)
            assert f"class {int(cls)}  score {score:.4f}" in result.stdout
        else:
            assert share < 0.05, (box, share)
    original = np.asarray(Image.open(image).convert("RGB"))
    assert np.mean(np.any(drawn != original, axis=-1)) < 0.1  # only the boxes and labels changed


def test_detect_output_errors_leave_nothing(tmp_path):
    pb = toy_detector(tmp_path / "det.pb")
    xml = convert(pb, tmp_path / "ir", "--output", ",".join(OUTPUTS))
    image = scene(tmp_path / "a.png", 40, 30)
    before = snapshot(tmp_path)
    assert_clean_failure(run("detect", xml, image, "--out", tmp_path / "r.xyz", cwd=tmp_path),
                         tmp_path / "r.xyz", "unknown image format")
    assert_clean_failure(run("detect", xml, image, "--out", tmp_path / "no" / "r.png", cwd=tmp_path),
                         tmp_path / "no", "does not exist")
    assert_unchanged(tmp_path, before)


def test_validate_reports_matched_detections(tmp_path):
    pb = toy_detector(tmp_path / "det.pb")
    result = run("validate", pb, "--output", ",".join(OUTPUTS), "--input_range", "0,255")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"detections: 2/2 TF detections \(score >= 0.3\) matched by IoU >= 0.5 and "
                     r"class; min IoU 0?\.99\d+", result.stdout) or \
        "min IoU 1.0000" in result.stdout, result.stdout
    assert result.stdout.count(" OK") == 4


def test_detection_output_layout_is_read():
    """The DetectionOutput layout [1,1,N,7]: rows until image_id -1, other images skipped."""
    from tfconv_ir_backend.tools.detect import parse_detections
    rows = np.array([[0, 3, 0.9, 0.1, 0.2, 0.5, 0.6], [1, 2, 0.8, 0, 0, 1, 1],
                     [0, 1, 0.4, 0.3, 0.3, 0.4, 0.4], [-1, 0, 0, 0, 0, 0, 0],
                     [0, 5, 0.99, 0, 0, 1, 1]], np.float32)[None, None]
    found = parse_detections({"DetectionOutput": rows})
    assert [(d.class_id, round(d.score, 2)) for d in found] == [(3, 0.9), (1, 0.4)]
    assert found[0].box == pytest.approx((0.1, 0.2, 0.5, 0.6))


@pytest.mark.parametrize("blocked, needle", [("openvino", "needs the OpenVINO runtime"),
                                             ("PIL", "needs Pillow")])
def test_missing_runtime_is_a_clear_error(tmp_path, blocked, needle):
    """Without the optional extra the commands say what to install (the module is shadowed)."""
    import os
    shadow = tmp_path / "shadow" / blocked
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(f'raise ImportError("No module named {blocked}")\n')
    ir = tmp_path / "ir"
    ir.mkdir()
    (ir / "m.xml").write_text('<?xml version="1.0"?>\n<net name="m" version="11"><layers/>'
                              "<edges/></net>\n")
    image = scene(tmp_path / "a.png", 16, 16)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path / "shadow"), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([*TFCONV, "classify", str(ir / "m.xml"), str(image)],
                            capture_output=True, text=True, env=env, check=False)
    assert_clean_failure(result, tmp_path / "nothing", needle,
                         "pip install 'tfconv-ir-backend[openvino]'")
    assert sorted(p.name for p in ir.iterdir()) == ["m.xml"]
