"""``tfconv plugin new NAME --op OpType``: write a working plugin package for a TF op.

The package has a ``setup.cfg`` with its entry point in the ``tfconv`` group, a translator for
``OpType``, and a test that builds a one-op TF graph, converts it with the plugin, runs the IR in
OpenVINO and compares it with TensorFlow. As generated, the translator is the identity and the
test's TensorFlow reference is ``tf.identity``, so the package passes its own test after
``pip install -e``; the author then replaces both with the op's real computation (or points the
test at the op's library to run the real op in TensorFlow).
"""
from __future__ import annotations

import keyword
import os
import re
import shutil
import tempfile
from pathlib import Path

import click

from tfconv.errors import UsageError

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
OP = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _snake(op: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", op)
    s = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s).lower()
    return s + "_" if keyword.iskeyword(s) else s


def files(name: str, op: str) -> dict[str, str]:
    """Relative path -> text of every file of the package."""
    dist = "tfconv-" + name.replace("_", "-")
    pkg = f"tfconv_{name}"
    fn = _snake(op)
    env = f"{name.upper()}_TF_LIBRARY"
    return {
        "setup.cfg": f"""[metadata]
name = {dist}
version = 0.1.0
description = tfconv plugin: TensorFlow's {op} to OpenVINO IR

[options]
packages = find:
python_requires = >=3.10
install_requires =
    tfconv

[options.entry_points]
tfconv =
    {name} = {pkg}.plugin
""",
        "pyproject.toml": """[build-system]
requires = ["setuptools>=64", "wheel"]
build-backend = "setuptools.build_meta"
""",
        "README.md": f"""# {dist}

A tfconv plugin that converts TensorFlow's `{op}` op to OpenVINO IR.

```sh
pip install -e .
tfconv plugins                 # lists {name} with its hooks
pytest tests                   # converts a one-op graph and compares OpenVINO with TensorFlow
```

As generated, `{pkg}/translators.py` writes `{op}` as the identity and the test's TensorFlow
reference (`tf_reference` in `tests/test_{fn}.py`) is `tf.identity`. Replace both with what
`{op}` computes; with the op's library, `{env}=/path/op.so pytest tests` runs the real op in
TensorFlow instead of `tf_reference`. See tfconv's `docs/plugins.md`.
""",
        f"{pkg}/__init__.py": f'''"""tfconv plugin: TensorFlow's {op} to OpenVINO IR."""

# The tfconv plugin API this plugin was written for.
TFCONV_API = 1
''',
        f"{pkg}/plugin.py": f'''"""{name}: hook implementations."""
from __future__ import annotations

from tfconv import hookimpl


@hookimpl
def tfconv_register_translators(registry):
    from .translators import TABLE
    registry.add(TABLE)
''',
        f"{pkg}/translators.py": f'''"""Translators of this plugin's TF ops into OpenVINO IR ops."""
from __future__ import annotations

import numpy as np

from tfconv.translate import OpTable

TABLE = OpTable("tf")


@TABLE.register("{op}", inputs=1)
def {fn}(ctx):
    # TF: y = {op}(x)        IR: y = x * 1 (the identity: replace with the op's computation,
    # e.g. ctx.emit("Tanh", ctx.input(0)); ctx.attr("name", default) reads the node's attributes)
    one = ctx.const(np.array(1, dtype=ctx.dtype(0)))
    return ctx.emit("Multiply", ctx.input(0), one)
''',
        f"tests/test_{fn}.py": f'''"""{op}: a one-op TF graph converted by this plugin, run in OpenVINO, compared with TF."""
from __future__ import annotations

import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
ov = pytest.importorskip("openvino")

import tfconv  # noqa: E402

OP = "{op}"
LIBRARY = os.environ.get("{env}")  # the op's library: compare with the real op


def tf_reference(x):
    """What {op} computes, in TensorFlow ops (used when TensorFlow cannot run {op} itself)."""
    return tf.identity(x)


def one_op_graph():
    """A GraphDef: Placeholder x [2, 5] f32 -> {op} -> y."""
    graph_def = tf.compat.v1.GraphDef()
    x = graph_def.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = tf.float32.as_datatype_enum
    x.attr["shape"].shape.CopyFrom(tf.TensorShape([2, 5]).as_proto())
    y = graph_def.node.add(name="y", op=OP, input=["x"])
    y.attr["T"].type = tf.float32.as_datatype_enum
    return graph_def


def test_{fn}_matches_tensorflow(tmp_path):
    path = tmp_path / "one_op.pb"
    path.write_bytes(one_op_graph().SerializeToString())
    x = np.random.default_rng(0).normal(0, 2, (2, 5)).astype(np.float32)
    if LIBRARY:
        tf.load_op_library(LIBRARY)
        graph = tf.Graph()
        with graph.as_default():
            tf.graph_util.import_graph_def(one_op_graph(), name="")
        with tf.compat.v1.Session(graph=graph) as sess:
            expected = sess.run("y:0", {{"x:0": x}})
    else:
        expected = tf_reference(tf.constant(x)).numpy()
    ir = tfconv.convert_model(path, output=["y"])
    xml = tmp_path / "ir" / "one_op.xml"
    tfconv.save_model(ir, xml)
    compiled = ov.Core().compile_model(str(xml), "CPU", {{"INFERENCE_PRECISION_HINT": "f32"}})
    got = np.asarray(compiled([x])[compiled.outputs[0]])
    assert got.shape == expected.shape
    scale = float(np.max(np.abs(expected))) or 1.0
    assert float(np.max(np.abs(got - expected))) / scale <= 1e-4
''',
    }


def write_package(name: str, op: str, parent: Path) -> Path:
    """Write the package ``parent/name``; all files appear at once, or none."""
    if not NAME.match(name) or keyword.iskeyword(name):
        msg = (f"plugin name {name!r} is not valid: use lower-case letters, digits and "
               "underscores, starting with a letter (for example my_ops)")
        raise UsageError(msg)
    if not OP.match(op):
        msg = f"--op {op!r} is not a TF op type name (letters, digits, underscores: SoftClip)"
        raise UsageError(msg)
    parent = Path(parent)
    target = parent / name
    if target.exists():
        msg = f"{target} already exists; choose another NAME or --output_dir"
        raise UsageError(msg)
    if not parent.is_dir():
        msg = f"--output_dir {parent}: no such directory"
        raise UsageError(msg)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=parent))
    try:
        for rel, text in files(name, op).items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        os.replace(staging, target)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        msg = f"cannot write the plugin into {parent}: {err.strerror or err}"
        raise UsageError(msg) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def register(cli: click.Group) -> None:
    @cli.group("plugin")
    def plugin() -> None:
        """Write tfconv plugins."""

    @plugin.command("new")
    @click.argument("name")
    @click.option("--op", "op", required=True, metavar="OpType",
                  help="The TF op type the plugin translates.")
    @click.option("--output_dir", "-o", default=".", show_default=True,
                  type=click.Path(path_type=Path), help="Where the package folder is written.")
    def new(name: str, op: str, output_dir: Path) -> None:
        """Write a plugin package NAME (setup.cfg with its entry point, a translator for
        OpType, a test that converts a one-op TF graph and compares OpenVINO with TensorFlow).
        Then: pip install -e NAME && pytest NAME/tests."""
        target = write_package(name, op, output_dir)
        click.echo(f"[ SUCCESS ] wrote {target}: pip install -e {target} && pytest {target}/tests")
