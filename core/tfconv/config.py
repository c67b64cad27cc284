"""The conversion settings (:class:`ConvertConfig`) and the parsers of the Model Optimizer's
shape and ``--input`` mini-languages, which every frontend shares."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UsageError

Shape = "tuple[int | None, ...]"

IR_TYPES = {
    "f64": "float64", "f32": "float32", "f16": "float16", "i64": "int64", "i32": "int32",
    "i16": "int16", "i8": "int8", "u8": "uint8", "u16": "uint16", "u32": "uint32",
    "u64": "uint64", "boolean": "bool", "bool": "bool",
}


@dataclass(frozen=True)
class InputSpec:
    """One item of ``--input``: ``[PORT:]NAME[:PORT][SHAPE]{TYPE}->VALUE``."""

    name: str | None
    shape: tuple | None = None
    dtype: str | None = None          # numpy dtype name
    value: object = None              # frozen value (``->VALUE``), else None
    in_port: int | None = None        # ``P:name``: cut input port P of name
    out_port: int | None = None       # ``name:P``: cut output port P of name

    @property
    def tensor(self) -> str | None:
        """``name:P`` for an output-port cut, else the plain name."""
        if self.name is None:
            return None
        return self.name if self.out_port is None else f"{self.name}:{self.out_port}"


@dataclass(frozen=True)
class ConvertConfig:
    """Everything a conversion needs; built by the CLI or ``tfconv.convert_model``."""

    model: Path | None = None
    input_model_is_text: bool | None = None
    output_dir: Path = Path(".")
    model_name: str | None = None
    inputs: tuple[InputSpec, ...] = ()
    batch: int | None = None
    outputs: tuple[str, ...] = ()
    compress_to_fp16: bool = False
    nchw: bool = True                  # the spec's default NHWC -> NCHW translation
    target: str = "ir"
    validate_each_pass: bool = False
    disabled_passes: tuple[str, ...] = ()
    options: dict[str, object] = field(default_factory=dict)

    @property
    def name(self) -> str:
        if self.model_name:
            return self.model_name
        if self.model is None:
            return "model"
        stem = self.model.name if self.model.is_dir() else self.model.stem
        return stem or "model"


# -- shape syntax ----------------------------------------------------------------------------

_DIM = re.compile(r"^\s*(\?|-1|\d+|\d*\.\.\d*)\s*$")


def parse_shape(text: str) -> tuple:
    """``[1,224,224,3]``, ``(1 224 224 3)``, ``[?,3]``, ``[-1,3]``, ``[]`` -> a tuple (None = dynamic).

    Bounded dims ``a..b`` are accepted and kept dynamic."""
    t = text.strip()
    if not (t[:1] in "[(" and t[-1:] in "])"):
        msg = f"shape {text!r} cannot be parsed: write it as [1,224,224,3] (use ? or -1 for a dynamic dimension)"
        raise UsageError(msg)
    body = t[1:-1].strip()
    if not body:
        return ()
    parts = [p for p in re.split(r"[,\s]+", body) if p]
    dims: list[int | None] = []
    for p in parts:
        m = _DIM.match(p)
        if not m:
            msg = f"shape {text!r} cannot be parsed: dimension {p!r} is not a number, ? or -1"
            raise UsageError(msg)
        dims.append(None if p in ("?", "-1") or ".." in p else int(p))
    return tuple(dims)


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``[]``, ``()`` or ``{}``."""
    items, depth, cur = [], 0, []
    for ch in text:
        if ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        items.append("".join(cur).strip())
    return [i for i in items if i]


def parse_shapes(text: str) -> list[tuple]:
    """``--input_shape``: one shape, or several as ``[1,3],[1,5]``."""
    return [parse_shape(item) for item in split_top_level(text)]


_ITEM = re.compile(
    r"^(?:(?P<inport>\d+):)?(?P<name>[^\[\]{}]*?)(?::(?P<outport>\d+))?"
    r"(?P<shape>[\[(][^\])]*[\])])?(?:\{(?P<type>[^}]*)\})?(?:->(?P<value>.+))?$")


def parse_value(text: str, dtype: str | None) -> np.ndarray:
    t = text.strip()
    if t.startswith("[") and "," not in t:
        t = "[" + ",".join(p for p in t[1:-1].split() if p) + "]"
    try:
        py = ast.literal_eval(t)
    except (ValueError, SyntaxError):
        if t.lower() in ("true", "false"):
            py = t.lower() == "true"
        else:
            msg = f"value {text!r} cannot be parsed: give a number, True/False or a list like [1,2,3]"
            raise UsageError(msg) from None
    return np.asarray(py, dtype=dtype) if dtype else np.asarray(py)


def parse_inputs(text: str) -> list[InputSpec]:
    """Parse ``--input``: items ``name``, ``name:port``, ``port:name``, with ``[shape]``,
    ``{type}`` and ``->value``."""
    specs = []
    for item in split_top_level(text):
        m = _ITEM.match(item)
        if not m:
            msg = f"--input item {item!r} cannot be parsed: expected NAME[SHAPE]{{TYPE}}->VALUE"
            raise UsageError(msg)
        dtype = None
        if m["type"]:
            key = m["type"].strip().lower()
            if key not in IR_TYPES:
                msg = (f"--input item {item!r}: unknown type {m['type']!r}; use one of "
                       f"{', '.join(sorted(IR_TYPES))}")
                raise UsageError(msg)
            dtype = IR_TYPES[key]
        shape = parse_shape(m["shape"]) if m["shape"] else None
        value = parse_value(m["value"], dtype) if m["value"] else None
        if value is not None and shape is not None:
            if any(d is None for d in shape):
                msg = f"--input item {item!r}: a dynamic shape cannot be frozen to a value"
                raise UsageError(msg)
            if value.size != int(np.prod(shape)) and value.size != 1:
                msg = f"--input item {item!r}: the value has {value.size} elements, the shape {list(shape)} needs {int(np.prod(shape))}"
                raise UsageError(msg)
            value = np.broadcast_to(value, shape).copy() if value.size == 1 else value.reshape(shape)
        name = m["name"].strip() or None
        specs.append(InputSpec(name, shape, dtype, value,
                               int(m["inport"]) if m["inport"] else None,
                               int(m["outport"]) if m["outport"] else None))
    return specs


def merge_input_shapes(inputs: list[InputSpec], shapes_text: str | None,
                       batch: int | None) -> list[InputSpec]:
    """Apply ``--input_shape`` to the ``--input`` items (by position), with MO's checks."""
    if not shapes_text:
        return inputs
    if batch is not None:
        msg = "use either --input_shape or -b/--batch, not both (-b only overrides the batch dimension)"
        raise UsageError(msg)
    shapes = parse_shapes(shapes_text)
    if any(s.shape is not None for s in inputs):
        msg = "shapes are given both in --input (name[...]) and in --input_shape; give them in one place"
        raise UsageError(msg)
    if not inputs:
        return [InputSpec(None, s) for s in shapes]
    if len(shapes) != len(inputs):
        msg = (f"--input names {len(inputs)} input(s) but --input_shape gives {len(shapes)} "
               "shape(s); give one shape per input, in the same order")
        raise UsageError(msg)
    return [InputSpec(i.name, s, i.dtype, i.value, i.in_port, i.out_port)
            for i, s in zip(inputs, shapes)]
