"""Reading an Object Detection API ``pipeline.config`` (protobuf text format) without the OD API's
compiled protos.

:func:`parse` turns the text into nested dicts: a field seen once maps to its value, a repeated
field to a list; sub-messages are dicts; unknown fields are kept; ``#`` comments, ``field: value``
and ``field { ... }`` / ``field: { ... }`` / ``field < ... >`` forms, ``[a, b]`` lists, ``[ext.name]``
extension names, adjacent string literals and ``,``/``;`` separators are accepted. A syntax
error is one :class:`OdConfigError` line naming the file, line and column and what was expected.

:func:`load` parses the file and gives the typed :class:`ODConfig` the conversion uses, with the
OD API protos' defaults for fields the file leaves out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfconv.errors import UsageError

from .plugin import FLAG


class OdConfigError(UsageError):
    """A pipeline.config that is missing, unreadable, malformed or does not fit the graph."""


# -- the text-format reader ----------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<space>[ \t\r\f\v]+|\n)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<open_string>["'])
  | (?P<number>-?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fF]?)(?![A-Za-z_0-9.]))
  | (?P<ident>-?[A-Za-z_][A-Za-z_0-9]*)
  | (?P<punct>[{}<>\[\]:,;/.])
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a",
            "b": "\b", "f": "\f", "v": "\v", "?": "?"}
_CLOSE = {"{": "}", "<": ">"}


@dataclass(frozen=True)
class _Tok:
    kind: str       # string | number | ident | punct | eof
    text: str
    line: int
    col: int

    def shown(self) -> str:
        return "the end of the file" if self.kind == "eof" else repr(self.text)


def _tokens(text: str, where: str) -> list[_Tok]:
    out, pos, line, line_start = [], 0, 1, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        col = pos - line_start + 1
        if m is None or m.lastgroup == "open_string":
            what = "a closing quote on the same line" if m is not None else "a field name or value"
            bad = text[pos]
            msg = f"{where}: line {line}, column {col}: expected {what}, found {bad!r}"
            raise OdConfigError(msg)
        kind = m.lastgroup
        if kind == "space" and m.group() == "\n":
            line, line_start = line + 1, m.end()
        elif kind not in ("space", "comment"):
            out.append(_Tok(kind, m.group(), line, col))
        pos = m.end()
    out.append(_Tok("eof", "", line, pos - line_start + 1))
    return out


def _unquote(tok: _Tok, where: str) -> str:
    body, out, i = tok.text[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i + 1:]).group()  # type: ignore[union-attr]
            out.append(chr(int(digits, 8)))
            i += 1 + len(digits)
        elif nxt in "xX" and re.match(r"[0-9a-fA-F]", body[i + 2:i + 3]):
            digits = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2:]).group()  # type: ignore[union-attr]
            out.append(chr(int(digits, 16)))
            i += 2 + len(digits)
        else:
            msg = f"{where}: line {tok.line}, column {tok.col + i + 1}: unknown escape '\\{nxt}' in a string"
            raise OdConfigError(msg)
    return "".join(out)


def _number(text: str) -> int | float:
    if text.lower().lstrip("-").startswith("0x"):
        return int(text, 16)
    body = text[:-1] if text[-1] in "fF" and not text.lower().lstrip("-").startswith("0x") else text
    if re.fullmatch(r"-?\d+", body):
        return int(body)
    return float(body)


_IDENT_VALUES = {"true": True, "True": True, "false": False, "False": False,
                 "inf": float("inf"), "-inf": float("-inf"), "infinity": float("inf"),
                 "-infinity": float("-inf"), "nan": float("nan"), "-nan": float("nan")}


class _Parser:
    def __init__(self, text: str, where: str) -> None:
        self.where = where
        self.toks = _tokens(text, where)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, tok: _Tok, expected: str) -> OdConfigError:
        return OdConfigError(f"{self.where}: line {tok.line}, column {tok.col}: expected "
                             f"{expected}, found {tok.shown()}")

    def message(self, close: str | None) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        while True:
            tok = self.peek()
            if close is not None and tok.kind == "punct" and tok.text == close:
                self.take()
                return fields
            if tok.kind == "eof":
                if close is None:
                    return fields
                raise self.fail(tok, f"{close!r} to close the message")
            name = self.field_name()
            value = self.field_value(name)
            if name in fields:
                old = fields[name]
                if isinstance(old, _Repeated):
                    old.append(value) if not isinstance(value, _Repeated) else old.extend(value)
                else:
                    fields[name] = _Repeated([old] + (list(value) if isinstance(value, _Repeated) else [value]))
            else:
                fields[name] = value
            nxt = self.peek()
            if nxt.kind == "punct" and nxt.text in ",;":
                self.take()

    def field_name(self) -> str:
        tok = self.take()
        if tok.kind == "ident" and not tok.text.startswith("-"):
            return tok.text
        if tok.kind == "punct" and tok.text == "[":  # [ext.name] or [type.googleapis.com/pkg.T]
            parts = []
            while True:
                part = self.take()
                if part.kind == "punct" and part.text == "]" and parts:
                    return "[" + "".join(parts) + "]"
                if part.kind == "ident" or (part.kind == "punct" and part.text in "./") or \
                        (part.kind == "number" and parts):
                    parts.append(part.text)
                    continue
                raise self.fail(part, "an extension name and ']'")
        expected = "a field name" + (" or '}'" if self.i > 1 else "")
        raise self.fail(tok, expected)

    def field_value(self, name: str) -> Any:
        tok = self.peek()
        colon = tok.kind == "punct" and tok.text == ":"
        if colon:
            self.take()
            tok = self.peek()
        if tok.kind == "punct" and tok.text in _CLOSE:
            self.take()
            return self.message(_CLOSE[tok.text])
        if not colon:
            raise self.fail(tok, f"':' or '{{' after the field name {name!r}")
        if tok.kind == "punct" and tok.text == "[":
            self.take()
            items = _Repeated()
            if self.peek().kind == "punct" and self.peek().text == "]":
                self.take()
                return items
            while True:
                item_tok = self.peek()
                if item_tok.kind == "punct" and item_tok.text in _CLOSE:
                    self.take()
                    items.append(self.message(_CLOSE[item_tok.text]))
                else:
                    items.append(self.scalar())
                sep = self.take()
                if sep.kind == "punct" and sep.text == "]":
                    return items
                if not (sep.kind == "punct" and sep.text == ","):
                    raise self.fail(sep, "',' or ']' in the list")
        return self.scalar()

    def scalar(self) -> Any:
        tok = self.take()
        if tok.kind == "number":
            return _number(tok.text)
        if tok.kind == "string":
            text = _unquote(tok, self.where)
            while self.peek().kind == "string":  # "ab" "cd" is "abcd"
                text += _unquote(self.take(), self.where)
            return text
        if tok.kind == "ident":
            return _IDENT_VALUES.get(tok.text, tok.text)
        raise self.fail(tok, "a value (number, string, true/false or an enum name)")


class _Repeated(list):
    """The values of a field given more than once (or as ``[a, b]``)."""


def parse(text: str, where: str = "pipeline.config") -> dict[str, Any]:
    """Nested dicts (and lists, for repeated fields) of a protobuf text-format message."""
    tree = _Parser(text, where).message(None)
    return _plain(tree)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# -- the typed view ------------------------------------------------------------------------

META_ARCHS = ("ssd", "faster_rcnn", "center_net")   # R-FCN and Mask R-CNN are faster_rcnn configs


@dataclass(frozen=True)
class ODConfig:
    """The fields of a pipeline.config the conversion uses (OD API proto defaults filled in)."""

    meta_arch: str            # "ssd" | "faster_rcnn"
    kind: str                 # "ssd" | "faster_rcnn" | "mask_rcnn" | "rfcn"
    num_classes: int
    resizer: str              # "fixed_shape" | "keep_aspect_ratio" | another resizer's name
    height: int | None        # fixed_shape_resizer
    width: int | None
    min_dimension: int | None  # keep_aspect_ratio_resizer
    max_dimension: int | None
    pad_to_max_dimension: bool
    score_converter: str      # "SOFTMAX" | "SIGMOID" | "IDENTITY"
    logit_scale: float
    score_threshold: float
    iou_threshold: float
    max_detections_per_class: int
    max_total_detections: int
    # two-stage models
    first_stage_max_proposals: int | None
    first_stage_nms_iou_threshold: float | None
    first_stage_nms_score_threshold: float | None
    initial_crop_size: int | None
    maxpool_kernel_size: int | None
    maxpool_stride: int | None
    mask_height: int | None   # Mask R-CNN
    mask_width: int | None
    rfcn_crop_size: tuple[int, int] | None         # R-FCN crop_height, crop_width
    rfcn_spatial_bins: tuple[int, int] | None      # R-FCN num_spatial_bins_height, _width
    # anchors and box coder
    anchor_generator: str     # "ssd_anchor_generator" | "multiscale_anchor_generator" | "grid_anchor_generator" | ...
    anchor: dict = field(repr=False)               # its fields, proto defaults filled in
    box_coder: str = "faster_rcnn_box_coder"
    box_coder_scales: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)  # y, x, h, w
    add_background_class: bool = True
    source: Path = Path("pipeline.config")
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def resizer_text(self) -> str:
        """The resizer as a person would name it: ``fixed_shape_resizer 160x160``."""
        if self.resizer == "fixed_shape":
            return f"fixed_shape_resizer {self.height}x{self.width}"
        if self.resizer == "keep_aspect_ratio":
            pad = ", padded" if self.pad_to_max_dimension else ""
            return f"keep_aspect_ratio_resizer min {self.min_dimension} / max {self.max_dimension}{pad}"
        return f"{self.resizer}_resizer"


# Proto defaults (object_detection/protos/*.proto) for the fields read here.
ANCHOR_DEFAULTS = {
    "ssd_anchor_generator": {"num_layers": 6, "min_scale": 0.2, "max_scale": 0.95, "scales": [],
                             "aspect_ratios": [], "interpolated_scale_aspect_ratio": 1.0,
                             "base_anchor_height": 1.0, "base_anchor_width": 1.0,
                             "height_stride": [], "width_stride": [], "height_offset": [],
                             "width_offset": [], "reduce_boxes_in_lowest_layer": True},
    "grid_anchor_generator": {"height": 256, "width": 256, "height_stride": 16, "width_stride": 16,
                              "height_offset": 0, "width_offset": 0, "scales": [],
                              "aspect_ratios": []},
    "multiscale_anchor_generator": {"min_level": 3, "max_level": 7, "anchor_scale": 4.0,
                                    "aspect_ratios": [], "scales_per_octave": 2,
                                    "normalize_coordinates": True},
}


def as_list(value: Any) -> list:
    """A field's values as a list, whether it was given once, repeated, or not at all."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _one(value: Any) -> Any:
    """A singular field's value (protobuf text format: the last one given wins)."""
    return value[-1] if isinstance(value, list) and value else value


def _msg(parent: dict, name: str) -> dict:
    value = _one(parent.get(name))
    return value if isinstance(value, dict) else {}


def _oneof(parent: dict, where: str, path: Path) -> tuple[str, dict]:
    """The one sub-message set in ``parent`` (a proto oneof such as ``image_resizer``)."""
    set_ = [(k, v) for k, v in parent.items() if isinstance(_one(v), dict)]
    if not set_:
        return "", {}
    name, value = set_[0]
    return name, _one(value)


def _typed(value: Any, kind: type, name: str, path: Path) -> Any:
    value = _one(value)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if value in (0, 1):
                return bool(value)
            raise TypeError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if kind is float:
            if isinstance(value, (bool, str)):
                raise TypeError
            return float(value)
        if kind is str:
            return str(value)
    except (TypeError, ValueError):
        pass
    msg = f"{path}: {name} is {value!r}, expected {'a number' if kind in (int, float) else kind.__name__}"
    raise OdConfigError(msg)


def _get(parent: dict, key: str, kind: type, default: Any, where: str, path: Path) -> Any:
    if key not in parent:
        return default
    return _typed(parent[key], kind, f"{where}.{key}", path)


def from_dict(raw: dict, path: Path) -> ODConfig:
    """The typed view of a parsed pipeline.config."""
    model = _msg(raw, "model")
    if not model:
        msg = f"{path}: no 'model {{ ... }}' block: not an Object Detection API pipeline.config"
        raise OdConfigError(msg)
    arch, body = _oneof(model, "model", path)
    if arch not in META_ARCHS:
        msg = (f"{path}: meta-architecture {arch or '(none)'!r} is not supported; tfconv converts "
               "Object Detection API ssd, faster_rcnn (also R-FCN and Mask R-CNN) and center_net "
               "models")
        raise OdConfigError(msg)
    where = f"model.{arch}"
    if "num_classes" not in body:
        msg = f"{path}: {where}.num_classes is missing"
        raise OdConfigError(msg)
    num_classes = _get(body, "num_classes", int, None, where, path)
    resizer_name, resizer = _oneof(_msg(body, "image_resizer"), "image_resizer", path)
    rwhere = f"{where}.image_resizer.{resizer_name}"
    resizer_kind = resizer_name[:-len("_resizer")] if resizer_name.endswith("_resizer") else resizer_name
    height = width = min_dim = max_dim = None
    pad = False
    if resizer_kind == "fixed_shape":
        height = _get(resizer, "height", int, 300, rwhere, path)
        width = _get(resizer, "width", int, 300, rwhere, path)
    elif resizer_kind == "keep_aspect_ratio":
        min_dim = _get(resizer, "min_dimension", int, 600, rwhere, path)
        max_dim = _get(resizer, "max_dimension", int, 1024, rwhere, path)
        pad = _get(resizer, "pad_to_max_dimension", bool, False, rwhere, path)
    elif not resizer_kind:
        resizer_kind = "none"

    post_key = "post_processing" if arch == "ssd" else "second_stage_post_processing"
    post = _msg(body, post_key)
    nms = _msg(post, "batch_non_max_suppression")
    pwhere, nwhere = f"{where}.{post_key}", f"{where}.{post_key}.batch_non_max_suppression"
    score_converter = _get(post, "score_converter", str, "IDENTITY", pwhere, path).upper()
    max_total = _get(nms, "max_total_detections", int, 100, nwhere, path)
    if arch == "center_net":  # no NMS: the top max_box_predictions heatmap peaks (sigmoid)
        cwhere = f"{where}.object_center_params"
        max_total = _get(_msg(body, "object_center_params"), "max_box_predictions", int, 100,
                         cwhere, path)
        score_converter = "SIGMOID"

    two_stage = arch == "faster_rcnn"
    predictor_name, predictor = _oneof(_msg(body, "second_stage_box_predictor"), "", path) \
        if two_stage else ("", {})
    kind = arch
    mask_h = mask_w = None
    rfcn_crop = rfcn_bins = None
    if two_stage:
        pw = f"{where}.second_stage_box_predictor.{predictor_name}"
        if predictor_name == "rfcn_box_predictor":
            kind = "rfcn"
            rfcn_crop = (_get(predictor, "crop_height", int, 12, pw, path),
                         _get(predictor, "crop_width", int, 12, pw, path))
            rfcn_bins = (_get(predictor, "num_spatial_bins_height", int, 3, pw, path),
                         _get(predictor, "num_spatial_bins_width", int, 3, pw, path))
        elif predictor_name == "mask_rcnn_box_predictor" and \
                _get(predictor, "predict_instance_masks", bool, False, pw, path):
            kind = "mask_rcnn"
            mask_h = _get(predictor, "mask_height", int, 15, pw, path)
            mask_w = _get(predictor, "mask_width", int, 15, pw, path)

    anchor_key = "first_stage_anchor_generator" if two_stage else "anchor_generator"
    anchor_name, anchor = _oneof(_msg(body, anchor_key), anchor_key, path)
    anchor_fields = dict(ANCHOR_DEFAULTS.get(anchor_name, {}))
    for key, value in anchor.items():
        repeated = isinstance(ANCHOR_DEFAULTS.get(anchor_name, {}).get(key), list) or \
            (anchor_name not in ANCHOR_DEFAULTS and isinstance(value, list))
        anchor_fields[key] = as_list(value) if repeated else _one(value)

    coder_name, coder = ("faster_rcnn_box_coder", {})
    if not two_stage:
        coder_name, coder = _oneof(_msg(body, "box_coder"), "box_coder", path)
        coder_name = coder_name or "faster_rcnn_box_coder"
    cw = f"{where}.box_coder.{coder_name}"
    scales = (10.0, 10.0, 5.0, 5.0)
    if coder_name == "faster_rcnn_box_coder":
        scales = tuple(_get(coder, k, float, d, cw, path) for k, d in
                       (("y_scale", 10.0), ("x_scale", 10.0), ("height_scale", 5.0), ("width_scale", 5.0)))

    def first_stage(key: str, kind_: type, default: Any) -> Any:
        return _get(body, key, kind_, default, where, path) if two_stage else None

    return ODConfig(
        meta_arch=arch, kind=kind, num_classes=num_classes,
        resizer=resizer_kind, height=height, width=width, min_dimension=min_dim,
        max_dimension=max_dim, pad_to_max_dimension=pad,
        score_converter=score_converter,
        logit_scale=_get(post, "logit_scale", float, 1.0, pwhere, path),
        score_threshold=_get(nms, "score_threshold", float, 0.0, nwhere, path),
        iou_threshold=_get(nms, "iou_threshold", float, 0.6, nwhere, path),
        max_detections_per_class=_get(nms, "max_detections_per_class", int, 100, nwhere, path),
        max_total_detections=max_total,
        first_stage_max_proposals=first_stage("first_stage_max_proposals", int, 300),
        first_stage_nms_iou_threshold=first_stage("first_stage_nms_iou_threshold", float, 0.7),
        first_stage_nms_score_threshold=first_stage("first_stage_nms_score_threshold", float, 0.0),
        initial_crop_size=first_stage("initial_crop_size", int, None),
        maxpool_kernel_size=first_stage("maxpool_kernel_size", int, None),
        maxpool_stride=first_stage("maxpool_stride", int, None),
        mask_height=mask_h, mask_width=mask_w,
        rfcn_crop_size=rfcn_crop, rfcn_spatial_bins=rfcn_bins,
        anchor_generator=anchor_name, anchor=anchor_fields,
        box_coder=coder_name, box_coder_scales=scales,  # type: ignore[arg-type]
        add_background_class=_get(body, "add_background_class", bool, True, where, path)
        if not two_stage else True,
        source=path, raw=raw,
    )


def load(path: str | Path) -> ODConfig:
    """Read and check the pipeline.config at ``path``; every problem is one :class:`OdConfigError` line."""
    path = Path(path)
    if path.is_dir():
        inside = path / "pipeline.config"
        hint = f" (it holds {inside}: pass that)" if inside.is_file() else ""
        msg = f"{FLAG}: {path} is a directory, not a pipeline.config file{hint}"
        raise OdConfigError(msg)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        msg = f"{FLAG}: {path} does not exist"
        raise OdConfigError(msg) from None
    except OSError as err:
        msg = f"{FLAG}: cannot read {path}: {err.strerror or err}"
        raise OdConfigError(msg) from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        msg = (f"{path}: line {line}: not UTF-8 text (byte 0x{data[err.start]:02x}): a "
               "pipeline.config is a protobuf text file")
        raise OdConfigError(msg) from None
    if "\x00" in text:
        msg = f"{path}: binary data, not a protobuf text file: a pipeline.config is text"
        raise OdConfigError(msg)
    return from_dict(parse(text, str(path)), path)
