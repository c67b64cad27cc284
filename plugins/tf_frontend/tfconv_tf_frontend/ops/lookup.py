"""Hash tables filled from constants: HashTable(V2) and MutableHashTable(V2) with their
LookupTableImport/Insert(V2) (or InitializeTable(V2)) contents become constant key and value
vectors; LookupTableFind(V2) a match against the keys, LookupTableSize(V2) a constant.

A table's initializer is not something the lookup depends on, so the source pass
``tf_frontend.attach_table_contents`` (registered by the plugin, before the dead-op cleanup)
appends the initializer's keys and values to every lookup of that table as inputs 3 and 4
(inputs 1 and 2 of LookupTableSize).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tfconv.passes import graph_pass

from . import TABLE
from ._util import ints

if TYPE_CHECKING:
    from tfconv.graph import Graph
    from tfconv.translate import NodeContext, Outputs

TABLES = ("HashTable", "HashTableV2", "MutableHashTable", "MutableHashTableV2")
# ops that fill a table: (table, keys, values)
FILLS = ("LookupTableImport", "LookupTableImportV2", "LookupTableInsert", "LookupTableInsertV2",
         "InitializeTable", "InitializeTableV2")
FINDS = ("LookupTableFind", "LookupTableFindV2")
SIZES = ("LookupTableSize", "LookupTableSizeV2")


def _fills_of(graph: Graph, table: str) -> list[str]:
    return sorted({c for c, dst in graph.consumers(table)
                   if dst == 0 and graph.op(c).type in FILLS})


@graph_pass("tf_frontend.attach_table_contents", stage="source",
            before=["cleanup.remove_dead_source"])
def attach_table_contents(graph: Graph, config) -> None:
    """Give each lookup its table's constant contents as extra inputs (see the module doc)."""
    for table in graph.ops_of_type(*TABLES):
        fills = _fills_of(graph, table.name)
        fill_inputs = graph.inputs(fills[0]) if len(fills) == 1 else []
        if len(fill_inputs) != 3:
            continue  # none, filled twice, or malformed: the translator says why it cannot convert
        keys, values = fill_inputs[1:]
        for consumer, dst in graph.consumers(table.name):
            op = graph.op(consumer)
            arity = 3 if op.type in FINDS else 1 if op.type in SIZES else None
            if dst == 0 and arity is not None and len(graph.inputs(consumer)) == arity:
                graph.set_inputs(consumer, [*graph.inputs(consumer), keys, values])


def table_contents(ctx: NodeContext, first: int) -> tuple[np.ndarray, np.ndarray]:
    """The (keys, values) constants: inputs ``first`` and ``first + 1`` when the pass attached
    them, else the one fill op of the table in the source graph."""
    if ctx.num_inputs >= first + 2:
        keys, values = ctx.value(first), ctx.value(first + 1)
    else:
        table = ctx.src.inputs(ctx.name)[0].node
        fills = _fills_of(ctx.src, table)
        ctx.require(len(fills) == 1, f"table {table!r} must be filled once from constants (by "
                    f"LookupTableImportV2 or InitializeTableV2); found {len(fills) or 'no'} "
                    "fill op(s): freeze the graph with the table initializer kept")
        keys_op, values_op = (ctx.src.op(p.node) for p in ctx.src.inputs(fills[0])[1:3])
        keys, values = (op.attrs.get("value") if op.type == "Const" else None
                        for op in (keys_op, values_op))
    ctx.require(keys is not None and values is not None,
                "the table's keys and values must be constants")
    for what, arr in (("keys", keys), ("values", values)):
        ctx.require(arr.dtype != object, f"string {what}: string tensors need OpenVINO's "
                    "tokenizer extension, which tfconv does not target")
    return np.asarray(keys).reshape(-1), np.asarray(values).reshape(len(keys.reshape(-1)), -1)


@TABLE.register(*TABLES, inputs=0)
def hash_table(ctx: NodeContext) -> Outputs:
    # the table handle: its lookups read the contents directly, so a placeholder constant
    return ctx.const(np.array(0, np.int64), name="handle")


@TABLE.register(*FILLS, inputs=3)
def fill_table(ctx: NodeContext) -> Outputs:
    # an initializer has no outputs; its contents reach the lookups (see the module doc)
    return ()


@TABLE.register(*FINDS, min_inputs=3)
def lookup_table_find(ctx: NodeContext) -> Outputs:
    # TF: values[i] where keys[i] == x, else default     IR: Equal against the key vector,
    # the matching position (keys are unique) gathered from the values, Select for misses
    keys, values = table_contents(ctx, 3)
    x, default = ctx.input(1), ctx.input(2)
    ctx.require(keys.size > 0, "the table is empty (TensorFlow refuses to fill one so)")
    key_const = ctx.const(keys.astype(ctx.dtype(x) or keys.dtype), name="keys")
    match = ctx.emit("Equal", ctx.emit("Unsqueeze", x, ints(ctx, [-1])), key_const)
    found = ctx.emit("ReduceLogicalOr", match, ints(ctx, [-1]), keep_dims=False)
    position = ctx.emit("ReduceSum", ctx.emit("Select", match, ints(ctx, np.arange(len(keys))),
                                              ints(ctx, 0)), ints(ctx, [-1]), keep_dims=False)
    per_key = values[:, 0] if values.shape[1] == 1 else values
    value = ctx.emit("Gather", ctx.const(per_key, name="values"), position, ints(ctx, 0),
                     batch_dims=0)
    if per_key.ndim > 1:
        found = ctx.emit("Unsqueeze", found, ints(ctx, [-1]))
    return ctx.emit("Select", found, value, default)


@TABLE.register(*SIZES, min_inputs=1)
def lookup_table_size(ctx: NodeContext) -> Outputs:
    keys, _ = table_contents(ctx, 1)
    return ints(ctx, len(keys), name="size")


PASSES = (attach_table_contents,)
