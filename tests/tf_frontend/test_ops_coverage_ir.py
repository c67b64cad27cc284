"""The IR ops that the op-coverage families emit, through the real writer: one frozen graph
using them all, converted by ``tfconv convert``, read back and run by OpenVINO, compared with
TF, and written byte-identically twice."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from optest import rand, tf, tf1
from ovrun import ir_layer_types, rel_err, run_ir

raw = tf.raw_ops
FEEDS = {"img": rand((1, 6, 6, 3), "ir_img", 0, 1), "ids": np.array([3, 1, 3, 0, 2], np.int32),
         "wave": rand((2, 16), "ir_wave")}
EXPECTED_IR = {"ScatterNDUpdate", "ExtractImagePatches", "Unique", "RDFT", "IRDFT", "Bucketize",
               "Inverse", "BitwiseLeftShift", "IsInf", "GatherND", "Roll", "ReverseSequence",
               "RandomUniform", "Multinomial", "CTCGreedyDecoderSeqLen", "Asinh", "Atanh"}


def build():
    img = tf1.placeholder(tf.float32, FEEDS["img"].shape, name="img")
    ids = tf1.placeholder(tf.int32, FEEDS["ids"].shape, name="ids")
    wave = tf1.placeholder(tf.float32, FEEDS["wave"].shape, name="wave")
    flat = tf.reshape(img, [-1])
    outs = {
        "patches": raw.ExtractImagePatches(images=img, ksizes=[1, 2, 2, 1], strides=[1, 2, 2, 1],
                                           rates=[1, 1, 1, 1], padding="VALID"),
        "segments": raw.UnsortedSegmentMax(data=flat[:5], segment_ids=ids, num_segments=4),
        "unique": raw.Unique(x=ids)[0],
        "spectrum": tf.signal.irfft(tf.signal.rfft(wave)),
        "buckets": raw.Bucketize(input=flat, boundaries=[0.25, 0.5]),
        "inverse": raw.MatrixInverse(input=img[0, :3, :3, 0] + 3.0 * tf.eye(3)),
        "shifted": raw.LeftShift(x=ids, y=tf.constant(2)),
        "inf": tf.cast(raw.IsInf(x=1.0 / (flat - flat[0])), tf.int32),
        "gathered": raw.GatherNd(params=img[0], indices=[[1, 2], [5, 0]]),
        "rolled": raw.Roll(input=wave, shift=3, axis=-1),
        "reversed": raw.ReverseSequence(input=wave, seq_lengths=[5, 16], seq_dim=1),
        "noise": raw.RandomUniform(shape=[2, 3], dtype=tf.float32, seed=3, seed2=4),
        "draws": raw.Multinomial(logits=[[0.0, -1e4]], num_samples=3),
        "decoded": raw.CTCGreedyDecoder(inputs=tf.reshape(wave, [4, 2, 4]),
                                        sequence_length=[4, 3])[1],
        "hyperbolic": raw.Asinh(x=wave) + raw.Atanh(x=wave * 0.5),
    }
    return {k: tf.identity(v, name=f"out_{k}") for k, v in outs.items()}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("coverage_ir")
    graph = tf.Graph()
    with graph.as_default():
        outs = build()
    with tf1.Session(graph=graph) as sess:
        expected = sess.run(outs, {f"{k}:0": v for k, v in FEEDS.items()})
    pb = tmp / "coverage.pb"
    pb.write_bytes(graph.as_graph_def().SerializeToString())
    runs = []
    for name in ("a", "b"):
        out_dir = tmp / name
        done = subprocess.run([sys.executable, "-m", "tfconv.cli", "convert", str(pb),
                               "--disable_nhwc_to_nchw", "--output",
                               ",".join(t.op.name for t in outs.values()), "-o",
                               str(out_dir)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        runs.append(out_dir / "coverage.xml")
    return runs, list(outs), expected


def test_written_ir_runs_in_openvino_as_tf_does(converted):
    (xml, _), names, expected = converted
    assert EXPECTED_IR <= set(ir_layer_types(xml))
    got = run_ir(xml, [FEEDS["img"], FEEDS["ids"], FEEDS["wave"]])
    for name, value in zip(names, got):
        want = expected[name]
        assert value.shape == want.shape and value.dtype == want.dtype, name
        if np.issubdtype(want.dtype, np.floating):
            assert rel_err(value, want) <= 1e-4, name
        else:
            assert np.array_equal(value, want), name


def test_written_ir_is_deterministic(converted):
    (a, b), _, _ = converted
    assert a.read_bytes() == b.read_bytes()
    assert a.with_suffix(".bin").read_bytes() == b.with_suffix(".bin").read_bytes()
