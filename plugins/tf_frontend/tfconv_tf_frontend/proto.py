"""TensorFlow graph protobuf messages built from our own schema, without importing TensorFlow."""
# The schema declares the subset of TensorFlow's graph.proto family that tfconv reads, with
# TensorFlow's field numbers and types, in the package ``tfconv.tfproto`` of a private
# descriptor pool, so it never clashes with TensorFlow's own descriptors in one process.
# Undeclared fields survive a binary parse as unknown fields; everything TensorFlow writes
# inside a GraphDef is declared, so text GraphDefs parse too.
from __future__ import annotations

import codecs
import importlib
import mmap
import os
import re
import struct
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import IntEnum
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from google.protobuf.descriptor_pb2 import DescriptorProto, FieldDescriptorProto

from tfconv.errors import ModelFormatError

__all__ = [
    "DTYPES",
    "AttrValue",
    "DataType",
    "FunctionDef",
    "FunctionDefLibrary",
    "GraphDef",
    "MetaGraphDef",
    "NameAttrList",
    "NodeDef",
    "SavedModel",
    "SaverDef",
    "OpList",
    "SavedObjectGraph",
    "TrackableObjectGraph",
    "BundleHeaderProto",
    "BundleEntryProto",
    "SignatureDef",
    "TensorInfo",
    "TensorProto",
    "TensorShapeProto",
    "VersionDef",
    "attr_to_python",
    "dtype_name",
    "parse_graphdef",
    "shape_to_python",
    "tensor_to_numpy",
]

PACKAGE = "tfconv.tfproto"

# --- DataType ------------------------------------------------------------------------

# (enum number, TF enum suffix, short name used in messages); the _REF variants are +100.
_BASE_TYPES: tuple[tuple[int, str, str], ...] = (
    (1, "FLOAT", "float32"), (2, "DOUBLE", "float64"), (3, "INT32", "int32"),
    (4, "UINT8", "uint8"), (5, "INT16", "int16"), (6, "INT8", "int8"),
    (7, "STRING", "string"), (8, "COMPLEX64", "complex64"), (9, "INT64", "int64"),
    (10, "BOOL", "bool"), (11, "QINT8", "qint8"), (12, "QUINT8", "quint8"),
    (13, "QINT32", "qint32"), (14, "BFLOAT16", "bfloat16"), (15, "QINT16", "qint16"),
    (16, "QUINT16", "quint16"), (17, "UINT16", "uint16"), (18, "COMPLEX128", "complex128"),
    (19, "HALF", "float16"), (20, "RESOURCE", "resource"), (21, "VARIANT", "variant"),
    (22, "UINT32", "uint32"), (23, "UINT64", "uint64"), (24, "FLOAT8_E5M2", "float8_e5m2"),
    (25, "FLOAT8_E4M3FN", "float8_e4m3fn"), (26, "FLOAT8_E4M3FNUZ", "float8_e4m3fnuz"),
    (27, "FLOAT8_E4M3B11FNUZ", "float8_e4m3b11fnuz"),
    (28, "FLOAT8_E5M2FNUZ", "float8_e5m2fnuz"), (29, "INT4", "int4"), (30, "UINT4", "uint4"),
    (31, "INT2", "int2"), (32, "UINT2", "uint2"), (33, "FLOAT4_E2M1FN", "float4_e2m1fn"),
)
_REF = 100
_DATA_TYPE_VALUES: list[tuple[str, int]] = (
    [("DT_INVALID", 0)]
    + [(f"DT_{n}", v) for v, n, _ in _BASE_TYPES]
    + [(f"DT_{n}_REF", v + _REF) for v, n, _ in _BASE_TYPES]
)
DataType = IntEnum("DataType", _DATA_TYPE_VALUES)  # type: ignore[misc]
_SHORT_NAMES: dict[int, str] = {v: s for v, _, s in _BASE_TYPES}

# TF's FullTypeId enum (NodeDef.experimental_type); declared so text GraphDefs that carry it parse.
_FULL_TYPE_IDS: tuple[tuple[str, int], ...] = (
    ("TFT_UNSET", 0), ("TFT_VAR", 1), ("TFT_ANY", 2), ("TFT_PRODUCT", 3), ("TFT_NAMED", 4),
    ("TFT_FOR_EACH", 20), ("TFT_CALLABLE", 100), ("TFT_TENSOR", 1000), ("TFT_ARRAY", 1001),
    ("TFT_OPTIONAL", 1002), ("TFT_LITERAL", 1003), ("TFT_ENCODED", 1004),
    ("TFT_SHAPE_TENSOR", 1005), ("TFT_BOOL", 200), ("TFT_UINT8", 201), ("TFT_UINT16", 202),
    ("TFT_UINT32", 203), ("TFT_UINT64", 204), ("TFT_INT8", 205), ("TFT_INT16", 206),
    ("TFT_INT32", 207), ("TFT_INT64", 208), ("TFT_HALF", 209), ("TFT_FLOAT", 210),
    ("TFT_DOUBLE", 211), ("TFT_BFLOAT16", 215), ("TFT_COMPLEX64", 212),
    ("TFT_COMPLEX128", 213), ("TFT_STRING", 214), ("TFT_DATASET", 10102),
    ("TFT_RAGGED", 10103), ("TFT_ITERATOR", 10104), ("TFT_MUTEX_LOCK", 10202),
    ("TFT_LEGACY_VARIANT", 10203),
)

# --- schema construction -----------------------------------------------------------------

_FD = FieldDescriptorProto  # short name for the type and label constants
_SCALARS: dict[str, int] = {
    "string": _FD.TYPE_STRING, "bytes": _FD.TYPE_BYTES, "int32": _FD.TYPE_INT32,
    "int64": _FD.TYPE_INT64, "uint32": _FD.TYPE_UINT32, "uint64": _FD.TYPE_UINT64,
    "fixed64": _FD.TYPE_FIXED64, "fixed32": _FD.TYPE_FIXED32, "float": _FD.TYPE_FLOAT,
    "double": _FD.TYPE_DOUBLE, "bool": _FD.TYPE_BOOL,
}
_ENUMS = {"DataType", "FullTypeId", "BundleHeaderProto.Endianness"}


def _field(name: str, number: int, type_: str, *, repeated: bool = False,
           oneof: int | None = None) -> FieldDescriptorProto:
    """One field; ``type_`` is a scalar name, an enum name or a message path like 'AttrValue'."""
    f = _FD(name=name, number=number,
            label=_FD.LABEL_REPEATED if repeated else _FD.LABEL_OPTIONAL)
    if type_ in _SCALARS:
        f.type = _SCALARS[type_]
    else:
        f.type = _FD.TYPE_ENUM if type_ in _ENUMS else _FD.TYPE_MESSAGE
        f.type_name = f".{PACKAGE}.{type_}"
    if oneof is not None:
        f.oneof_index = oneof
    return f


def _message(name: str, fields: Iterable[FieldDescriptorProto], *,
             nested: Sequence[DescriptorProto] = (), oneofs: Sequence[str] = ()) -> DescriptorProto:
    """A message type with its fields, nested types and oneof names."""
    m = DescriptorProto(name=name)
    m.field.extend(fields)
    m.nested_type.extend(nested)
    for o in oneofs:
        m.oneof_decl.add(name=o)
    return m


def _map(owner: str, field: str, number: int, key: str, value: str
         ) -> tuple[FieldDescriptorProto, DescriptorProto]:
    """A ``map<key, value>`` field of message ``owner``: the field and its nested entry type."""
    entry = "".join(p.capitalize() for p in field.split("_")) + "Entry"
    m = _message(entry, [_field("key", 1, key), _field("value", 2, value)])
    m.options.map_entry = True
    return _field(field, number, f"{owner}.{entry}", repeated=True), m


def _schema() -> descriptor_pb2.FileDescriptorProto:
    """The FileDescriptorProto of our TensorFlow subset (TF's field numbers and types)."""
    fp = descriptor_pb2.FileDescriptorProto(name="tfconv/tfproto.proto", package=PACKAGE,
                                            syntax="proto3")
    for enum_name, values in (("DataType", _DATA_TYPE_VALUES), ("FullTypeId", _FULL_TYPE_IDS)):
        e = fp.enum_type.add(name=enum_name)
        for n, v in values:
            e.value.add(name=n, number=v)

    msgs = fp.message_type
    msgs.append(_message("TensorShapeProto", [
        _field("dim", 2, "TensorShapeProto.Dim", repeated=True),
        _field("unknown_rank", 3, "bool"),
    ], nested=[_message("Dim", [_field("size", 1, "int64"), _field("name", 2, "string")])]))

    dtype_and_shape = _message("DtypeAndShape", [
        _field("dtype", 1, "DataType"), _field("shape", 2, "TensorShapeProto")])
    msgs.append(_message("ResourceHandleProto", [
        _field("device", 1, "string"), _field("container", 2, "string"),
        _field("name", 3, "string"), _field("hash_code", 4, "uint64"),
        _field("maybe_type_name", 5, "string"),
        _field("dtypes_and_shapes", 6, "ResourceHandleProto.DtypeAndShape", repeated=True),
    ], nested=[dtype_and_shape]))

    msgs.append(_message("TensorProto", [
        _field("dtype", 1, "DataType"), _field("tensor_shape", 2, "TensorShapeProto"),
        _field("version_number", 3, "int32"), _field("tensor_content", 4, "bytes"),
        _field("half_val", 13, "int32", repeated=True),
        _field("float_val", 5, "float", repeated=True),
        _field("double_val", 6, "double", repeated=True),
        _field("int_val", 7, "int32", repeated=True),
        _field("string_val", 8, "bytes", repeated=True),
        _field("scomplex_val", 9, "float", repeated=True),
        _field("int64_val", 10, "int64", repeated=True),
        _field("bool_val", 11, "bool", repeated=True),
        _field("dcomplex_val", 12, "double", repeated=True),
        _field("resource_handle_val", 14, "ResourceHandleProto", repeated=True),
        _field("variant_val", 15, "VariantTensorDataProto", repeated=True),
        _field("uint32_val", 16, "uint32", repeated=True),
        _field("uint64_val", 17, "uint64", repeated=True),
        _field("float8_val", 18, "bytes"),
    ]))
    msgs.append(_message("VariantTensorDataProto", [
        _field("type_name", 1, "string"), _field("metadata", 2, "bytes"),
        _field("tensors", 3, "TensorProto", repeated=True),
    ]))

    func_attr, func_attr_entry = _map("NameAttrList", "attr", 2, "string", "AttrValue")
    msgs.append(_message("NameAttrList", [_field("name", 1, "string"), func_attr],
                         nested=[func_attr_entry]))
    list_value = _message("ListValue", [
        _field("s", 2, "bytes", repeated=True), _field("i", 3, "int64", repeated=True),
        _field("f", 4, "float", repeated=True), _field("b", 5, "bool", repeated=True),
        _field("type", 6, "DataType", repeated=True),
        _field("shape", 7, "TensorShapeProto", repeated=True),
        _field("tensor", 8, "TensorProto", repeated=True),
        _field("func", 9, "NameAttrList", repeated=True),
    ])
    msgs.append(_message("AttrValue", [
        _field("s", 2, "bytes", oneof=0), _field("i", 3, "int64", oneof=0),
        _field("f", 4, "float", oneof=0), _field("b", 5, "bool", oneof=0),
        _field("type", 6, "DataType", oneof=0), _field("shape", 7, "TensorShapeProto", oneof=0),
        _field("tensor", 8, "TensorProto", oneof=0), _field("list", 1, "AttrValue.ListValue", oneof=0),
        _field("func", 10, "NameAttrList", oneof=0), _field("placeholder", 9, "string", oneof=0),
    ], nested=[list_value], oneofs=["value"]))

    msgs.append(_message("FullTypeDef", [
        _field("type_id", 1, "FullTypeId"), _field("args", 2, "FullTypeDef", repeated=True),
        _field("s", 3, "string", oneof=0), _field("i", 4, "int64", oneof=0),
    ], oneofs=["attr"]))

    node_attr, node_attr_entry = _map("NodeDef", "attr", 5, "string", "AttrValue")
    debug_info = _message("ExperimentalDebugInfo", [
        _field("original_node_names", 1, "string", repeated=True),
        _field("original_func_names", 2, "string", repeated=True),
    ])
    msgs.append(_message("NodeDef", [
        _field("name", 1, "string"), _field("op", 2, "string"),
        _field("input", 3, "string", repeated=True), _field("device", 4, "string"), node_attr,
        _field("experimental_debug_info", 6, "NodeDef.ExperimentalDebugInfo"),
        _field("experimental_type", 7, "FullTypeDef"),
    ], nested=[node_attr_entry, debug_info]))

    msgs.append(_message("VersionDef", [
        _field("producer", 1, "int32"), _field("min_consumer", 2, "int32"),
        _field("bad_consumers", 3, "int32", repeated=True),
    ]))

    arg_def = _message("ArgDef", [
        _field("name", 1, "string"), _field("description", 2, "string"),
        _field("type", 3, "DataType"), _field("type_attr", 4, "string"),
        _field("number_attr", 5, "string"), _field("type_list_attr", 6, "string"),
        _field("handle_data", 7, "ResourceHandleProto.DtypeAndShape", repeated=True),
        _field("is_ref", 16, "bool"), _field("experimental_full_type", 17, "FullTypeDef"),
    ])
    attr_def = _message("AttrDef", [
        _field("name", 1, "string"), _field("type", 2, "string"),
        _field("default_value", 3, "AttrValue"), _field("description", 4, "string"),
        _field("has_minimum", 5, "bool"), _field("minimum", 6, "int64"),
        _field("allowed_values", 7, "AttrValue"),
    ])
    msgs.append(_message("OpDef", [
        _field("name", 1, "string"), _field("input_arg", 2, "OpDef.ArgDef", repeated=True),
        _field("output_arg", 3, "OpDef.ArgDef", repeated=True),
        _field("control_output", 20, "string", repeated=True),
        _field("attr", 4, "OpDef.AttrDef", repeated=True),
        _field("deprecation", 8, "OpDeprecation"), _field("summary", 5, "string"),
        _field("description", 6, "string"), _field("is_commutative", 18, "bool"),
        _field("is_aggregate", 16, "bool"), _field("is_stateful", 17, "bool"),
        _field("allows_uninitialized_input", 19, "bool"),
        _field("is_distributed_communication", 21, "bool"),
    ], nested=[arg_def, attr_def]))
    msgs.append(_message("OpDeprecation", [
        _field("version", 1, "int32"), _field("explanation", 2, "string")]))

    fn_attr, fn_attr_entry = _map("FunctionDef", "attr", 5, "string", "AttrValue")
    arg_attrs_attr, arg_attrs_entry = _map("FunctionDef.ArgAttrs", "attr", 1, "string", "AttrValue")
    arg_attrs = _message("ArgAttrs", [arg_attrs_attr], nested=[arg_attrs_entry])
    arg_attr, arg_attr_entry = _map("FunctionDef", "arg_attr", 7, "uint32", "FunctionDef.ArgAttrs")
    res_ids, res_ids_entry = _map("FunctionDef", "resource_arg_unique_id", 8, "uint32", "uint32")
    ret, ret_entry = _map("FunctionDef", "ret", 4, "string", "string")
    control_ret, control_ret_entry = _map("FunctionDef", "control_ret", 6, "string", "string")
    msgs.append(_message("FunctionDef", [
        _field("signature", 1, "OpDef"), fn_attr, arg_attr, res_ids,
        _field("node_def", 3, "NodeDef", repeated=True), ret, control_ret,
    ], nested=[fn_attr_entry, arg_attrs, arg_attr_entry, res_ids_entry, ret_entry,
               control_ret_entry]))
    msgs.append(_message("GradientDef", [
        _field("function_name", 1, "string"), _field("gradient_func", 2, "string")]))
    msgs.append(_message("RegisteredGradient", [
        _field("gradient_func", 1, "string"), _field("registered_op_type", 2, "string")]))
    msgs.append(_message("FunctionDefLibrary", [
        _field("function", 1, "FunctionDef", repeated=True),
        _field("gradient", 2, "GradientDef", repeated=True),
        _field("registered_gradients", 3, "RegisteredGradient", repeated=True),
    ]))

    file_line_col = _message("FileLineCol", [
        _field("file_index", 1, "int32"), _field("line", 2, "int32"),
        _field("col", 3, "int32"), _field("func", 4, "string"), _field("code", 5, "string"),
    ])
    stack_trace = _message("StackTrace", [
        _field("file_line_cols", 1, "GraphDebugInfo.FileLineCol", repeated=True),
        _field("frame_id", 2, "fixed64", repeated=True),
    ])
    frames, frames_entry = _map("GraphDebugInfo", "frames_by_id", 4, "fixed64",
                                "GraphDebugInfo.FileLineCol")
    traces_by_id, traces_by_id_entry = _map("GraphDebugInfo", "traces_by_id", 6, "fixed64",
                                            "GraphDebugInfo.StackTrace")
    traces, traces_entry = _map("GraphDebugInfo", "traces", 2, "string",
                                "GraphDebugInfo.StackTrace")
    name_to_id, name_to_id_entry = _map("GraphDebugInfo", "name_to_trace_id", 5, "string",
                                        "fixed64")
    msgs.append(_message("GraphDebugInfo", [
        _field("files", 1, "string", repeated=True), frames, traces_by_id, traces, name_to_id,
    ], nested=[file_line_col, stack_trace, frames_entry, traces_by_id_entry, traces_entry,
               name_to_id_entry]))

    msgs.append(_message("GraphDef", [
        _field("node", 1, "NodeDef", repeated=True), _field("versions", 4, "VersionDef"),
        _field("version", 3, "int32"), _field("library", 2, "FunctionDefLibrary"),
        _field("debug_info", 5, "GraphDebugInfo"),
    ]))

    # Just enough of meta_graph.proto / saved_model.proto to recognise those files.
    msgs.append(_message("TensorInfo", [
        _field("name", 1, "string", oneof=0), _field("dtype", 2, "DataType"),
        _field("tensor_shape", 3, "TensorShapeProto"),
    ], oneofs=["encoding"]))
    sig_in, sig_in_entry = _map("SignatureDef", "inputs", 1, "string", "TensorInfo")
    sig_out, sig_out_entry = _map("SignatureDef", "outputs", 2, "string", "TensorInfo")
    msgs.append(_message("SignatureDef", [sig_in, sig_out, _field("method_name", 3, "string")],
                         nested=[sig_in_entry, sig_out_entry]))
    meta_info = _message("MetaInfoDef", [
        _field("meta_graph_version", 1, "string"), _field("tags", 4, "string", repeated=True),
        _field("tensorflow_version", 5, "string"),
        _field("tensorflow_git_version", 6, "string"),
        _field("stripped_default_attrs", 7, "bool"),
        _field("stripped_op_list", 2, "OpList"),
    ])
    sigs, sigs_entry = _map("MetaGraphDef", "signature_def", 5, "string", "SignatureDef")
    msgs.append(_message("MetaGraphDef", [
        _field("meta_info_def", 1, "MetaGraphDef.MetaInfoDef"),
        _field("graph_def", 2, "GraphDef"), _field("saver_def", 3, "SaverDef"), sigs,
        _field("object_graph_def", 7, "SavedObjectGraph"),
    ], nested=[meta_info, sigs_entry]))
    msgs.append(_message("OpList", [_field("op", 1, "OpDef", repeated=True)]))
    # saver.proto (without the version enum: the checkpoint's files tell V1 from V2).
    msgs.append(_message("SaverDef", [
        _field("filename_tensor_name", 1, "string"), _field("save_tensor_name", 2, "string"),
        _field("restore_op_name", 3, "string"), _field("max_to_keep", 4, "int32"),
        _field("sharded", 5, "bool"), _field("keep_checkpoint_every_n_hours", 6, "float"),
    ]))
    # saved_object_graph.proto: what a TF2 SavedModel's functions capture (variables, constants).
    obj_ref = _message("ObjectReference", [
        _field("node_id", 1, "int32"), _field("local_name", 2, "string")])
    serialized_tensor = _message("SerializedTensor", [
        _field("name", 1, "string"), _field("full_name", 2, "string"),
        _field("checkpoint_key", 3, "string")])
    trackable = _message("TrackableObject", [
        _field("children", 1, "TrackableObjectGraph.TrackableObject.ObjectReference",
               repeated=True),
        _field("attributes", 2, "TrackableObjectGraph.TrackableObject.SerializedTensor",
               repeated=True),
    ], nested=[obj_ref, serialized_tensor])
    msgs.append(_message("TrackableObjectGraph", [
        _field("nodes", 1, "TrackableObjectGraph.TrackableObject", repeated=True),
    ], nested=[trackable]))
    msgs.append(_message("SavedVariable", [
        _field("dtype", 1, "DataType"), _field("shape", 2, "TensorShapeProto"),
        _field("trainable", 3, "bool"), _field("name", 6, "string"), _field("device", 7, "string"),
        _field("experimental_distributed_variable_components", 8, "SavedVariable",
               repeated=True),
    ]))
    msgs.append(_message("SavedConstant", [_field("operation", 1, "string")]))
    msgs.append(_message("SavedObject", [
        _field("children", 1, "TrackableObjectGraph.TrackableObject.ObjectReference",
               repeated=True),
        _field("variable", 7, "SavedVariable", oneof=0),
        _field("constant", 9, "SavedConstant", oneof=0),
    ], oneofs=["kind"]))
    msgs.append(_message("SavedConcreteFunction", [
        _field("bound_inputs", 2, "int32", repeated=True)]))
    concrete, concrete_entry = _map("SavedObjectGraph", "concrete_functions", 2, "string",
                                    "SavedConcreteFunction")
    msgs.append(_message("SavedObjectGraph", [
        _field("nodes", 1, "SavedObject", repeated=True), concrete,
    ], nested=[concrete_entry]))
    # tensor_bundle.proto: the .index file of a V2 checkpoint.
    extent = _message("Extent", [
        _field("start", 1, "int64"), _field("length", 2, "int64", oneof=0)],
        oneofs=["has_length"])
    msgs.append(_message("TensorSliceProto", [
        _field("extent", 1, "TensorSliceProto.Extent", repeated=True)], nested=[extent]))
    header = _message("BundleHeaderProto", [
        _field("num_shards", 1, "int32"),
        _field("endianness", 2, "BundleHeaderProto.Endianness"),
        _field("version", 3, "VersionDef"),
    ])
    endian = header.enum_type.add(name="Endianness")
    endian.value.add(name="LITTLE", number=0)
    endian.value.add(name="BIG", number=1)
    msgs.append(header)
    msgs.append(_message("BundleEntryProto", [
        _field("dtype", 1, "DataType"), _field("shape", 2, "TensorShapeProto"),
        _field("shard_id", 3, "int32"), _field("offset", 4, "int64"), _field("size", 5, "int64"),
        _field("crc32c", 6, "fixed32"),
        _field("slices", 7, "TensorSliceProto", repeated=True),
    ]))
    msgs.append(_message("SavedModel", [
        _field("saved_model_schema_version", 1, "int64"),
        _field("meta_graphs", 2, "MetaGraphDef", repeated=True),
    ]))
    return fp


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_schema())


def _cls(name: str) -> Any:
    """The generated message class for ``tfconv.tfproto.<name>``."""
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))


GraphDef: Any = _cls("GraphDef")
NodeDef: Any = _cls("NodeDef")
AttrValue: Any = _cls("AttrValue")
NameAttrList: Any = _cls("NameAttrList")
TensorProto: Any = _cls("TensorProto")
TensorShapeProto: Any = _cls("TensorShapeProto")
VersionDef: Any = _cls("VersionDef")
FunctionDefLibrary: Any = _cls("FunctionDefLibrary")
FunctionDef: Any = _cls("FunctionDef")
MetaGraphDef: Any = _cls("MetaGraphDef")
SignatureDef: Any = _cls("SignatureDef")
TensorInfo: Any = _cls("TensorInfo")
SavedModel: Any = _cls("SavedModel")
SaverDef: Any = _cls("SaverDef")
OpList: Any = _cls("OpList")
SavedObjectGraph: Any = _cls("SavedObjectGraph")
TrackableObjectGraph: Any = _cls("TrackableObjectGraph")
BundleHeaderProto: Any = _cls("BundleHeaderProto")
BundleEntryProto: Any = _cls("BundleEntryProto")

# --- dtypes --------------------------------------------------------------------------


class _DtypeTable(Mapping[int, np.dtype]):
    """DataType number -> numpy dtype, for every type numpy (plus ml_dtypes if present) can hold.

    The numpy types are known at once; ``ml_dtypes`` (bfloat16, float8, int4...), whose import
    costs about half a second, is imported only when one of its types is looked up, listed or
    iterated over: a float32 model never pays for it."""

    _NUMPY: dict[int, Any] = {
        1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
        7: np.object_, 8: np.complex64, 9: np.int64, 10: np.bool_, 11: np.int8, 12: np.uint8,
        13: np.int32, 15: np.int16, 16: np.uint16, 17: np.uint16, 18: np.complex128,
        19: np.float16, 20: np.object_, 21: np.object_, 22: np.uint32, 23: np.uint64,
    }

    def __init__(self) -> None:
        self._table = self._with_refs({k: np.dtype(v) for k, v in self._NUMPY.items()})
        self._complete = False

    @staticmethod
    def _with_refs(table: dict[int, np.dtype]) -> dict[int, np.dtype]:
        table.update({k + _REF: v for k, v in table.items()})
        return table

    def _complete_table(self) -> dict[int, np.dtype]:
        """The table with the ml_dtypes types added (imported on the first call)."""
        if not self._complete:
            self._complete = True
            try:
                ml_dtypes: Any = importlib.import_module("ml_dtypes")
            except ImportError:  # pragma: no cover - ml_dtypes ships with numpy-based ML stacks
                return self._table
            extra = {number: np.dtype(getattr(ml_dtypes, short))
                     for number, _, short in _BASE_TYPES
                     if number not in self._NUMPY and hasattr(ml_dtypes, short)}
            self._table.update(self._with_refs(extra))
        return self._table

    def __getitem__(self, enum: int) -> np.dtype:
        found = self._table.get(enum)
        if found is None:
            return self._complete_table()[enum]
        return found

    def get(self, enum: int, default: Any = None) -> Any:  # type: ignore[override]
        found = self._table.get(enum)
        if found is None and not self._complete and _base_type(enum) in _SHORT_NAMES:
            found = self._complete_table().get(enum)
        return default if found is None else found

    def __contains__(self, enum: object) -> bool:
        return self.get(enum) is not None  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[int]:
        return iter(self._complete_table())

    def __len__(self) -> int:
        return len(self._complete_table())


DTYPES: Mapping[int, np.dtype] = _DtypeTable()


def dtype_name(enum: int) -> str:
    """Short name of a DataType for messages: 'float32', 'int64_ref', 'DataType(99)'."""
    if enum in _SHORT_NAMES:
        return _SHORT_NAMES[enum]
    if enum - _REF in _SHORT_NAMES:
        return _SHORT_NAMES[enum - _REF] + "_ref"
    return "invalid" if enum == 0 else f"DataType({enum})"


def _base_type(enum: int) -> int:
    """The DataType with any _REF removed."""
    return enum - _REF if enum > _REF else enum


# --- tensors and attrs ---------------------------------------------------------------


def shape_to_python(shape: Any) -> tuple[int | None, ...] | None:
    """TensorShapeProto -> tuple of dims (unknown dims are None), or None for unknown rank."""
    if shape.unknown_rank:
        return None
    return tuple(None if d.size < 0 else d.size for d in shape.dim)


def _static_shape(t: Any) -> tuple[int, ...]:
    """The fully known shape of a TensorProto."""
    shape = shape_to_python(t.tensor_shape)
    if shape is None or any(d is None for d in shape):
        raise ModelFormatError(f"constant tensor has a shape that is not fully known: {shape}")
    return shape  # type: ignore[return-value]


def _typed_values(t: Any, base: int, dtype: np.dtype) -> np.ndarray:
    """The values of the typed *_val field that holds this tensor's dtype, as a flat array."""
    if base in (19, 14):  # half / bfloat16: uint16 bit patterns stored as int32
        return np.asarray(t.half_val, dtype=np.int32).astype(np.uint16).view(dtype)
    if 24 <= base <= 28 or base == 33:  # float8 / float4: one byte each
        return np.frombuffer(t.float8_val, dtype=np.uint8).view(dtype)
    if base in (8, 18):
        parts = np.asarray(t.scomplex_val if base == 8 else t.dcomplex_val,
                           dtype=np.float32 if base == 8 else np.float64)
        if parts.size % 2:
            raise ModelFormatError(f"{dtype_name(base)} constant has an odd number of parts")
        return parts.view(dtype)
    if base == 7:
        return _object_array(list(t.string_val))
    if base == 20:
        return _object_array(list(t.resource_handle_val))
    if base == 21:
        return _object_array(list(t.variant_val))
    field = {1: "float_val", 2: "double_val", 9: "int64_val", 10: "bool_val",
             22: "uint32_val", 23: "uint64_val"}.get(base, "int_val")
    source = {"float_val": np.float32, "double_val": np.float64, "int64_val": np.int64,
              "bool_val": np.bool_, "uint32_val": np.uint32, "uint64_val": np.uint64,
              "int_val": np.int32}[field]
    return np.asarray(getattr(t, field), dtype=source).astype(dtype, copy=False)


def _object_array(items: list[Any]) -> np.ndarray:
    """A 1-D object array holding ``items`` as they are (no nested-sequence unpacking)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


# Constants left in the model file's memory map (see ``sniff.read_graph(external=True)``): the
# parsed TensorProto's ``tensor_content`` holds EXTERNAL_MARK + an 8-byte index into this list of
# (map, offset, length), and :func:`tensor_to_numpy` returns a read-only view of the map. The maps
# stay open for the life of the process.
EXTERNAL_MARK = b"\x00tfconv:mmap\x00"
_EXTERNAL: list[tuple[Any, int, int] | None] = []


def external_content(buffer: Any, offset: int, length: int) -> bytes:
    """The ``tensor_content`` stand-in for ``length`` bytes at ``offset`` of ``buffer``."""
    _EXTERNAL.append((buffer, offset, length))
    return EXTERNAL_MARK + (len(_EXTERNAL) - 1).to_bytes(8, "little")


def external_mark() -> int:
    """Where the next stand-ins will be registered (for :func:`forget_external`)."""
    return len(_EXTERNAL)


def forget_external(mark: int) -> None:
    """Forget the payloads registered since ``mark`` (the messages holding their stand-ins are
    gone): the arrays made from them keep their buffers alive by themselves, and a payload no
    array uses is freed."""
    for i in range(mark, len(_EXTERNAL)):
        _EXTERNAL[i] = None  # type: ignore[call-overload]


def _external(content: bytes) -> tuple[Any, int, int] | None:
    if len(content) == len(EXTERNAL_MARK) + 8 and content.startswith(EXTERNAL_MARK):
        index = int.from_bytes(content[len(EXTERNAL_MARK):], "little")
        if index < len(_EXTERNAL):
            return _EXTERNAL[index]
    return None


def tensor_to_numpy(t: Any) -> np.ndarray:
    """TensorProto -> ndarray (read-only when it views ``tensor_content``); follows TF's fill rule."""
    enum = t.dtype
    base = _base_type(enum)
    dtype = DTYPES.get(base)
    if dtype is None:
        raise ModelFormatError(f"constant of type {dtype_name(enum)} has no numpy equivalent"
                               + (" (install ml_dtypes)" if base == 14 else ""))
    shape = _static_shape(t)
    size = int(np.prod(shape, dtype=np.int64))
    content = t.tensor_content
    if content:
        if dtype.kind == "O":
            raise ModelFormatError(f"{dtype_name(enum)} constant stores tensor_content, "
                                   "which TensorFlow never writes for this type")
        if len(content) != size * dtype.itemsize and (where := _external(content)) is not None:
            buffer, offset, length = where
            if length == size * dtype.itemsize:
                arr = np.frombuffer(buffer, dtype=dtype, count=size, offset=offset)
                if sys.byteorder == "big" and dtype.itemsize > 1:  # pragma: no cover
                    arr = arr.byteswap()
                return arr.reshape(shape)
            content = b"\0" * length  # only for the message below
        if len(content) != size * dtype.itemsize:
            raise ModelFormatError(
                f"{dtype_name(enum)} constant of shape {list(shape)} needs "
                f"{size * dtype.itemsize} bytes of tensor_content, has {len(content)}")
        arr = np.frombuffer(content, dtype=dtype)
        if sys.byteorder == "big" and dtype.itemsize > 1:  # pragma: no cover
            arr = arr.byteswap()
        return arr.reshape(shape)
    values = _typed_values(t, base, dtype)
    if values.size == size:
        return values.reshape(shape)
    if values.size > size:
        raise ModelFormatError(f"{dtype_name(enum)} constant of shape {list(shape)} holds "
                               f"{values.size} values, more than its {size} elements")
    _check_fill_size(enum, shape, size, dtype, values.size)
    if values.size == 0:
        if dtype.kind == "O":
            return _object_array([b"" if base == 7 else None] * size).reshape(shape)
        return np.zeros(shape, dtype=dtype)
    out = np.empty(size, dtype=dtype)
    out[:values.size] = values
    out[values.size:] = values[-1]  # TF's convention: the last value repeats
    return out.reshape(shape)


def machine_memory() -> int:
    """Physical memory in bytes (0 when the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 0


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def _check_fill_size(enum: int, shape: tuple, size: int, dtype: np.dtype, given: int) -> None:
    """A constant stored as a few values repeated over its shape: refuse, before allocating,
    one that would not fit in this machine's memory (a malformed model, not a busy machine)."""
    need = size * max(dtype.itemsize, 1)
    memory = machine_memory()
    if memory and need > memory:
        raise ModelFormatError(
            f"{dtype_name(enum)} constant of shape {list(shape)} is stored as {given} value(s) "
            f"repeated over {size} elements, which would take {human_bytes(need)}, more than "
            f"this machine's {human_bytes(memory)} of memory; the model is malformed (or was "
            "cut wrongly), since TensorFlow could not hold that constant either")


def _numpy_dtype(enum: int) -> np.dtype:
    """The numpy dtype of a DataType attr, or a ModelFormatError naming it."""
    dtype = DTYPES.get(enum)
    if dtype is None:
        raise ModelFormatError(f"data type {dtype_name(enum)} has no numpy equivalent")
    return dtype


_LIST_FIELDS = ("s", "i", "f", "b", "type", "shape", "tensor", "func")


def attr_to_python(a: Any) -> Any:
    """AttrValue -> bytes, int, float, bool, numpy dtype, shape tuple, ndarray, func name or list."""
    kind = a.WhichOneof("value")
    if kind is None:
        return None
    if kind == "list":
        lv = a.list
        for name in _LIST_FIELDS:
            items = getattr(lv, name)
            if len(items):
                return [_convert(name, x) for x in items]
        return []
    return _convert(kind, getattr(a, kind))


def _convert(kind: str, value: Any) -> Any:
    """One attr value (scalar or list element) of the given AttrValue field kind."""
    if kind == "s":
        return bytes(value)
    if kind == "i":
        return int(value)
    if kind == "f":
        return float(value)
    if kind == "b":
        return bool(value)
    if kind == "type":
        return _numpy_dtype(value)
    if kind == "shape":
        return shape_to_python(value)
    if kind == "tensor":
        return tensor_to_numpy(value)
    if kind == "func":
        return str(value.name)
    return value  # placeholder: the name of the function attr it stands for


# --- parsing -------------------------------------------------------------------------


# --- fast text GraphDefs ---------------------------------------------------------------
#
# protobuf's text_format is pure Python and builds a token object per token: a 74 MB text
# GraphDef (Slim Inception v1) took 6.5 s and 1.4 GB. This reader scans the bytes with one
# regular expression, writes the binary wire format straight from the schema's descriptors,
# and leaves big string payloads (tensor_content) outside the message, the way binary files
# keep them in their memory map (external_content). It handles what TensorFlow writes; on
# anything else it returns None and the caller parses with text_format (which also words the
# errors).

_TEXT_TOKEN = re.compile(
    rb"""\s*(?:\#[^\n]*\n\s*)*(?:
      (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<open>[{<])
    | (?P<close>[}>])
    | (?P<colon>:)
    | (?P<string>["'])
    | (?P<number>[-+]?(?:[0-9][0-9a-fA-FxX.eE+-]*|\.[0-9][0-9eE+-]*|inf(?:inity)?|nan)f?)
    | (?P<sep>[,;])
    | (?P<list>[\[\]])
    )""", re.VERBOSE)
_EXTERNAL_TEXT_FROM = 4096  # decoded bytes of a string kept outside the message


class _TextFallback(Exception):
    """The fast text reader met something it does not handle."""


def _enc_varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _text_scalar(field: Any, kind: str, raw: bytes, external: bool = False) -> bytes:
    """The wire bytes (tag included) of one scalar value given in text."""
    t = field.type
    tag = field.number << 3
    if t in (_FD.TYPE_STRING, _FD.TYPE_BYTES):
        if kind != "string":
            raise _TextFallback
        value = codecs.escape_decode(raw[1:-1])[0]
        if external and field.name == "tensor_content" and len(value) >= _EXTERNAL_TEXT_FROM:
            value = external_content(value, 0, len(value))
        return _enc_varint(tag | 2) + _enc_varint(len(value)) + value
    if t == _FD.TYPE_ENUM:
        if kind == "name":
            found = field.enum_type.values_by_name.get(raw.decode())
            if found is None:
                raise _TextFallback
            return _enc_varint(tag) + _enc_varint(found.number)
        return _enc_varint(tag) + _enc_varint(int(raw, 0))
    if t == _FD.TYPE_BOOL:
        word = raw.decode()
        if word in ("true", "True", "t", "1"):
            return _enc_varint(tag) + b"\x01"
        if word in ("false", "False", "f", "0"):
            return _enc_varint(tag) + b"\x00"
        raise _TextFallback
    if kind != "number" and not (kind == "name" and raw.lower() in (b"inf", b"infinity", b"nan")):
        raise _TextFallback
    if t in (_FD.TYPE_FLOAT, _FD.TYPE_DOUBLE):
        text = raw.decode().lower().rstrip("f") if not raw.lower().endswith(b"inf") else raw.decode().lower()
        value = float(text if text not in ("-", "+") else "nan")
        if t == _FD.TYPE_FLOAT:
            return _enc_varint(tag | 5) + struct.pack("<f", value)
        return _enc_varint(tag | 1) + struct.pack("<d", value)
    if t in (_FD.TYPE_INT32, _FD.TYPE_INT64, _FD.TYPE_UINT32, _FD.TYPE_UINT64):
        return _enc_varint(tag) + _enc_varint(int(raw, 0))
    raise _TextFallback


def parse_text_graphdef_fast(data: Any, *, external: bool = False) -> Any | None:
    """A text GraphDef (bytes or a memory map) as a GraphDef message, or None when it uses
    text-format features this reader leaves to text_format. ``external=True``: big
    ``tensor_content`` values stay outside the message (see :func:`external_content`)."""
    try:
        binary = _text_to_wire(data, GraphDef.DESCRIPTOR, external)
    except (_TextFallback, ValueError, UnicodeDecodeError, OverflowError, struct.error):
        return None
    graph = GraphDef()
    try:
        graph.ParseFromString(binary)
    except Exception:  # noqa: BLE001 - DecodeError: leave it to text_format's wording
        return None
    return graph


_RELEASE_EVERY = 4 << 20  # bytes of a mapped text file read between page releases


def _releaser(data: Any) -> Callable[[int, int], int] | None:
    """For a memory map: a function dropping the resident pages of ``[done, upto)`` (read
    already; they stay in the page cache), returning the new ``done``."""
    if not isinstance(data, mmap.mmap) or not hasattr(mmap, "MADV_DONTNEED"):
        return None

    def release(done: int, upto: int) -> int:
        upto = upto // mmap.PAGESIZE * mmap.PAGESIZE
        if upto > done:
            try:
                data.madvise(mmap.MADV_DONTNEED, done, upto - done)
            except (OSError, ValueError):  # pragma: no cover
                pass
        return max(done, upto)
    return release


def _text_to_wire(data: Any, descriptor: Any, external: bool = False) -> bytes:
    """The binary wire format of the text message in ``data`` (no recursion: an explicit
    stack of open messages)."""
    stack: list[tuple[Any, bytearray, Any]] = [(descriptor, bytearray(), None)]
    pos, end = 0, len(data)
    match = _TEXT_TOKEN.match
    pending: tuple[str, bytes] | None = None  # a token read ahead
    release = _releaser(data)
    released = 0

    def token() -> tuple[str, bytes]:
        nonlocal pos, pending, released
        if pending is not None:
            found, pending = pending, None
            return found
        m = match(data, pos)
        if m is None:
            rest = data[pos:pos + 64].strip()
            if not rest or rest.startswith(b"#"):
                pos = end
                return ("end", b"")
            raise _TextFallback
        pos = m.end()
        kind = m.lastgroup
        if kind == "string":  # find the closing quote at C speed: weights are long strings
            quote, start = m.group(kind), pos - 1
            while True:
                close = data.find(quote, pos)
                newline = data.find(b"\n", pos, close if close >= 0 else end)
                if close < 0 or newline >= 0:
                    raise _TextFallback
                slashes = 0
                while data[close - 1 - slashes] == 0x5C:  # backslash
                    slashes += 1
                pos = close + 1
                if slashes % 2 == 0:
                    break
            if release is not None and start - released > _RELEASE_EVERY:
                # up to this string only: it is decoded (read again) after this returns
                released = release(released, start)
            return ("string", memoryview(data)[start:pos])  # no copy of long strings
        return (kind, m.group(kind)) if kind else ("end", b"")

    while True:
        kind, raw = token()
        if kind == "end":
            if len(stack) != 1:
                raise _TextFallback
            if release is not None:
                release(released, end)
            return bytes(stack[0][1])
        if kind == "close":
            if len(stack) == 1:
                raise _TextFallback
            _, body, field = stack.pop()
            parent = stack[-1][1]
            parent += _enc_varint(field.number << 3 | 2)
            parent += _enc_varint(len(body))
            parent += body
            continue
        if kind == "sep":
            continue
        if kind != "name":
            raise _TextFallback
        desc, body, _ = stack[-1]
        field = desc.fields_by_name.get(raw.decode())
        if field is None:
            raise _TextFallback
        kind, raw = token()
        if field.type == _FD.TYPE_MESSAGE:
            if kind == "colon":
                kind, raw = token()
            if kind != "open":
                raise _TextFallback  # a list of messages, or an Any: text_format's job
            stack.append((field.message_type, bytearray(), field))
            continue
        if kind != "colon":
            raise _TextFallback
        kind, raw = token()
        if kind == "list":
            if raw != b"[":
                raise _TextFallback
            while True:
                kind, raw = token()
                if kind == "list" and raw == b"]":
                    break
                if kind == "sep":
                    continue
                body += _text_scalar(field, kind, raw, external)
            continue
        if kind == "string":  # adjacent strings concatenate
            parts = [raw]
            while True:
                nxt = token()
                if nxt[0] != "string":
                    pending = nxt
                    break
                parts.append(nxt[1])
            if len(parts) > 1:
                raw = b'"' + b"".join(p[1:-1] for p in parts) + b'"'
        body += _text_scalar(field, kind, raw, external)


def parse_graphdef(data: bytes, *, text: bool) -> Any:
    """Parse a binary or text GraphDef; raises protobuf's DecodeError / text_format.ParseError."""
    graph = GraphDef()
    if text:
        text_format.Parse(data.decode("utf-8"), graph)
    else:
        graph.ParseFromString(data)
    return graph
