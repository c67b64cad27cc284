"""Sanity checks of the model zoo itself (cheap cases only).

Proves the cached references are right: OpenVINO's own TF frontend, reading
the frozen .pb directly, reproduces the TF reference outputs.
"""
import numpy as np
import pytest

from models import zoo

CHEAP_CASES = ["keras3-MobileNetV2", "tf_keras-MobileNetV2", "slim-inception_v1"]


def test_case_names():
    names = zoo.all_case_names()
    # 9 Keras apps x 2 generations + 12 slim nets + issue 10's 9 (zoo.EXTRA_CASES)
    assert len(names) == len(set(names)) == 39
    assert sum(len(v) for v in zoo.EXTRA_CASES.values()) == 9
    for n in names:
        zoo.family_of(n)
    with pytest.raises(KeyError):
        zoo.family_of("keras3-NoSuchNet")


@pytest.fixture(scope="module")
def cheap_built():
    # One subprocess per family instead of one per case.
    zoo.prebuild(CHEAP_CASES)


@pytest.mark.parametrize("name", CHEAP_CASES)
def test_case(name, cheap_built):
    case = zoo.get(name)
    assert case.name == name
    assert case.pb.is_file() and case.pb.stat().st_size > 0
    assert case.reference.is_file()
    assert len(case.inputs) == 1 and len(case.outputs) == 1
    (in_name, in_shape), = case.inputs.items()
    assert not in_name.endswith(":0") and not case.outputs[0].endswith(":0")
    assert in_shape[0] is None and in_shape[1:] in ((224, 224, 3), (299, 299, 3))

    ref = np.load(case.reference)
    x = ref[in_name]
    y = ref[case.outputs[0]]
    assert x.dtype == np.float32 and x.shape == (2,) + in_shape[1:]
    assert y.dtype == np.float32 and y.shape == (2, 1000)
    assert np.isfinite(y).all()
    # non-degenerate: logits spread across classes, images disagree on top-1
    for row in y:
        assert row.std() > 1e-2 * np.abs(row).max()
    assert y[0].argmax() != y[1].argmax()
    assert np.abs(y[0] - y[1]).max() > 1e-2 * np.abs(y).max()

    ov = pytest.importorskip("openvino")
    core = ov.Core()
    model = core.read_model(str(case.pb))
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = compiled({compiled.input(0): x})[compiled.output(0)]
    err = np.abs(got - y).max() / np.abs(y).max()
    assert err <= 1e-4, f"OpenVINO vs TF relative error {err:.3g}"


def test_cache_layout(cheap_built):
    case = zoo.get(CHEAP_CASES[0])
    assert case.pb.parent.parent == zoo.cache_dir()
    assert zoo.is_built(CHEAP_CASES[0])
    assert zoo.meta(CHEAP_CASES[0])["num_nodes"] > 100
