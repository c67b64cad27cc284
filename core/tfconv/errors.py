"""Errors reported to users.

The CLI prints ``str(err)`` of a :class:`TfconvError` (no traceback) and exits with
``err.exit_code``. Library code raises; it never prints or calls ``sys.exit``.

Exit codes (``EXIT_CODES``, also in ``tfconv --help`` and the README): 0 converted, 1 validation
mismatch (``tfconv validate``), 2 bad usage or bad model (flags, names, corrupt or wrong files,
unwritable output), 3 unsupported model (ops no plugin translates, a translator that cannot map
a node), 70 internal error (a bug in tfconv or a plugin; a crash log is written).
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable


EXIT_CODES = {
    0: "converted (or the command did what it was asked)",
    1: "validation mismatch: tfconv validate found the IR differs from the model",
    2: "bad usage or bad model: flags, names, corrupt or wrong files, unwritable output",
    3: "unsupported model: op types no plugin translates, or a node a translator cannot map",
    70: "internal error: a bug in tfconv or a plugin (a crash log is written)",
}


class TfconvError(Exception):
    """Base class for errors meant for the user: what is wrong, where, and what to do."""

    exit_code = 2


class UsageError(TfconvError):
    """Bad flags or flag values."""

    exit_code = 2


class PluginError(TfconvError):
    """Conflicting registrations, broken plugins, pass-order cycles."""

    exit_code = 70


class ModelFormatError(TfconvError):
    """The model file is missing, corrupt, truncated or of another format."""


class NoLoaderError(ModelFormatError):
    """No ``tfconv_load_model`` implementation claimed the model."""


class UnsupportedOpsError(TfconvError):
    """Raised once, after scanning the whole graph, naming every op type without a translator."""

    exit_code = 3

    def __init__(self, missing: dict[str, list[str]], dialect: str = "tf") -> None:
        self.missing = {op: list(names) for op, names in sorted(missing.items())}
        counts = Counter({op: len(names) for op, names in self.missing.items()})
        total = sum(counts.values())
        if len(counts) == 1:  # the common case (one custom op): one line with the fix
            ((op, names),) = self.missing.items()
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            super().__init__(
                f"unsupported {dialect} op type {op} x{len(names)}: {shown}; no installed plugin "
                f"translates it; `tfconv plugin new my_ops --op {op}` writes a plugin for it "
                "(tfconv_register_translators, see docs/plugins.md), or cut the model around it "
                "with --input/--output")
            return
        lines = [
            f"{len(counts)} unsupported {dialect} op type(s) in {total} node(s); "
            "no installed plugin translates them:"
        ]
        for op, names in self.missing.items():
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            lines.append(f"  {op} x{len(names)}: {shown}")
        first = next(iter(self.missing), "OpType")
        lines.append(
            "Install or write a plugin that registers translators for them "
            f"(tfconv_register_translators; `tfconv plugin new my_ops --op {first}` writes "
            "one, see docs/plugins.md), "
            "or cut the model around them with --input/--output."
        )
        super().__init__("\n".join(lines))


class TranslationError(TfconvError):
    """A translator failed; names the source node, its op type and its input shapes."""

    exit_code = 3

    def __init__(self, node: str, op_type: str, message: str,
                 input_shapes: Iterable[object] = ()) -> None:
        shapes = ", ".join(_fmt_shape(s) for s in input_shapes)
        super().__init__(f"cannot convert node {node!r} ({op_type}"
                         f"{'; inputs ' + shapes if shapes else ''}): {message}")
        self.node, self.op_type = node, op_type


class ShapeInferenceError(TfconvError):
    """An IR op's output shape or type could not be inferred."""

    exit_code = 3


class PassError(TfconvError):
    """A graph pass failed unexpectedly (a bug); carries the pass name."""

    exit_code = 70

    def __init__(self, pass_name: str, message: str) -> None:
        super().__init__(f"pass {pass_name!r} failed: {message}")
        self.pass_name = pass_name


class OutputError(TfconvError):
    """The output files cannot be written."""


def _fmt_shape(shape: object) -> str:
    if shape is None:
        return "[?...]"
    if isinstance(shape, tuple):
        return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"
    return str(shape)
