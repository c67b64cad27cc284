"""The conversion settings (:class:`ConvertConfig`) and the parsers of the Model Optimizer's
shape and ``--input`` mini-languages, which every frontend shares."""
from __future__ import annotations

import ast
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError

if TYPE_CHECKING:  # numpy is imported where values are parsed: tfconv --help never needs it
    import numpy as np

log = logging.getLogger("tfconv")

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
    # --mean_values / --scale_values / --scale / --reverse_input_channels, embedded in the IR
    # by the backend (the IR's inputs then take raw images); see :class:`Preprocessing`.
    preprocess: Preprocessing = field(default_factory=lambda: Preprocessing())

    @property
    def name(self) -> str:
        if self.model_name:
            return self.model_name
        if self.model is None:
            return "model"
        stem = self.model.name if self.model.is_dir() else self.model.stem
        return stem or "model"


def check_model_name(name: str | None) -> str | None:
    """``--model_name`` is a file name in ``--output_dir``, never a path: one clear error for
    ``../x``, ``/abs/x``, ``a/b``, ``.``/``..``, an empty name or control characters."""
    if name is None:
        return None
    bad = None
    if not name.strip():
        bad = "it is empty"
    elif "/" in name or "\\" in name or (os.sep in name) or (os.altsep and os.altsep in name):
        bad = "it contains a path separator"
    elif name in (".", ".."):
        bad = f"{name!r} names a directory"
    elif any(ord(c) < 32 or c == "\x7f" for c in name):
        bad = "it contains control characters"
    elif len(name.encode("utf-8", "surrogateescape")) > 200:
        bad = "it is longer than 200 bytes"
    if bad:
        msg = (f"--model_name {name!r} is not a file name ({bad}); it names the IR files "
               "inside --output_dir: pass a plain name such as 'resnet50' and the directory "
               "with --output_dir")
        raise UsageError(msg)
    return name


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
    import numpy as np
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
    import numpy as np
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


# -- preprocessing: --mean_values, --scale_values, --scale, --reverse_input_channels ----------

ChannelValues = "dict[str | None, tuple[float, ...]]"


@dataclass(frozen=True)
class ModelInput:
    """What :meth:`Preprocessing.resolve` needs to know about one model input: its name, the
    other names it answers to (tensor names such as ``input:0``), its shape in the framework's
    (TF: channels-last) layout and whether it holds floating-point data."""

    name: str
    aliases: tuple[str, ...] = ()
    shape: tuple | None = None
    is_float: bool = True

    def fmt_shape(self) -> str:
        if self.shape is None:
            return "[unknown rank]"
        return "[" + ",".join("?" if d is None else str(d) for d in self.shape) + "]"


@dataclass(frozen=True)
class InputPreprocess:
    """What the IR does to one raw input before the original model sees it, in this order
    whatever the order of the flags: ``x_model = (reverse(x_raw) - mean) / scale``, along the
    channel axis. ``mean``/``scale`` hold one value per channel, or one value for all."""

    mean: tuple[float, ...] | None = None
    scale: tuple[float, ...] | None = None
    reverse_channels: bool = False

    def formula(self, name: str) -> str:
        """The arithmetic as the user can check it, e.g. ``(input[RGB<->BGR] - [..]) / [..]``."""
        x = f"{name}[channels reversed]" if self.reverse_channels else name
        if self.mean is not None:
            x = f"({x} - {_fmt_values(self.mean)})"
        if self.scale is not None:
            x = f"{x} / {_fmt_values(self.scale)}"
        return x


    def apply(self, x: np.ndarray, axis: int | None) -> np.ndarray:
        """The same arithmetic in numpy on a framework-layout array (``axis`` as returned by
        :meth:`Preprocessing.resolve`): what the original model sees when the IR gets ``x``,
        e.g. to feed TensorFlow in a comparison with the IR."""
        import numpy as np
        y = np.asarray(x, dtype=np.float32)
        shape = [1] * y.ndim
        if axis is not None:
            shape[axis] = -1
        if self.reverse_channels and axis is not None:
            y = np.flip(y, axis=axis)
        if self.mean is not None:
            y = y - np.asarray(self.mean, np.float32).reshape(shape if len(self.mean) > 1 else [1] * y.ndim)
        if self.scale is not None:
            y = y / np.asarray(self.scale, np.float32).reshape(shape if len(self.scale) > 1 else [1] * y.ndim)
        return np.ascontiguousarray(y, dtype=np.float32)


def _fmt_values(values: tuple[float, ...]) -> str:
    text = ",".join(f"{v:g}" for v in values)
    return text if len(values) == 1 else f"[{text}]"


@dataclass(frozen=True)
class Preprocessing:
    """The preprocessing flags as given: ``mean``/``scale`` map an input name (``None``: every
    input) to its values; ``--scale S`` is ``scale={None: (S,)}``. ``images_only`` restricts
    the unnamed values to 4-D 3-channel float inputs (used for presets such as the Slim
    plugin's ``graph.meta["preprocess"]``); ``source`` says where the values came from."""

    mean: dict = field(default_factory=dict)    # ChannelValues
    scale: dict = field(default_factory=dict)   # ChannelValues
    reverse_input_channels: bool = False
    images_only: bool = False
    source: str = "flags"
    scale_flag: str = "--scale_values"         # the flag the scale came from, for messages

    def __bool__(self) -> bool:
        return bool(self.mean or self.scale or self.reverse_input_channels)

    @classmethod
    def from_meta(cls, meta: object) -> Preprocessing:
        """A plugin's preset: ``{"mean_values": [..] or None, "scale_values": [..] or None,
        "reverse_input_channels": bool, "source": "slim:resnet_v1_50"}`` for every image input."""
        if not isinstance(meta, dict):
            return cls()
        source = str(meta.get("source") or "model preset")
        values = {}
        for key in ("mean_values", "scale_values"):
            given = meta.get(key)
            if given is None:
                continue
            import numpy as np
            vals = tuple(float(v) for v in np.asarray(given, dtype=np.float64).reshape(-1))
            _check_values(vals, f"{source} {key}", divisor=key == "scale_values")
            values[key] = {None: vals}
        return cls(values.get("mean_values", {}), values.get("scale_values", {}),
                   bool(meta.get("reverse_input_channels")), images_only=True, source=source)

    def resolve(self, inputs: list[ModelInput]) -> dict[str, tuple[InputPreprocess, int | None]]:
        """Check the flags against the model's inputs and decide, per input name, what to do
        and on which axis of its (framework-layout) shape the channel values lie (``None``
        when every value is a single number and no channel reversal is asked).

        Raises :class:`UsageError` when a flag cannot apply: an unknown input name, a value
        count that does not match the channel dimension, an unknown or ambiguous channel
        dimension, ``--reverse_input_channels`` without a 3-channel input."""
        flag = {"mean": "--mean_values", "scale": self.scale_flag}
        if self.source != "flags":
            flag = {"mean": f"{self.source} mean values", "scale": f"{self.source} scale values"}
        by_name: dict[str, ModelInput] = {}
        for inp in inputs:
            for alias in (inp.name, *inp.aliases):
                by_name.setdefault(alias, inp)
        listing = ", ".join(f"{i.name} {i.fmt_shape()}" for i in inputs) or "none"
        for kind, table in (("mean", self.mean), ("scale", self.scale)):
            for key in table:
                if key is not None and key not in by_name:
                    msg = (f"{flag[kind]} names input {key!r}, which the model does not have; "
                           f"its inputs are: {listing}")
                    raise UsageError(msg)
        plan: dict[str, tuple[InputPreprocess, int | None]] = {}
        reversible: list[str] = []
        for inp in inputs:
            named = {kind: next((table[a] for a in (inp.name, *inp.aliases) if a in table), None)
                     for kind, table in (("mean", self.mean), ("scale", self.scale))}
            eligible = inp.is_float and (not self.images_only or _is_image(inp))
            chosen: dict[str, tuple[float, ...] | None] = {}
            for kind, table in (("mean", self.mean), ("scale", self.scale)):
                if named[kind] is not None:
                    if not inp.is_float:
                        msg = (f"{flag[kind]} names input {inp.name!r}, which holds integers or "
                               "booleans, not image data")
                        raise UsageError(msg)
                    chosen[kind] = named[kind]
                else:
                    chosen[kind] = table.get(None) if eligible else None
            axis = None
            for kind in ("mean", "scale"):
                vals = chosen[kind]
                if vals is not None and len(vals) > 1:
                    unnamed = named[kind] is None and len(inputs) > 1
                    found = _channel_axis(inp, len(vals), flag[kind], unnamed)
                    if axis is not None and found != axis:
                        msg = (f"input {inp.name!r} {inp.fmt_shape()}: the mean and scale values "
                               "lie on different axes; give both with one value per channel")
                        raise UsageError(msg)
                    axis = found
            reverse = False
            if self.reverse_input_channels and eligible:
                rev_axis = _reverse_axis(inp)
                if rev_axis is not None and axis is not None and axis != rev_axis:
                    msg = (f"input {inp.name!r} {inp.fmt_shape()}: the mean/scale values lie on "
                           f"axis {axis} but its 3 channels to reverse on axis {rev_axis}; "
                           "give one value per channel of the 3-channel axis")
                    raise UsageError(msg)
                if rev_axis is not None:
                    reverse, axis = True, rev_axis
                    reversible.append(inp.name)
            if chosen["mean"] is not None or chosen["scale"] is not None or reverse:
                plan[inp.name] = (InputPreprocess(chosen["mean"], chosen["scale"], reverse), axis)
        for kind, table in (("mean", self.mean), ("scale", self.scale)):
            used = any(getattr(pre, kind) is not None for pre, _ in plan.values())
            if table and not used and self.source == "flags":
                msg = (f"{flag[kind]} cannot apply: the model has no float input to apply it to "
                       f"(inputs: {listing})")
                raise UsageError(msg)
        if self.reverse_input_channels and not reversible and self.source == "flags":
            msg = ("--reverse_input_channels cannot apply: no float input has 3 channels "
                   f"(inputs: {listing}); drop the flag, or pin the channel dimension with --input_shape")
            raise UsageError(msg)
        return plan


def _is_image(inp: ModelInput) -> bool:
    return inp.is_float and inp.shape is not None and len(inp.shape) == 4 and \
        (inp.shape[-1] == 3 or (inp.shape[1] == 3 and inp.shape[-1] is not None))


def _channel_candidates(shape: tuple) -> list[int]:
    """Axes that may hold the channels: the last (TF's channels-last), and for 4-D/5-D data
    also axis 1 (a model that takes channels-first data)."""
    rank = len(shape)
    return [rank - 1, 1] if rank in (4, 5) else [rank - 1] if rank else []


def _channel_axis(inp: ModelInput, count: int, flag: str, unnamed: bool) -> int:
    """The axis of ``inp`` with ``count`` channels, or a UsageError saying why there is none."""
    hint = (" (the values apply to every input; name the input to give values for one: "
            f"{flag.split()[0]} {inp.name}[...])") if unnamed else ""
    if inp.shape is None:
        msg = (f"{flag}: the rank of input {inp.name!r} is unknown, so its channel dimension is "
               f"ambiguous; give its shape with --input_shape{hint}")
        raise UsageError(msg)
    candidates = _channel_candidates(inp.shape)
    if not candidates:
        msg = f"{flag} gives {count} values, but input {inp.name!r} is a scalar; give one value{hint}"
        raise UsageError(msg)
    last = inp.shape[candidates[0]]
    if last is None:
        msg = (f"{flag}: the channel dimension of input {inp.name!r} {inp.fmt_shape()} is dynamic, "
               f"so it is ambiguous which axis the {count} values belong to; pin it with "
               f"--input_shape (e.g. [1,224,224,{count}]){hint}")
        raise UsageError(msg)
    if last == count:
        return candidates[0]
    if len(candidates) > 1 and inp.shape[1] == count:
        return 1
    msg = (f"{flag} gives {count} values for input {inp.name!r} {inp.fmt_shape()}, whose channel "
           f"dimension (the last, in TF layout) has {last}; give {last} values, one per channel, "
           f"or one value for all channels{hint}")
    raise UsageError(msg)


def _reverse_axis(inp: ModelInput) -> int | None:
    """The 3-channel axis of ``inp`` for ``--reverse_input_channels``, or None when it has none.
    A 3-D or higher input whose channel dimension is dynamic is an error (it is ambiguous)."""
    if inp.shape is None or len(inp.shape) < 3:
        return None
    candidates = _channel_candidates(inp.shape)
    if inp.shape[candidates[0]] is None:
        msg = (f"--reverse_input_channels: the channel dimension of input {inp.name!r} "
               f"{inp.fmt_shape()} is dynamic, so it is ambiguous whether it has 3 channels; "
               "pin it with --input_shape (e.g. [1,224,224,3])")
        raise UsageError(msg)
    if inp.shape[candidates[0]] == 3:
        return candidates[0]
    if len(candidates) > 1 and inp.shape[1] == 3:
        return 1
    return None


def _check_values(values: tuple[float, ...], flag: str, divisor: bool) -> None:
    if not values:
        msg = f"{flag}: no values given; write them as [123.68,116.78,103.94]"
        raise UsageError(msg)
    if not all(math.isfinite(v) for v in values):
        msg = f"{flag}: values must be finite numbers, got {list(values)}"
        raise UsageError(msg)
    if divisor and any(v == 0 for v in values):
        msg = (f"{flag}: a scale of 0 would divide the input by zero; give non-zero values "
               "(1 leaves it unchanged)")
        raise UsageError(msg)


_VALUES_ITEM = re.compile(r"^(?P<name>[^\[\]()]*?)\s*(?P<vals>[\[(][^\[\]()]*[\])])$")


def parse_channel_values(text: str, flag: str, input_names: list[str] | None = None,
                         divisor: bool = False) -> dict:
    """``--mean_values``/``--scale_values``: ``[1,2,3]`` or ``(1,2,3)`` for every input, or
    ``a[1,2,3],b[4,5,6]`` per input (all named or none). Several unnamed lists are matched by
    position to the inputs named in ``--input`` (``input_names``)."""
    items = split_top_level(text or "")
    parsed: list[tuple[str | None, tuple[float, ...]]] = []
    for item in items:
        m = _VALUES_ITEM.match(item.strip())
        if not m:
            msg = (f"{flag} item {item!r} cannot be parsed: write [123.68,116.78,103.94] for every "
                   "input, or name[123.68,116.78,103.94] per input")
            raise UsageError(msg)
        body = [p for p in re.split(r"[,\s]+", m["vals"][1:-1].strip()) if p]
        try:
            vals = tuple(float(p) for p in body)
        except ValueError:
            msg = f"{flag} item {item!r}: {m['vals']} holds something that is not a number"
            raise UsageError(msg) from None
        name = m["name"].strip() or None
        _check_values(vals, f"{flag} {item}", divisor)
        parsed.append((name, vals))
    if not parsed:
        return {}
    named = [n is not None for n, _ in parsed]
    if any(named) and not all(named):
        msg = (f"{flag} mixes named and unnamed values ({text}); name every item, "
               "e.g. data[1,2,3],info[4,5,6], or give one unnamed list for every input")
        raise UsageError(msg)
    if not any(named):
        if len(parsed) == 1:
            return {None: parsed[0][1]}
        names = [n for n in (input_names or []) if n]
        if len(names) != len(parsed):
            msg = (f"{flag} gives {len(parsed)} unnamed value lists; name the inputs they belong "
                   "to, e.g. a[1,2,3],b[4,5,6] (or list the inputs in --input in the same order)")
            raise UsageError(msg)
        parsed = list(zip(names, (v for _, v in parsed)))
    result: dict = {}
    for name, vals in parsed:
        if name in result:
            msg = f"{flag} gives values for input {name!r} twice; give them once"
            raise UsageError(msg)
        result[name] = vals
    return result


def build_preprocessing(mean_values: str | None, scale_values: str | None, scale: float | None,
                        reverse_input_channels: bool,
                        input_names: list[str] | None = None) -> Preprocessing:
    """Check and combine the four preprocessing flags (order-independent)."""
    mean = parse_channel_values(mean_values or "", "--mean_values", input_names)
    scales = parse_channel_values(scale_values or "", "--scale_values", input_names, divisor=True)
    if scale is not None:
        if scales:
            msg = ("--scale and --scale_values are both given; use --scale S for one value for "
                   "every input, or --scale_values for per-channel values, not both")
            raise UsageError(msg)
        _check_values((float(scale),), "--scale", divisor=True)
        if abs(scale) < 1:
            log.warning("--scale %g divides every input by %g, i.e. multiplies it by %g; if you "
                        "meant to multiply by %g, pass --scale %g", scale, scale, 1 / scale,
                        scale, 1 / scale)
        scales = {None: (float(scale),)}
    return Preprocessing(mean, scales, bool(reverse_input_channels),
                         scale_flag="--scale" if scale is not None else "--scale_values")
