"""Our TensorFlow protobuf schema: TF's field numbers, tensor decoding and attr conversion."""
from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import descriptor as gdesc

from tfconv.errors import ModelFormatError
from tfconv_tf_frontend import proto

# --- without TensorFlow ----------------------------------------------------------------


def _tensor(dtype: int, shape: list[int], **fields) -> object:
    t = proto.TensorProto(dtype=dtype)
    for d in shape:
        t.tensor_shape.dim.add(size=d)
    for name, value in fields.items():
        if isinstance(value, (bytes, int, float)):
            setattr(t, name, value)
        else:
            getattr(t, name).extend(value)
    return t


def test_fill_rule_repeats_last_value() -> None:
    t = _tensor(proto.DataType.DT_FLOAT, [2, 3], float_val=[1.0, 2.0])
    np.testing.assert_array_equal(proto.tensor_to_numpy(t), [[1, 2, 2], [2, 2, 2]])
    assert proto.tensor_to_numpy(t).dtype == np.float32


def test_empty_values_give_zeros_and_scalars_work() -> None:
    t = _tensor(proto.DataType.DT_INT64, [2, 2])
    a = proto.tensor_to_numpy(t)
    assert a.dtype == np.int64 and a.shape == (2, 2) and not a.any()
    s = _tensor(proto.DataType.DT_INT32, [], int_val=[7])
    assert proto.tensor_to_numpy(s).shape == () and proto.tensor_to_numpy(s) == 7
    strings = proto.tensor_to_numpy(_tensor(proto.DataType.DT_STRING, [2]))
    assert strings.dtype == object and list(strings) == [b"", b""]


def test_tensor_content_is_a_view() -> None:
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = _tensor(proto.DataType.DT_FLOAT, [2, 3], tensor_content=values.tobytes())
    a = proto.tensor_to_numpy(t)
    np.testing.assert_array_equal(a, values)
    assert not a.flags.writeable  # np.frombuffer over protobuf's bytes: no extra copy


def test_half_bits_complex_and_strings() -> None:
    half = np.array([1.5, -2.0, 65504.0], dtype=np.float16)
    t = _tensor(proto.DataType.DT_HALF, [3], half_val=half.view(np.uint16).astype(np.int32).tolist())
    np.testing.assert_array_equal(proto.tensor_to_numpy(t), half)
    c = _tensor(proto.DataType.DT_COMPLEX64, [2], scomplex_val=[1, 2, 3, 4])
    np.testing.assert_array_equal(proto.tensor_to_numpy(c), np.array([1 + 2j, 3 + 4j], np.complex64))
    s = _tensor(proto.DataType.DT_STRING, [3], string_val=[b"a", b"bc"])
    assert list(proto.tensor_to_numpy(s)) == [b"a", b"bc", b"bc"]


def test_bad_tensors_raise_model_format_error() -> None:
    with pytest.raises(ModelFormatError, match="needs 24 bytes"):
        proto.tensor_to_numpy(_tensor(proto.DataType.DT_FLOAT, [2, 3], tensor_content=b"\0" * 8))
    with pytest.raises(ModelFormatError, match="more than"):
        proto.tensor_to_numpy(_tensor(proto.DataType.DT_FLOAT, [1], float_val=[1, 2]))
    with pytest.raises(ModelFormatError, match="not fully known"):
        proto.tensor_to_numpy(_tensor(proto.DataType.DT_FLOAT, [-1], float_val=[1]))
    with pytest.raises(ModelFormatError, match="invalid"):
        proto.tensor_to_numpy(_tensor(proto.DataType.DT_INVALID, [1]))


def test_ref_types_map_like_their_base() -> None:
    t = _tensor(proto.DataType.DT_FLOAT_REF, [2], float_val=[3.0])
    np.testing.assert_array_equal(proto.tensor_to_numpy(t), np.array([3, 3], np.float32))
    assert proto.DTYPES[proto.DataType.DT_INT32_REF] == np.int32
    assert proto.DTYPES[proto.DataType.DT_HALF] == np.float16
    assert proto.DTYPES[proto.DataType.DT_BOOL] == np.bool_
    assert proto.DTYPES[proto.DataType.DT_STRING] == np.dtype(object)
    assert proto.DTYPES[proto.DataType.DT_RESOURCE] == np.dtype(object)
    assert proto.DTYPES[proto.DataType.DT_VARIANT] == np.dtype(object)
    assert proto.DataType.DT_INVALID not in proto.DTYPES


def test_dtype_names() -> None:
    assert proto.dtype_name(proto.DataType.DT_FLOAT) == "float32"
    assert proto.dtype_name(proto.DataType.DT_HALF) == "float16"
    assert proto.dtype_name(proto.DataType.DT_BFLOAT16) == "bfloat16"
    assert proto.dtype_name(proto.DataType.DT_INT64_REF) == "int64_ref"
    assert proto.dtype_name(0) == "invalid"
    assert proto.dtype_name(99) == "DataType(99)"


def test_attr_to_python_scalars_shapes_and_lists() -> None:
    a = proto.AttrValue
    assert proto.attr_to_python(a(s=b"SAME")) == b"SAME"
    assert proto.attr_to_python(a(i=-3)) == -3
    assert proto.attr_to_python(a(f=0.5)) == 0.5
    assert proto.attr_to_python(a(b=False)) is False
    assert proto.attr_to_python(a(type=proto.DataType.DT_INT8)) == np.int8
    shape = a()
    shape.shape.dim.add(size=-1)
    shape.shape.dim.add(size=3)
    assert proto.attr_to_python(shape) == (None, 3)
    unknown = a()
    unknown.shape.unknown_rank = True
    assert proto.attr_to_python(unknown) is None
    scalar_shape = a()
    scalar_shape.shape.SetInParent()
    assert proto.attr_to_python(scalar_shape) == ()
    empty = a()
    empty.list.SetInParent()
    assert proto.attr_to_python(empty) == []
    ints = a()
    ints.list.i.extend([1, 2, 2, 1])
    assert proto.attr_to_python(ints) == [1, 2, 2, 1]
    func = a()
    func.func.name = "body_fn"
    assert proto.attr_to_python(func) == "body_fn"
    assert proto.attr_to_python(a()) is None


def test_parse_graphdef_text_and_binary() -> None:
    g = proto.GraphDef()
    node = g.node.add(name="x", op="Placeholder")
    node.attr["dtype"].type = proto.DataType.DT_FLOAT
    g.versions.producer = 1000
    assert proto.parse_graphdef(g.SerializeToString(), text=False) == g
    assert proto.parse_graphdef(str(g).encode(), text=True) == g


def test_schema_package_differs_from_tensorflow() -> None:
    assert proto.GraphDef.DESCRIPTOR.full_name == "tfconv.tfproto.GraphDef"


# --- against TensorFlow ------------------------------------------------------------------

_TF_PACKAGE = "tensorflow."


def _messages(desc: gdesc.Descriptor, seen: dict[str, gdesc.Descriptor]) -> dict[str, gdesc.Descriptor]:
    """Every message type reachable from ``desc`` (including map entries), by full name."""
    if desc.full_name in seen:
        return seen
    seen[desc.full_name] = desc
    for f in desc.fields:
        if f.message_type is not None:
            _messages(f.message_type, seen)
    return seen


def _tf_pool():
    tf = pytest.importorskip("tensorflow")
    # Load the modules that register TF's descriptors in the default pool.
    from google.protobuf import descriptor_pool
    from tensorflow.core.framework import graph_debug_info_pb2, graph_pb2  # noqa: F401
    from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2  # noqa: F401
    assert tf is not None
    return descriptor_pool.Default()


def _suffix(full_name: str) -> str:
    return full_name.split(".", 2)[2] if full_name.startswith(proto.PACKAGE) else \
        full_name[len(_TF_PACKAGE):]


def test_every_field_matches_tensorflow() -> None:
    pool = _tf_pool()
    ours: dict[str, gdesc.Descriptor] = {}
    for cls in (proto.GraphDef, proto.SavedModel, proto.MetaGraphDef):
        _messages(cls.DESCRIPTOR, ours)
    checked = 0
    for full_name, desc in ours.items():
        theirs = pool.FindMessageTypeByName(_TF_PACKAGE + _suffix(full_name))
        assert desc.GetOptions().map_entry == theirs.GetOptions().map_entry, full_name
        for f in desc.fields:
            t = theirs.fields_by_name.get(f.name)
            where = f"{full_name}.{f.name}"
            assert t is not None, f"{where} does not exist in TensorFlow"
            assert (f.number, f.type, f.is_repeated, f.is_packed) == (
                t.number, t.type, t.is_repeated, t.is_packed), where
            if f.message_type is not None:
                assert _suffix(f.message_type.full_name) == _suffix(t.message_type.full_name), where
            if f.enum_type is not None:
                assert _suffix(f.enum_type.full_name) == _suffix(t.enum_type.full_name), where
            oneof = f.containing_oneof.name if f.containing_oneof else None
            assert oneof == (t.containing_oneof.name if t.containing_oneof else None), where
            checked += 1
    assert checked > 100


def test_graphdef_closure_declares_all_of_tensorflows_fields() -> None:
    """Everything TF can write inside a GraphDef is declared, so text GraphDefs parse."""
    pool = _tf_pool()
    for full_name, desc in _messages(proto.GraphDef.DESCRIPTOR, {}).items():
        theirs = pool.FindMessageTypeByName(_TF_PACKAGE + _suffix(full_name))
        assert set(desc.fields_by_name) == set(theirs.fields_by_name), full_name


def test_enums_match_tensorflow() -> None:
    pool = _tf_pool()
    for name in ("DataType", "FullTypeId"):
        ours = {v.name: v.number for v in proto._POOL.FindEnumTypeByName(f"{proto.PACKAGE}.{name}").values}
        theirs = {v.name: v.number for v in pool.FindEnumTypeByName(_TF_PACKAGE + name).values}
        assert ours == theirs, name


def test_numpy_dtypes_match_tensorflow() -> None:
    tf = pytest.importorskip("tensorflow")
    for enum, dtype in proto.DTYPES.items():
        if enum in (proto.DataType.DT_RESOURCE, proto.DataType.DT_VARIANT,
                    proto.DataType.DT_RESOURCE_REF, proto.DataType.DT_VARIANT_REF):
            continue
        try:
            tf_dtype = tf.dtypes.as_dtype(enum)
        except TypeError:
            continue  # a type this TF build does not expose
        expected = tf_dtype.base_dtype.as_numpy_dtype
        if tf_dtype.base_dtype.is_quantized:
            continue  # TF gives structured dtypes; we use their storage integers
        assert dtype == np.dtype(expected), proto.dtype_name(enum)


@pytest.fixture(scope="module")
def tf_graph():
    """A TF1-style graph with constants of many dtypes and nodes with every kind of attr."""
    tf = pytest.importorskip("tensorflow")
    g = tf.Graph()
    rng = np.random.default_rng(0)
    with g.as_default():
        for dt in (np.float32, np.float16, np.float64, np.int8, np.int16, np.int32, np.int64,
                   np.uint8, np.uint16, np.uint32, np.uint64, np.complex64, np.complex128):
            values = (rng.standard_normal((2, 3)) * 10).astype(dt)
            tf.constant(values, name=f"content_{np.dtype(dt).name}")
            tf.constant(values.flat[0], shape=[3, 4], dtype=dt, name=f"fill_{np.dtype(dt).name}")
        tf.constant(rng.standard_normal((2, 2)), dtype=tf.bfloat16, name="content_bfloat16")
        tf.constant(1.5, shape=[3, 4], dtype=tf.bfloat16, name="fill_bfloat16")
        tf.constant([True, False, True], name="bools")
        tf.constant(True, shape=[2, 2], name="fill_bool")
        tf.constant([b"ab", b"", b"\xff\x00"], name="strings")
        tf.constant("x", shape=[2, 3], name="fill_string")
        tf.constant(3, name="scalar")
        tf.constant([], dtype=tf.float32, name="empty")
        x = tf.compat.v1.placeholder(tf.float32, [None, 8, 8, 3], name="x")
        tf.compat.v1.placeholder(tf.int32, None, name="unknown_rank")
        w = tf.constant(rng.standard_normal((3, 3, 3, 4)).astype(np.float32), name="w")
        y = tf.nn.conv2d(x, w, strides=[1, 2, 2, 1], padding="SAME", name="conv")
        tf.nn.leaky_relu(y, alpha=0.25, name="leaky")
        tf.raw_ops.Bucketize(input=x, boundaries=[0.0, 0.5, 1.5], name="bucketize")
        tf.raw_ops.IdentityN(input=[x, w], name="identity_n")
        tf.raw_ops.FIFOQueueV2(component_types=[tf.float32, tf.int32], shapes=[[2, None], []],
                               capacity=4, name="queue")

        @tf.function
        def double(t):
            return t * 2.0

        double(x)
    graph_def = g.as_graph_def()
    # Kinds no public op produces from Python: list(bool), list(tensor), list(func), placeholder.
    extra = graph_def.node.add(name="manual", op="NoOp")
    extra.attr["bools"].list.b.extend([True, False])
    extra.attr["tensors"].list.tensor.extend(
        [tf.make_tensor_proto(np.arange(3, dtype=np.int32)), tf.make_tensor_proto(2.5)])
    extra.attr["funcs"].list.func.add(name="f1")
    extra.attr["funcs"].list.func.add(name="f2")
    extra.attr["placeholder"].placeholder = "T"
    extra.attr["empty_list"].list.SetInParent()
    return graph_def


def _reference(tf, a):
    """TensorFlow's reading of an AttrValue, in attr_to_python's conventions."""
    def shape(s):
        dims = tf.TensorShape(s).as_list() if not s.unknown_rank else None
        return None if dims is None else tuple(dims)

    kind = a.WhichOneof("value")
    one = {
        "s": lambda v: v, "i": int, "f": float, "b": bool,
        "type": lambda v: np.dtype(tf.dtypes.as_dtype(v).as_numpy_dtype),
        "shape": shape, "tensor": tf.make_ndarray, "func": lambda v: v.name,
        "placeholder": lambda v: v,
    }
    if kind == "list":
        for name in ("s", "i", "f", "b", "type", "shape", "tensor", "func"):
            items = getattr(a.list, name)
            if len(items):
                return [one[name](x) for x in items]
        return []
    return one[kind](getattr(a, kind))


def _same(ours, ref) -> None:
    if isinstance(ref, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.dtype == ref.dtype and ours.shape == ref.shape
        if ref.dtype == object:
            assert ours.tolist() == ref.tolist()
        else:
            np.testing.assert_array_equal(ours, ref)
    elif isinstance(ref, list):
        assert isinstance(ours, list) and len(ours) == len(ref)
        for o, r in zip(ours, ref, strict=True):
            _same(o, r)
    else:
        assert type(ours) is type(ref) or isinstance(ref, np.dtype), (ours, ref)
        assert ours == ref


def test_round_trip_through_tensorflow_serialization(tf_graph) -> None:
    tf = pytest.importorskip("tensorflow")
    ours = proto.parse_graphdef(tf_graph.SerializeToString(), text=False)
    assert [n.name for n in ours.node] == [n.name for n in tf_graph.node]
    assert ours.versions.producer == tf_graph.versions.producer
    assert [f.signature.name for f in ours.library.function] == \
        [f.signature.name for f in tf_graph.library.function]
    compared = 0
    for mine, theirs in zip(ours.node, tf_graph.node, strict=True):
        assert (mine.op, list(mine.input), mine.device) == (theirs.op, list(theirs.input), theirs.device)
        assert set(mine.attr) == set(theirs.attr)
        for key in theirs.attr:
            _same(proto.attr_to_python(mine.attr[key]), _reference(tf, theirs.attr[key]))
            compared += 1
    assert compared > 60


def test_both_encodings_of_constants_occur(tf_graph) -> None:
    """The graph exercises tensor_content and single-value fills (the interesting paths)."""
    nodes = {n.name: n for n in tf_graph.node}
    assert nodes["content_float32"].attr["value"].tensor.tensor_content
    fill = nodes["fill_float32"].attr["value"].tensor
    assert not fill.tensor_content and len(fill.float_val) == 1
    assert len(nodes["fill_float16"].attr["value"].tensor.half_val) == 1
    assert len(nodes["fill_string"].attr["value"].tensor.string_val) == 1


def test_specific_attr_values(tf_graph) -> None:
    nodes = {n.name: n for n in proto.parse_graphdef(tf_graph.SerializeToString(), text=False).node}

    def attr(node: str, key: str):
        return proto.attr_to_python(nodes[node].attr[key])

    assert attr("conv", "strides") == [1, 2, 2, 1]
    assert attr("conv", "padding") == b"SAME"
    assert attr("conv", "T") == np.float32
    assert attr("leaky", "alpha") == 0.25
    assert attr("bucketize", "boundaries") == [0.0, 0.5, 1.5]
    assert attr("identity_n", "T") == [np.float32, np.float32]
    assert attr("queue", "shapes") == [(2, None), ()]
    assert attr("queue", "component_types") == [np.float32, np.int32]
    assert attr("x", "shape") == (None, 8, 8, 3)
    assert attr("unknown_rank", "shape") is None
    assert attr("manual", "bools") == [True, False]
    assert attr("manual", "funcs") == ["f1", "f2"]
    assert attr("manual", "placeholder") == "T"
    assert attr("manual", "empty_list") == []
    fill = attr("fill_float32", "value")
    np.testing.assert_array_equal(fill, np.full((3, 4), fill.flat[0]))
    assert attr("fill_string", "value").tolist() == [[b"x"] * 3] * 2
    call = next(n for n in nodes.values() if n.op in ("PartitionedCall", "StatefulPartitionedCall"))
    assert proto.attr_to_python(call.attr["f"]).startswith("__inference_double")


def test_text_format_round_trip(tf_graph) -> None:
    from google.protobuf import text_format
    text = text_format.MessageToString(tf_graph).encode()
    ours = proto.parse_graphdef(text, text=True)
    assert ours.SerializeToString(deterministic=True) == \
        proto.parse_graphdef(tf_graph.SerializeToString(), text=False).SerializeToString(deterministic=True)


@pytest.mark.parametrize("name", ["int4", "uint4", "float8_e5m2", "float8_e4m3fn", "bfloat16"])
@pytest.mark.parametrize("fill", [False, True])
def test_ml_dtypes_constants_match_tensorflow(name: str, fill: bool) -> None:
    tf = pytest.importorskip("tensorflow")
    ml_dtypes = pytest.importorskip("ml_dtypes")
    dt = getattr(ml_dtypes, name)
    if fill:
        tp = tf.make_tensor_proto(np.array(3).astype(dt), shape=[2, 3])
    else:
        tp = tf.make_tensor_proto(np.arange(1, 7).astype(dt).reshape(2, 3))
    ours = proto.tensor_to_numpy(proto.TensorProto.FromString(tp.SerializeToString()))
    ref = tf.make_ndarray(tp)
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    np.testing.assert_array_equal(ours.astype(np.float32), ref.astype(np.float32))


def test_fast_text_reader_equals_text_format() -> None:
    """parse_text_graphdef_fast gives the message text_format gives (escaped bytes, enums,
    floats, negative ints, lists, shapes, comments); external=True leaves big tensor_content
    outside the message with the same values; unsupported syntax returns None."""
    from google.protobuf import text_format

    gd = proto.GraphDef()
    node = gd.node.add()
    node.name, node.op, node.device = "w/read", "Const", "/cpu:0"
    node.input.extend(["^a", "b:1"])
    value = np.random.default_rng(0).standard_normal((40, 50)).astype("<f4")
    t = node.attr["value"].tensor
    t.dtype = 1
    for d in value.shape:
        t.tensor_shape.dim.add().size = d
    t.tensor_content = value.tobytes()
    node.attr["dtype"].type = 1
    node.attr["eps"].f = 1e-05
    node.attr["flag"].b = True
    node.attr["s"].s = b'quote " backslash \\ newline \n byte \xff'
    node.attr["ints"].list.i.extend([-1, 0, 2**40])
    node.attr["shape"].shape.dim.add().size = -1
    node.attr["shape"].shape.unknown_rank = False
    gd.versions.producer = 1234
    text = "# a comment\n" + text_format.MessageToString(gd)
    fast = proto.parse_text_graphdef_fast(text.encode())
    assert fast == text_format.Parse(text, proto.GraphDef())
    ext = proto.parse_text_graphdef_fast(text.encode(), external=True)
    got = proto.tensor_to_numpy(ext.node[0].attr["value"].tensor)
    assert np.array_equal(got, value)
    assert len(ext.node[0].attr["value"].tensor.tensor_content) < 100
    assert proto.parse_text_graphdef_fast(b"node { name: 'x' op: 'Const' } unknown_field: 1") is None
    assert proto.parse_text_graphdef_fast(b"node { name: 'x'") is None
