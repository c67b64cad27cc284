"""lookup.py translators vs real TF: hash tables filled from constants (HashTableV2 with
LookupTableImportV2, MutableHashTableV2 with LookupTableInsertV2), LookupTableFindV2 and
LookupTableSizeV2; and the whole pipeline, whose dead-op cleanup would drop the initializer."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from optest import check, tf, tf1
from ovrun import rel_err, run_ir

KEYS = np.array([3, 7, 11, -4, 100], np.int64)
VALUES = np.array([0.5, 1.5, 2.5, -1.0, 9.0], np.float32)
QUERY = np.array([[7, 8, 3], [100, -4, 0]], np.int64)


def static_table(keys, values, default):
    init = tf.lookup.KeyValueTensorInitializer(tf.constant(keys), tf.constant(values))
    return tf1.lookup.StaticHashTable(init, default)


def initialized(table):
    # the session of the reference runs the lookup only: make it run the initializer first
    return tf.control_dependencies([table.initializer])


def find(keys, values, default):
    def build(x):
        table = static_table(keys, values, default)
        with initialized(table):
            return table.lookup(x)
    return build


def size(x):
    table = static_table(KEYS, VALUES, -1.0)
    with initialized(table):
        return table.size() + tf.size(x, tf.int64)


def mutable_find(x):
    table = tf.lookup.experimental.MutableHashTable(tf.int64, tf.float32, default_value=-7.0)
    with tf.control_dependencies([table.insert(tf.constant(KEYS), tf.constant(VALUES))]):
        return table.lookup(x)


def v1_ops(make, fill):
    # the ref-typed first-generation ops (HashTable, LookupTableImport/Insert, Find, Size)
    def build(x):
        raw = tf.raw_ops
        table = getattr(raw, make)(key_dtype=tf.int64, value_dtype=tf.float32)
        init = getattr(raw, fill)(table_handle=table, keys=tf.constant(KEYS),
                                  values=tf.constant(VALUES))
        with tf.control_dependencies([init]):
            found = raw.LookupTableFind(table_handle=table, keys=x, default_value=-3.0)
            size = raw.LookupTableSize(table_handle=table)
        return found, size
    return build


def initialize_table_v2(x):
    raw = tf.raw_ops
    table = raw.HashTableV2(key_dtype=tf.int64, value_dtype=tf.float32)
    init = raw.InitializeTableV2(table_handle=table, keys=tf.constant(KEYS),
                                 values=tf.constant(VALUES))
    with tf.control_dependencies([init]):
        return raw.LookupTableFindV2(table_handle=table, keys=x, default_value=0.0)


CASES = [
    pytest.param(v1_ops("HashTable", "InitializeTable"), QUERY, id="InitializeTable-v1"),
    pytest.param(initialize_table_v2, QUERY, id="InitializeTableV2"),
    pytest.param(v1_ops("HashTable", "LookupTableImport"), QUERY, id="HashTable-v1"),
    pytest.param(v1_ops("MutableHashTable", "LookupTableInsert"), QUERY, id="MutableHashTable-v1"),
    pytest.param(find(KEYS, VALUES, -1.0), QUERY, id="HashTableV2-find-int64-float"),
    pytest.param(find(KEYS.astype(np.int32), np.arange(5, dtype=np.int32) * 10, -1),
                 QUERY.astype(np.int32), id="HashTableV2-find-int32-int32"),
    pytest.param(find(KEYS, VALUES, -1.0), np.array(11, np.int64), id="find-scalar-key"),
    pytest.param(size, QUERY, id="LookupTableSizeV2"),
    pytest.param(mutable_find, QUERY, id="MutableHashTableV2-insert-find"),
]


@pytest.mark.parametrize(("build", "x"), CASES)
def test_lookup_op(build, x):
    check(build, x)


def test_frozen_graph_with_table_converts_through_the_pipeline(tmp_path):
    # the initializer is no ancestor of the output: the source pass keeps its contents
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.int64, [None, 3], name="ids")
        y = tf.identity(static_table(KEYS, VALUES, 0.25).lookup(x) * 2.0, name="scores")
    with tf1.Session(graph=graph) as sess:
        sess.run(tf1.tables_initializer())
        expected = sess.run(y, {x: QUERY})
    pb = tmp_path / "table.pb"
    pb.write_bytes(graph.as_graph_def().SerializeToString())
    done = subprocess.run([sys.executable, "-m", "tfconv.cli", "convert", str(pb), "--output",
                           "scores", "-o", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = run_ir(tmp_path / "table.xml", [QUERY])[0]
    assert got.dtype == expected.dtype and rel_err(got, expected) == 0.0


def test_string_table_is_refused_in_one_line(tmp_path):
    # vocabularies (string keys) need OpenVINO's tokenizer extension: a clear error, no IR
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.int64, [None], name="ids")
        table = static_table(np.array([b"a", b"b"]), np.array([1.0, 2.0], np.float32), 0.0)
        tf.identity(table.lookup(tf.strings.as_string(x)), name="scores")
    pb = tmp_path / "strings.pb"
    pb.write_bytes(graph.as_graph_def().SerializeToString())
    done = subprocess.run([sys.executable, "-m", "tfconv.cli", "convert", str(pb), "--output",
                           "scores", "-o", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and "AsString" in done.stderr
    assert not list(tmp_path.glob("*.xml"))
