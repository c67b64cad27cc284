"""The TF-free V2 checkpoint (tensor bundle) reader against TensorFlow's own reader: every dtype,
scalars, empty and large tensors, strings, several shards; corrupt files give clear errors; the
bundle/object-graph protos of our schema match TensorFlow's field numbers."""
from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from tfconv.errors import ModelFormatError
from tfconv_tf_frontend import bundle, proto

tf = pytest.importorskip("tensorflow")

DTYPES = ["float32", "float64", "float16", "bfloat16", "int8", "int16", "int32", "int64",
          "uint8", "uint16", "uint32", "uint64", "bool", "complex64", "complex128"]


def _save(prefix: Path, values: dict[str, np.ndarray], shards: int = 1) -> str:
    """A V1-graph Saver checkpoint (sharded by device when ``shards`` > 1)."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        for i, (name, value) in enumerate(values.items()):
            with tf.device(f"/cpu:{i % shards}"):
                v1.Variable(value, name=name)
        saver = v1.train.Saver(sharded=shards > 1)
        config = v1.ConfigProto(device_count={"CPU": shards})
        with v1.Session(graph=g, config=config) as sess:
            sess.run(v1.global_variables_initializer())
            return saver.save(sess, str(prefix), write_meta_graph=False)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    rng = np.random.default_rng(0)
    values: dict[str, np.ndarray] = {}
    for dt in DTYPES:
        x = rng.standard_normal((3, 4)) * 50
        values[dt] = tf.cast(x + 1j * x if dt.startswith("complex") else x, dt).numpy()
    values["scalar"] = np.float32(3.5)
    values["empty"] = np.zeros((0, 3), np.float32)
    values["large"] = rng.standard_normal((1024, 1024)).astype(np.float32)
    values["strings"] = np.array([b"a", b"", b"xyz" * 100], dtype=object)
    values["scope/string_scalar"] = np.array(b"hello", dtype=object)
    root = tmp_path_factory.mktemp("bundle")
    one = _save(root / "one" / "model.ckpt", values)
    sharded = _save(root / "sharded" / "model.ckpt", values, shards=2)
    return values, one, sharded


@pytest.mark.parametrize("which", ["one", "sharded"])
def test_every_tensor_matches_tensorflow(checkpoint, which):
    values, one, sharded = checkpoint
    prefix = one if which == "one" else sharded
    ours = bundle.Bundle(prefix)
    reader = tf.train.load_checkpoint(prefix)
    theirs = reader.get_variable_to_shape_map()
    assert set(ours.keys()) == set(theirs)
    if which == "sharded":
        assert ours.header.num_shards > 1
        assert len({ours.entry(k).shard_id for k in ours.keys()}) > 1
    for key in ours.keys():
        a, b = ours.tensor(key), reader.get_tensor(key)
        assert a.shape == np.shape(b), key
        if a.dtype == object:
            assert [bytes(x) for x in a.reshape(-1)] == [bytes(x) for x in np.reshape(b, -1)], key
            continue
        assert a.dtype == b.dtype, key
        np.testing.assert_array_equal(a, b, err_msg=key)
    assert set(values) <= set(ours.keys())


def test_numeric_tensors_are_views_of_the_mapped_file(checkpoint):
    _, prefix, _ = checkpoint
    large = bundle.Bundle(prefix).tensor("large")
    assert not large.flags.writeable and not large.flags.owndata
    assert large.shape == (1024, 1024) and large.dtype == np.float32


def _copy(prefix: str, dest: Path) -> Path:
    dest.mkdir()
    for f in Path(prefix).parent.iterdir():
        if f.name.startswith(Path(prefix).name + "."):
            shutil.copy(f, dest / f.name)
    return dest / Path(prefix).name


def test_corrupt_index_files(checkpoint, tmp_path):
    _, prefix, _ = checkpoint
    copy = _copy(prefix, tmp_path / "c")
    index = Path(f"{copy}.index")
    good = index.read_bytes()
    for what, data in [("truncated", good[:20]), ("bad magic", good[:-1] + b"\0"),
                       ("flipped byte", bytes([good[0] ^ 0xFF]) + good[1:])]:
        index.write_bytes(data)
        with pytest.raises(ModelFormatError, match=f"checkpoint index {index} is corrupt"):
            bundle.Bundle(copy)
    index.write_bytes(b"")
    with pytest.raises(ModelFormatError, match="is corrupt"):
        bundle.Bundle(copy)


def test_compressed_block_is_named(checkpoint, tmp_path):
    _, prefix, _ = checkpoint
    copy = _copy(prefix, tmp_path / "c")
    index = Path(f"{copy}.index")
    data = bytearray(index.read_bytes())
    footer = bytes(data[-bundle.FOOTER_SIZE:])
    _, pos = bundle._varint(footer, 0)
    _, pos = bundle._varint(footer, pos)
    off, pos = bundle._varint(footer, pos)
    size, _ = bundle._varint(footer, pos)
    data[off + size] = 1  # snappy, with a valid checksum
    crc = bundle.crc32c(bytes(data[off:off + size + 1]))
    masked = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    data[off + size + 1:off + size + 5] = struct.pack("<I", masked)
    index.write_bytes(bytes(data))
    with pytest.raises(bundle.Unsupported, match="snappy-compressed"):
        bundle.Bundle(copy)


def test_truncated_data_file(checkpoint, tmp_path):
    _, prefix, _ = checkpoint
    copy = _copy(prefix, tmp_path / "c")
    (data,) = Path(copy).parent.glob("*.data-*")
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(ModelFormatError, match="truncated or belongs to another checkpoint"):
        bundle.Bundle(copy).tensor("large")
    data.unlink()
    with pytest.raises(ModelFormatError, match="cannot read data file"):
        bundle.Bundle(copy).tensor("large")


def test_crc32c_known_value():
    assert bundle.crc32c(b"123456789") == 0xE3069283  # the standard CRC-32C check value
    assert bundle.unmask_crc((((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xA282EAD8)
                             & 0xFFFFFFFF) == 0xE3069283


def test_new_schema_messages_match_tensorflow():
    from google.protobuf import descriptor_pool
    from tensorflow.core.protobuf import (meta_graph_pb2, saved_object_graph_pb2,  # noqa: F401
                                          tensor_bundle_pb2, trackable_object_graph_pb2)
    pool = descriptor_pool.Default()
    seen: dict[str, object] = {}

    def walk(desc):
        if desc.full_name in seen:
            return
        seen[desc.full_name] = desc
        for f in desc.fields:
            if f.message_type is not None:
                walk(f.message_type)

    for cls in (proto.MetaGraphDef, proto.TrackableObjectGraph, proto.BundleHeaderProto,
                proto.BundleEntryProto):
        walk(cls.DESCRIPTOR)
    checked = 0
    for full_name, desc in seen.items():
        theirs = pool.FindMessageTypeByName("tensorflow." + full_name.split(".", 2)[2])
        for f in desc.fields:
            t = theirs.fields_by_name.get(f.name)
            assert t is not None, f"{full_name}.{f.name}"
            assert (f.number, f.type, f.is_repeated) == (t.number, t.type, t.is_repeated), \
                f"{full_name}.{f.name}"
            if f.enum_type is not None:
                assert [v.number for v in f.enum_type.values] == \
                    [v.number for v in t.enum_type.values][:len(f.enum_type.values)]
            checked += 1
    assert {"tfconv.tfproto.SaverDef", "tfconv.tfproto.SavedObjectGraph",
            "tfconv.tfproto.TensorSliceProto", "tfconv.tfproto.OpList"} <= set(seen)
    assert checked > 150
