"""Every activation of Keras 3 and tf_keras as a one-op model: converted, run in OpenVINO, equal to
TensorFlow within 1e-4 over inputs that reach every branch, and mapped to the IR op OpenVINO runs
fastest (a lost fusion fails here: the fused op must be in the IR and its pattern's ops gone).

The models come from ``activation_models.py`` (one subprocess per Keras generation, cached).
"""
from __future__ import annotations

import functools
import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

import activation_models as am  # noqa: E402
import tfconv  # noqa: E402
from ovrun import rel_err, run_ir  # noqa: E402

CASES = [(gen, name) for gen in am.GENERATIONS for name in am.CASES[gen]]


@functools.cache
def _built(gen: str):
    d = am.built(gen)
    return d, json.loads((d / "meta.json").read_text()), np.load(d / "reference.npz")


def _matches(op, attrs: dict) -> bool:
    return all(op.attrs.get(k) == v for k, v in attrs.items())


@pytest.mark.parametrize("gen, name", CASES, ids=[f"{g}-{n}" for g, n in CASES])
def test_activation(gen, name, tmp_path):
    d, meta, ref = _built(gen)
    graph = tfconv.convert_model(d / f"{name}.pb", output=meta[name]["output"])
    xml = [p for p in tfconv.save_model(graph, tmp_path / "model.xml") if p.suffix == ".xml"][0]
    expected, x = ref[name], ref[f"{name}:input"]
    (actual,) = run_ir(xml, [x.transpose(0, 3, 1, 2) if x.ndim == 4 else x])  # NCHW IR input
    assert np.isfinite(expected).all()
    err = rel_err(actual, expected)
    assert err <= 1e-4, f"{gen} {name}: relative error {err:.3g}"
    ops = [op for op in graph if op.type not in ("Parameter", "Const", "Result")]
    want, gone = am.CASES[gen][name]
    for ir_type, attrs in want.items():
        assert any(op.type == ir_type and _matches(op, attrs) for op in ops), \
            f"{gen} {name}: no {ir_type} {attrs} in {[(op.type, op.attrs) for op in ops]}"
    left = sorted({op.type for op in ops} & set(gone) - set(want))
    assert not left, f"{gen} {name}: {left} left next to {list(want)}: {[op.type for op in ops]}"
    if x.ndim == 4:
        transposes = [op.name for op in ops if op.type == "Transpose"]
        assert len(transposes) == 1, f"{gen} {name}: the layout pass stopped at {transposes}"
