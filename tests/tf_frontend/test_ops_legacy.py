"""The older op versions TF still imports, each converted and compared with TF: the attr-k TopK,
PlaceholderV2, the V2 TensorArrays (and the V3 size/close outside a loop), the non-V2
TensorListScatter/TensorListConcat, and the table fills (InitializeTable(V2),
LookupTableImport(V2), LookupTableInsert(V2)) of v1 and v2 hash tables.

TF refuses to build an op deprecated at the current GraphDef version (TopK since version 7,
PlaceholderV2 since 23, the V2 TensorArrays since 26), so those graphs start from an imported
empty GraphDef of an older producer version, as a graph written back then loads. TF's CPU kernel
of the attr-k TopK no longer matches the op (it carries TopKV2's ``index_type`` constraint, which
TopK has no attr for), so TopK's reference is TopKV2 on the same input.

Conversion runs the source passes too (``test_ops_control_flow.convert``): a table's contents
reach its lookups through ``tf_frontend.attach_table_contents``.
"""
from __future__ import annotations

import numpy as np
import pytest

from optest import CORE, compare, rand, rng_for, tf, to_ov_model
from test_ops_control_flow import convert

tf1 = tf.compat.v1
raw = tf.raw_ops


def legacy_graph(producer: int = 6) -> tf.Graph:
    """An empty graph of GraphDef version ``producer``: ops removed since then can be built."""
    g = tf.Graph()
    gd = tf1.GraphDef()
    gd.versions.producer = producer
    with g.as_default():
        tf.import_graph_def(gd, name="")
    assert g.graph_def_versions.producer == producer
    return g


def run(g: tf.Graph, feeds: dict, outs: list, reference: tf.Graph | None = None,
        rtol: float = 1e-5, feed_sets: list[dict] | None = None):
    """TF's values of ``outs`` vs the converted ``outs`` in OpenVINO, for ``feeds`` and each of
    ``feed_sets``; returns the IR and the graph's op types. With ``reference``, TF runs that
    graph instead (tensors and placeholders of the same names)."""
    gd = g.as_graph_def()
    ir = convert(gd.SerializeToString(), [t.name for t in outs])
    model, names = to_ov_model(ir)
    compiled = CORE.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    for values in [feeds, *(feed_sets or [])]:
        with tf1.Session(graph=reference or g) as sess:
            expected = sess.run([t.name for t in outs],
                                {f"{t.op.name}:0": v for t, v in values.items()})
        by_name = {t.op.name: v for t, v in values.items()}
        result = compiled.create_infer_request().infer([by_name[n] for n in names])
        for i, e in enumerate(expected):
            compare(e, result[compiled.output(i)], rtol, f"output {i} ({outs[i].name})")
    return ir, {n.op for n in gd.node}


# --- TopK (attr k) and PlaceholderV2 ---------------------------------------------------------


@pytest.mark.parametrize("shape, k", [((3, 7), 3), ((2, 4, 6), 1), ((5,), 5)],
                         ids=["k3-rank2", "k1-rank3", "k-all-rank1"])
def test_topk_attr_k(shape, k):
    g, reference = legacy_graph(6), tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, shape, name="x")
        values, indices = raw.TopK(input=x, k=k, sorted=True, name="top")
    with reference.as_default():  # TF cannot place a TopK kernel any more (see the module doc)
        tf1.placeholder(tf.float32, shape, name="x")
        raw.TopKV2(input=reference.get_tensor_by_name("x:0"), k=k, sorted=True, name="top")
    # distinct values: the order of ties is not what is compared
    _, types = run(g, {x: rng_values(shape, "topk")}, [values, indices], reference)
    assert "TopK" in types and "TopKV2" not in types


def rng_values(shape, key):
    """Distinct random floats of ``shape`` (a permutation of a spread, so no ties)."""
    n = int(np.prod(shape))
    return (rng_for(key).permutation(n).astype(np.float32) / n - 0.5).reshape(shape)


@pytest.mark.parametrize("shape, fed", [((2, 5), (2, 5)), ((None, 5), (4, 5))],
                         ids=["static", "dynamic-batch"])
def test_placeholder_v2_is_the_graph_input(shape, fed):
    g = legacy_graph(22)
    with g.as_default():
        x = raw.PlaceholderV2(dtype=tf.float32, shape=shape, name="x")
        y = tf.tanh(x) * 2.0 + tf.reduce_sum(x, axis=1, keepdims=True)
    ir, types = run(g, {x: rand(fed, "ph")}, [y])
    assert "PlaceholderV2" in types and "Placeholder" not in types
    params = [op for op in ir if op.type == "Parameter"]
    assert len(params) == 1 and tuple(params[0].attrs["shape"]) == shape


# --- V2 TensorArrays ---------------------------------------------------------------------------


def test_tensor_array_v2_write_read_gather_size_concat_close():
    g = legacy_graph(25)
    with g.as_default():
        x = tf1.placeholder(tf.float32, (3, 4), name="x")
        ta = raw.TensorArrayV2(size=3, dtype=tf.float32, element_shape=[4],
                               clear_after_read=False)
        flow = tf.constant(0.0)
        for i, value in enumerate([x[0] * 2.0, x[1] + 1.0, tf.tanh(x[2])]):
            flow = raw.TensorArrayWriteV2(handle=ta, index=i, value=value, flow_in=flow)
        read = raw.TensorArrayReadV2(handle=ta, index=1, flow_in=flow, dtype=tf.float32)
        gathered = raw.TensorArrayGatherV2(handle=ta, indices=[2, 0], flow_in=flow,
                                           dtype=tf.float32, element_shape=[4])
        size = raw.TensorArraySizeV2(handle=ta, flow_in=flow)
        concat, lengths = raw.TensorArrayConcatV2(handle=ta, flow_in=flow, dtype=tf.float32)
        with tf.control_dependencies([read, gathered, size, concat]):  # closed after them
            close = raw.TensorArrayCloseV2(handle=ta)
        with tf.control_dependencies([close]):
            outs = [tf.identity(t) for t in (read, gathered, size, concat, lengths)]
    _, types = run(g, {x: rand((3, 4), "ta2")}, outs)
    assert {"TensorArrayV2", "TensorArrayWriteV2", "TensorArrayReadV2", "TensorArrayGatherV2",
            "TensorArraySizeV2", "TensorArrayConcatV2", "TensorArrayCloseV2"} <= types


def test_tensor_array_v2_scatter_split():
    g = legacy_graph(25)
    with g.as_default():
        x = tf1.placeholder(tf.float32, (3, 4), name="x")
        scattered = raw.TensorArrayV2(size=3, dtype=tf.float32, element_shape=[4])
        flow = raw.TensorArrayScatterV2(handle=scattered, indices=[2, 0, 1], value=x * 3.0,
                                        flow_in=tf.constant(0.0))
        stacked = raw.TensorArrayGatherV2(handle=scattered, indices=[0, 1, 2], flow_in=flow,
                                          dtype=tf.float32, element_shape=[4])
        split = raw.TensorArrayV2(size=2, dtype=tf.float32, clear_after_read=False)
        flow2 = raw.TensorArraySplitV2(handle=split, value=x - 0.5,
                                       lengths=tf.constant([1, 2], tf.int64),
                                       flow_in=tf.constant(0.0))
        piece = raw.TensorArrayReadV2(handle=split, index=1, flow_in=flow2, dtype=tf.float32)
        joined, lengths = raw.TensorArrayConcatV2(handle=split, flow_in=flow2, dtype=tf.float32)
        size = raw.TensorArraySizeV2(handle=split, flow_in=flow2)
    _, types = run(g, {x: rand((3, 4), "ta2s")}, [stacked, piece, joined, lengths, size])
    assert {"TensorArrayScatterV2", "TensorArraySplitV2"} <= types


# --- V3 size and close outside a loop ----------------------------------------------------------


def test_tensor_array_v3_size_and_close_outside_a_loop():
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, (4, 3), name="x")
        ta, flow = raw.TensorArrayV3(size=0, dtype=tf.float32, dynamic_size=True,
                                     element_shape=[3])
        for i in range(4):  # grows the array to 4 elements
            flow = raw.TensorArrayWriteV3(handle=ta, index=i, value=x[i] * float(i + 1),
                                          flow_in=flow)
        size = raw.TensorArraySizeV3(handle=ta, flow_in=flow)
        last = raw.TensorArrayReadV3(handle=ta, index=3, flow_in=flow, dtype=tf.float32)
        with tf.control_dependencies([size, last]):
            close = raw.TensorArrayCloseV3(handle=ta)
        with tf.control_dependencies([close]):
            scaled = tf.identity(last * tf.cast(size, tf.float32))
            size_out = tf.identity(size)
    _, types = run(g, {x: rand((4, 3), "ta3")}, [scaled, size_out])
    assert {"TensorArraySizeV3", "TensorArrayCloseV3"} <= types


# --- TensorListScatter / TensorListConcat (non-V2) ---------------------------------------------


def test_tensor_list_scatter_concat():
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, (4, 2, 3), name="x")
        handle = raw.TensorListScatter(tensor=x * 2.0 - 0.25, indices=[3, 1, 0, 2],
                                       element_shape=tf.constant([2, 3], tf.int32))
        joined, lengths = raw.TensorListConcat(input_handle=handle, element_dtype=tf.float32,
                                               element_shape=[None, 3])
        stacked = raw.TensorListStack(input_handle=handle, element_shape=tf.constant(
            [2, 3], tf.int32), element_dtype=tf.float32, num_elements=4)
    _, types = run(g, {x: rand((4, 2, 3), "tl")}, [joined, lengths, stacked])
    assert {"TensorListScatter", "TensorListConcat"} <= types


# --- table fills -------------------------------------------------------------------------------

KEYS = np.array([3, 7, 11, -4, 100], np.int64)
VALUES = np.array([0.5, 1.5, 2.5, -1.0, 9.0], np.float32)
QUERY = np.array([[7, 8, 3], [100, -4, 0]], np.int64)

TABLE_CASES = [  # (table op, fill op, find op)
    ("HashTable", "InitializeTable", "LookupTableFind"),
    ("HashTableV2", "InitializeTableV2", "LookupTableFindV2"),
    ("HashTable", "LookupTableImport", "LookupTableFind"),
    ("MutableHashTableV2", "LookupTableImportV2", "LookupTableFindV2"),
    ("MutableHashTable", "LookupTableInsert", "LookupTableFind"),
    ("MutableHashTableV2", "LookupTableInsertV2", "LookupTableFindV2"),
]


@pytest.mark.parametrize("key_dtype, value_dtype", [(np.int64, np.float32), (np.int64, np.int64)],
                         ids=["int64-float", "int64-int64"])
@pytest.mark.parametrize("make, fill, find", TABLE_CASES, ids=[c[1] for c in TABLE_CASES])
def test_table_filled_from_constants(make, fill, find, key_dtype, value_dtype):
    values = (VALUES * 4).astype(value_dtype)
    default = np.array(-3, value_dtype)
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(key_dtype, QUERY.shape, name="ids")
        table = getattr(raw, make)(key_dtype=key_dtype, value_dtype=value_dtype)
        init = getattr(raw, fill)(table_handle=table, keys=tf.constant(KEYS.astype(key_dtype)),
                                  values=tf.constant(values))
        with tf.control_dependencies([init]):  # TF's session runs the fill before the lookup
            found = getattr(raw, find)(table_handle=table, keys=x,
                                       default_value=tf.constant(default))
        y = tf.identity(found * 2, name="y")
    query = QUERY.astype(key_dtype)
    other = np.array([[11, 11, -5], [3, 12, 7]], key_dtype)
    _, types = run(g, {x: query}, [y], feed_sets=[{x: other}])
    assert {make, fill, find} <= types
