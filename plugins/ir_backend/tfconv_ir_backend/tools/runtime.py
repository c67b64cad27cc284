"""The OpenVINO runtime for the tools: imported on demand, IRs read with clear errors."""
from __future__ import annotations

import importlib
import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from tfconv.errors import ModelFormatError, UsageError

# The project's rule for comparing with TensorFlow: f32 inference, whatever the device prefers.
F32 = {"INFERENCE_PRECISION_HINT": "f32"}
INSTALL = "pip install 'tfconv-ir-backend[openvino]'"


def optional(module: str, command: str, what: str) -> Any:
    """The optional ``module`` (the ``openvino`` extra), or a clear error naming what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        msg = f"tfconv {command} needs {what} ({err}); install it: {INSTALL}"
        raise UsageError(msg) from err


def openvino(command: str) -> Any:
    """The ``openvino`` module, or a clear error naming the extra to install."""
    return optional("openvino", command, "the OpenVINO runtime")


_CORE: Any = None


def core(command: str) -> Any:
    global _CORE
    if _CORE is None:
        _CORE = openvino(command).Core()
    return _CORE


_LOADED: set[str] = set()
LIBRARY_SUFFIXES = (".so", ".dll", ".dylib")


def load_extensions(specs: tuple[str, ...] | list[str] | None, command: str) -> None:
    """``--extension`` values: OpenVINO extension libraries (``.so``/``.dll``/``.dylib``, C++),
    or Python modules (a dotted name or a ``.py`` file) whose ``OPENVINO_EXTENSIONS`` lists
    ``openvino.Op`` subclasses (or other extension objects); each is added to the Core."""
    for spec in specs or ():
        for item in (s.strip() for s in str(spec).split(",")):
            if not item or item in _LOADED:
                continue
            ov_core = core(command)
            if item.lower().endswith(LIBRARY_SUFFIXES):
                if not Path(item).is_file():
                    raise UsageError(f"--extension {item}: no such file")
                try:
                    ov_core.add_extension(item)
                except RuntimeError as err:
                    first = (str(err).strip().splitlines() or ["unknown error"])[0]
                    raise UsageError(f"--extension {item}: OpenVINO cannot load it: {first}") from None
            else:
                for ext in _python_extensions(item):
                    ov_core.add_extension(ext)
            _LOADED.add(item)


def _python_extensions(item: str) -> list[Any]:
    """The ``OPENVINO_EXTENSIONS`` of a module named by dotted name or ``.py`` path."""
    try:
        if item.endswith(".py"):
            path = Path(item)
            if not path.is_file():
                raise UsageError(f"--extension {item}: no such file")
            spec = importlib.util.spec_from_file_location(f"tfconv_ext_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            module = importlib.import_module(item)
    except UsageError:
        raise
    except Exception as err:  # noqa: BLE001 - a third party's module: report, no traceback
        msg = f"--extension {item}: cannot import it: {type(err).__name__}: {err}"
        raise UsageError(msg) from None
    exts = getattr(module, "OPENVINO_EXTENSIONS", None)
    if not exts:
        msg = (f"--extension {item}: the module has no OPENVINO_EXTENSIONS list (the openvino.Op "
               "subclasses to register); give a module that defines one, or an extension library")
        raise UsageError(msg)
    return list(exts)


def check_ir(path: Path, what: str = "IR") -> Path:
    """``path`` is an OpenVINO IR ``.xml`` with its ``.bin`` next to it, or a clear error."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{what} {path}: no such file; give the model.xml that tfconv convert wrote")
    if path.is_dir():
        xmls = sorted(path.glob("*.xml"))
        hint = f" (it holds {', '.join(p.name for p in xmls[:3])})" if xmls else ""
        raise UsageError(f"{what} {path} is a directory; give the IR's .xml file{hint}")
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, UnicodeDecodeError, OSError) as err:
        msg = (f"{what} {path} is not an OpenVINO IR (not an XML document: {err}); "
               "give the model.xml that tfconv convert wrote")
        raise ModelFormatError(msg) from None
    if root.tag != "net" or root.find("layers") is None:
        msg = (f"{what} {path} is not an OpenVINO IR (an XML document whose root is "
               f"<{root.tag}>, not <net> with <layers>); give the model.xml that tfconv convert wrote")
        raise ModelFormatError(msg)
    needs_bin = any(layer.get("type") == "Const" for layer in root.iter("layer"))
    if needs_bin and not path.with_suffix(".bin").is_file():
        msg = f"{what} {path}: its weights file {path.with_suffix('.bin').name} is missing next to it"
        raise ModelFormatError(msg)
    return path


def read_ir(path: Path, command: str) -> Any:
    """The ``ov.Model`` of the IR at ``path``."""
    path = check_ir(path)
    try:
        return core(command).read_model(str(path))
    except RuntimeError as err:
        msg = f"OpenVINO cannot read the IR {path}: {_reason(err)}"
        if "unsupported opset" in str(err):
            msg += ("; a custom layer needs its runtime extension: pass --extension (a Python "
                    "module with OPENVINO_EXTENSIONS, or an extension library)")
        raise ModelFormatError(msg) from None


def _reason(err: Exception) -> str:
    """The informative line of an OpenVINO error (its first lines only say where it was raised)."""
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Exception from", "Check '"))]
    return (useful or lines or ["unknown error"])[-1 if useful else 0]


def compile_model(model: Any, command: str, device: str = "CPU") -> Any:
    try:
        return core(command).compile_model(model, device, F32)
    except RuntimeError as err:
        first = (str(err).strip().splitlines() or ["unknown error"])[0]
        raise ModelFormatError(f"OpenVINO cannot compile the IR on {device}: {first}") from None


def partial_shape(port: Any) -> tuple[int | None, ...] | None:
    """A port's shape with ``None`` for dynamic dimensions (``None`` for a dynamic rank)."""
    ps = port.get_partial_shape()
    if ps.rank.is_dynamic:
        return None
    return tuple(d.get_length() if d.is_static else None for d in ps)


def numpy_dtype(port: Any) -> np.dtype:
    return np.dtype(port.get_element_type().to_dtype())


def port_name(port: Any) -> str:
    """The most readable of a port's tensor names: ``node:0`` spellings last."""
    names = sorted(port.get_names(), key=lambda n: (n.endswith(":0"), len(n), n))
    return names[0] if names else port.get_node().get_friendly_name()


def image_layout(shape: tuple | None) -> str | None:
    """``NCHW`` or ``NHWC`` for a 4-D image input, from where the channel dimension (1, 3 or
    4) sits; ``None`` when the shape is not 4-D. NCHW wins a tie (the converter's default)."""
    if shape is None or len(shape) != 4:
        return None
    channels = (1, 3, 4)
    if shape[1] in channels:
        return "NCHW"
    if shape[3] in channels:
        return "NHWC"
    return "NCHW"
