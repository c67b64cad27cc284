"""read_graph / describe_file: text vs binary detection, and a clear error for every other kind of file."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tfconv.errors import ModelFormatError
from tfconv_tf_frontend import proto
from tfconv_tf_frontend.sniff import describe_file, read_graph

ROOT = Path(__file__).resolve().parents[2]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _int_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _error(path: Path, is_text: bool | None = None) -> str:
    with pytest.raises(ModelFormatError) as info:
        read_graph(path, is_text=is_text)
    message = str(info.value)
    assert len(message.splitlines()) <= 2, message
    return message


# --- fixtures built with TensorFlow --------------------------------------------------------


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def frozen(tf, tmp_path_factory) -> dict[str, Path]:
    """A small frozen graph written by TF as binary (model.pb) and text (model.pbtxt)."""
    import numpy as np
    out = tmp_path_factory.mktemp("frozen")
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        w = tf.constant(np.arange(4 * 64, dtype=np.float32).reshape(4, 64), name="w")
        tf.nn.relu(tf.matmul(x, w), name="y")
    tf.io.write_graph(g.as_graph_def(), str(out), "model.pb", as_text=False)
    tf.io.write_graph(g.as_graph_def(), str(out), "model.pbtxt", as_text=True)
    return {"binary": out / "model.pb", "text": out / "model.pbtxt"}


@pytest.fixture(scope="module")
def saved_model_dir(tf, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sm") / "my_model"

    class Double(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def __call__(self, x):
            return {"y": x * 2.0}

    tf.saved_model.save(Double(), str(out))
    return out


@pytest.fixture(scope="module")
def meta_graph(tf, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("meta") / "model.ckpt.meta"
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
        tf.identity(x * 3.0, name="y")
    with g.as_default():
        tf.compat.v1.train.export_meta_graph(filename=str(path), graph=g)
    return path


# --- good graphs ---------------------------------------------------------------------------


def test_binary_graph_is_read_without_notice(frozen) -> None:
    graph, notices = read_graph(frozen["binary"], is_text=None)
    assert [n.name for n in graph.node] == ["x", "w", "MatMul", "y"]
    assert notices == []


def test_text_graph_is_detected_with_notice(frozen) -> None:
    graph, notices = read_graph(frozen["text"], is_text=None)
    assert [n.name for n in graph.node] == ["x", "w", "MatMul", "y"]
    assert len(notices) == 1 and "text GraphDef" in notices[0] and "--input_model_is_text" in notices[0]
    binary, _ = read_graph(frozen["binary"], is_text=None)
    assert graph == binary


def test_text_flag_matching_the_file_gives_no_notice(frozen) -> None:
    assert read_graph(frozen["text"], is_text=True)[1] == []


def test_text_flag_on_binary_file_reads_binary_with_notice(frozen) -> None:
    graph, notices = read_graph(frozen["binary"], is_text=True)
    assert len(graph.node) == 4
    assert len(notices) == 1 and "binary" in notices[0]


def test_text_graph_with_comments_and_any_extension(frozen, tmp_path) -> None:
    path = tmp_path / "graph.pb"
    path.write_text("# exported by hand\n\n" + frozen["text"].read_text())
    graph, notices = read_graph(path, is_text=None)
    assert len(graph.node) == 4 and notices


def test_describe_file_returns_none_for_graphs(frozen) -> None:
    assert describe_file(frozen["binary"]) is None
    assert describe_file(frozen["text"]) is None


# --- files that are not GraphDefs ------------------------------------------------------------


def test_missing_file(tmp_path) -> None:
    message = _error(tmp_path / "nope.pb")
    assert "does not exist" in message and "nope.pb" in message


def test_saved_model_directory(saved_model_dir) -> None:
    message = _error(saved_model_dir)
    assert "SavedModel directory" in message and "--saved_model_dir" in message
    assert describe_file(saved_model_dir) == "a SavedModel directory"


def test_plain_directory_lists_candidates(frozen) -> None:
    message = _error(frozen["binary"].parent)
    assert "directory" in message and "model.pb" in message


def test_empty_file(tmp_path) -> None:
    path = tmp_path / "model.pb"
    path.write_bytes(b"")
    assert "empty" in _error(path) and "0 bytes" in _error(path)


def test_saved_model_pb(saved_model_dir) -> None:
    message = _error(saved_model_dir / "saved_model.pb")
    assert "SavedModel" in message and "saved_model.pb" in message
    assert str(saved_model_dir) in message and "--saved_model_dir" in message
    assert "serve" in message and "serving_default" in message
    assert describe_file(saved_model_dir / "saved_model.pb").startswith("a SavedModel's saved_model.pb")


def test_saved_model_content_under_another_name(saved_model_dir, tmp_path) -> None:
    path = tmp_path / "frozen.pb"
    path.write_bytes((saved_model_dir / "saved_model.pb").read_bytes())
    message = _error(path)
    assert "SavedModel" in message and "--saved_model_dir" in message


def test_meta_graph(meta_graph) -> None:
    message = _error(meta_graph)
    assert "MetaGraph" in message and "--input_meta_graph" in message
    assert describe_file(meta_graph).startswith("a MetaGraph")


def test_hdf5(tmp_path) -> None:
    path = tmp_path / "model.pb"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(200))
    message = _error(path)
    assert "HDF5" in message and "Keras" in message and "SavedModel" in message


def test_keras_archive(tmp_path) -> None:
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    message = _error(path)
    assert "Keras 3" in message and "tf.saved_model.save" in message


def test_other_zip(tmp_path) -> None:
    path = tmp_path / "stuff.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("export/saved_model.pb", b"x")
    message = _error(path)
    assert "zip" in message and "export" in message


def test_tflite(tmp_path) -> None:
    path = tmp_path / "model.pb"
    path.write_bytes(b"\x1c\x00\x00\x00TFL3" + os.urandom(100))
    message = _error(path)
    assert "TFLite" in message and "TFLite frontend" in message


def test_onnx(tmp_path) -> None:
    node = _len_field(1, b"x") + _len_field(2, b"y") + _len_field(4, b"Relu")
    graph = _len_field(1, node) + _len_field(2, b"main_graph")
    data = (_int_field(1, 8) + _len_field(2, b"pytorch") + _len_field(3, b"2.3.0")
            + _len_field(7, graph) + _len_field(8, _int_field(2, 17)))
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    message = _error(path)
    assert "ONNX" in message and "pytorch" in message and "ONNX frontend" in message


def test_git_lfs_pointer(tmp_path) -> None:
    path = tmp_path / "model.pb"
    path.write_text("version https://git-lfs.github.com/spec/v1\n"
                    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
                    "size 12345\n")
    message = _error(path)
    assert "Git LFS pointer" in message and "sha256:4d7a2146" in message
    assert "12345" in message and "git lfs pull" in message


def test_html(tmp_path) -> None:
    path = tmp_path / "model.pb"
    path.write_text("\n<!DOCTYPE HTML>\n<html><body>Not Found</body></html>\n")
    message = _error(path)
    assert "HTML page" in message and "failed download" in message


def test_other_text(tmp_path) -> None:
    path = tmp_path / "model.pb"
    path.write_text("These are the release notes for a very long product name that goes on and on\n")
    message = _error(path)
    assert "text file" in message and "These are the release notes" in message
    assert "goes on and on" not in message  # the first line is cut to 60 characters
    assert "'node {'" in message and "'versions {'" in message


def test_text_parse_error_reports_line_and_column(tmp_path) -> None:
    path = tmp_path / "model.pbtxt"
    path.write_text('node {\n  name: "a"\n  op: "Const"\n  colour: 3\n}\n')
    message = _error(path)
    assert f"{path}:4:" in message and "colour" in message


def test_truncated_graph(frozen, tmp_path) -> None:
    data = frozen["binary"].read_bytes()
    path = tmp_path / "model.pb"
    path.write_bytes(data[: len(data) // 2])
    message = _error(path)
    assert "truncated" in message and f"byte {len(data) // 2} of" in message


def test_graph_without_nodes(tmp_path) -> None:
    g = proto.GraphDef()
    g.versions.producer = 1000
    path = tmp_path / "model.pb"
    path.write_bytes(g.SerializeToString())
    assert "contains no nodes" in _error(path)
    text = tmp_path / "model.pbtxt"
    text.write_text("versions {\n  producer: 1000\n}\n")
    assert "contains no nodes" in _error(text)


def test_random_binary(tmp_path) -> None:
    path = tmp_path / "model.pb"
    path.write_bytes(b"\xff\xfe\x07\x07" + bytes(range(256)))
    message = _error(path)
    assert "not a TensorFlow GraphDef" in message and "binary protobuf parse failed" in message
    assert "--input_model_is_text" in message


def test_describe_file_kinds(tmp_path) -> None:
    html = tmp_path / "a.pb"
    html.write_text("<html></html>")
    assert describe_file(html).startswith("an HTML page")
    h5 = tmp_path / "b.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n\0\0")
    assert "HDF5" in describe_file(h5)
    empty = tmp_path / "c.pb"
    empty.write_bytes(b"")
    assert "empty" in describe_file(empty)
    assert describe_file(tmp_path / "missing.pb") is None


# --- no TensorFlow at import time --------------------------------------------------------------


def test_importing_sniff_does_not_import_tensorflow() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT / "core"), str(ROOT / "plugins" / "tf_frontend")]))
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import tfconv_tf_frontend.sniff"],
                            env=env, capture_output=True, text=True, check=True)
    modules = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line]
    assert "tfconv_tf_frontend.sniff" in modules
    assert not [m for m in modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")]


def test_binary_graph_with_mostly_printable_start_is_binary(tmp_path) -> None:
    g = proto.GraphDef()
    node = g.node.add(name="vocab", op="Const")
    node.attr["value"].tensor.dtype = proto.DataType.DT_STRING
    node.attr["value"].tensor.string_val.append(b"the quick brown fox " * 400)
    path = tmp_path / "vocab.pb"
    path.write_bytes(g.SerializeToString())
    graph, notices = read_graph(path, is_text=None)
    assert graph == g and notices == []


def test_text_saved_model_and_meta_graph(tmp_path) -> None:
    sm = tmp_path / "saved_model.pbtxt"
    sm.write_text("saved_model_schema_version: 1\nmeta_graphs {\n}\n")
    assert "text SavedModel" in _error(sm) and "--saved_model_dir" in _error(sm)
    meta = tmp_path / "model.meta.txt"
    meta.write_text("meta_info_def {\n  tags: 'serve'\n}\n")
    assert "text MetaGraph" in _error(meta) and "--input_meta_graph" in _error(meta)


def test_checkpoint_file(tmp_path) -> None:
    path = tmp_path / "model.ckpt.data-00000-of-00001"
    path.write_bytes(b"\xff\xfe" + bytes(range(256)))
    assert "checkpoint" in _error(path)


def test_external_constants_stay_in_the_file_map_with_equal_values(tmp_path):
    """read_graph(external=True): big tensor_content payloads are views of the file's memory
    map (no copy), equal to what the ordinary parse gives; the rest of the graph is equal too;
    dropping the map's pages (release_pages) leaves the values readable."""
    import numpy as np

    from tfconv_ir_backend._arrays import release_pages

    rng = np.random.default_rng(0)
    gd = proto.GraphDef()
    values = {"big": rng.standard_normal((3, 3, 64, 128)).astype("<f4"),
              "small": np.arange(6, dtype="<f4").reshape(2, 3),
              "wide": rng.standard_normal((512, 600)).astype("<f4")}
    for name, value in values.items():
        node = gd.node.add()
        node.name, node.op = name, "Const"
        node.attr["dtype"].type = 1
        t = node.attr["value"].tensor
        t.dtype = 1
        for d in value.shape:
            t.tensor_shape.dim.add().size = d
        t.tensor_content = value.tobytes()
    out = gd.node.add()
    out.name, out.op = "out", "AddN"
    out.input.extend(["big", "wide"])
    path = tmp_path / "big.pb"
    path.write_bytes(gd.SerializeToString())
    assert path.stat().st_size > 1 << 20
    plain, _ = read_graph(path, is_text=None)
    mapped, _ = read_graph(path, is_text=None, external=True)
    assert [(n.name, n.op, list(n.input)) for n in mapped.node] == \
        [(n.name, n.op, list(n.input)) for n in plain.node]
    for node, ref in zip(mapped.node[:3], plain.node[:3]):
        got = proto.tensor_to_numpy(node.attr["value"].tensor)
        assert np.array_equal(got, proto.tensor_to_numpy(ref.attr["value"].tensor))
        assert np.array_equal(got, values[node.name]) and not got.flags.writeable
        if node.name != "small":
            assert len(node.attr["value"].tensor.tensor_content) < 100  # left in the map
            release_pages(got)
            assert np.array_equal(got, values[node.name])
