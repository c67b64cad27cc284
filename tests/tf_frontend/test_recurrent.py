"""Recurrent nets vs real TF (``ops/recurrent.py``): TF1 ``dynamic_rnn`` loops over a known cell
become one LSTMSequence/GRUSequence/RNNSequence per layer (no Loop, no unrolled MatMuls), and the
fused cell ops (BlockLSTM, LSTMBlockCell, GRUBlockCell) translate. Tiny random-weight nets
(hidden 4-8, 24 time steps), every output (sequence and final states) compared in OpenVINO f32."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from optest import CORE, compare, rand, rng_for, tf, to_ov_model

from test_ops_control_flow import convert  # noqa: E402  (load + source passes + translate)
from test_ops_loop import run_ir, sub_networks  # noqa: E402  (IRs with Loops, run in OpenVINO)

import tfconv  # noqa: E402

tf1 = tf.compat.v1
STEPS = 24
SEQUENCE_OPS = ("LSTMSequence", "GRUSequence", "RNNSequence")


def _randomise(sess, key: str) -> None:
    """Random, non-degenerate weights and biases (the cells initialise biases to zero)."""
    r = rng_for(key)
    for v in tf1.global_variables():
        shape = v.shape.as_list()
        sess.run(v.assign(r.uniform(-0.6, 0.6, size=shape).astype(np.float32)))


def _run(build, feeds: dict[str, np.ndarray], key: str, shapes: dict | None = None):
    """Build a TF1 graph (control flow v1), freeze it with random weights, convert it, and
    compare every output in OpenVINO; returns the IR's op type counts. ``shapes`` overrides a
    placeholder's static shape (None dims: known only at run time)."""
    g = tf.Graph()
    with g.as_default():
        tf1.disable_control_flow_v2()
        phs = {name: tf1.placeholder(tf.as_dtype(v.dtype), (shapes or {}).get(name, v.shape),
                                     name=name)
               for name, v in feeds.items()}
        outs = [tf.identity(t, name=f"out{i}") for i, t in enumerate(tf.nest.flatten(build(**phs)))]
        tf1.enable_control_flow_v2()
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            _randomise(sess, key)
            expected = sess.run([o.name for o in outs], {phs[k]: v for k, v in feeds.items()})
            frozen = tf1.graph_util.convert_variables_to_constants(
                sess, g.as_graph_def(), [o.op.name for o in outs])
    ir = convert(frozen.SerializeToString(), [o.name for o in outs])
    model, names = to_ov_model(ir)
    compiled = CORE.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled.create_infer_request().infer([feeds[n] for n in names])
    for i, e in enumerate(expected):
        assert np.abs(e).max() > 0.05, f"output {i} is degenerate"
        compare(e, result[compiled.output(i)], 1e-4, f"output {i} ({outs[i].name})")
    return Counter(op.type for op in ir)


def _cells():
    from tf_keras.src.layers.rnn import legacy_cells as lc
    return lc


CELLS = {
    "lstm": lambda lc: lc.LSTMCell(8),
    "basic-lstm": lambda lc: lc.BasicLSTMCell(6, forget_bias=0.7),
    "gru": lambda lc: lc.GRUCell(8),
    "rnn": lambda lc: lc.BasicRNNCell(5),
    "multi": lambda lc: lc.MultiRNNCell([lc.GRUCell(6), lc.LSTMCell(8), lc.BasicRNNCell(4)]),
}
EXPECTED = {"lstm": {"LSTMSequence": 1}, "basic-lstm": {"LSTMSequence": 1},
            "gru": {"GRUSequence": 1}, "rnn": {"RNNSequence": 1},
            "multi": {"GRUSequence": 1, "LSTMSequence": 1, "RNNSequence": 1}}


def _assert_sequences(ops: Counter, expected: dict[str, int]) -> None:
    assert {t: ops[t] for t in SEQUENCE_OPS if ops[t]} == expected, ops
    assert not {"Loop", "TensorIterator", "MatMul"} & set(ops), ops  # neither a Loop nor unrolled


@pytest.mark.parametrize("cell", list(CELLS))
def test_dynamic_rnn_becomes_sequence_ops(cell):
    """``dynamic_rnn`` over 24 steps: one Sequence op per layer; outputs and final states."""
    x = rand((2, STEPS, 3), "rnn-x")

    def build(x):
        out, state = tf1.nn.dynamic_rnn(CELLS[cell](_cells()), x, dtype=tf.float32)
        return [out, state]

    _assert_sequences(_run(build, {"x": x}, cell), EXPECTED[cell])


def test_sequence_length_constant():
    """A constant ``sequence_length``: TF stops at its maximum; outputs past a sequence's end are
    zero and its state stays, which the Sequence op's ``sequence_lengths`` give."""
    x = rand((3, STEPS, 3), "rnn-x")

    def build(x):
        cell = _cells().MultiRNNCell([_cells().LSTMCell(8), _cells().GRUCell(4)])
        out, state = tf1.nn.dynamic_rnn(cell, x, sequence_length=[20, 7, 13], dtype=tf.float32)
        return [out, state]

    _assert_sequences(_run(build, {"x": x}, "len"), {"LSTMSequence": 1, "GRUSequence": 1})


def test_sequence_length_at_run_time():
    """A ``sequence_length`` input: the trip count ``min(T, max(lengths))`` is only known at run
    time, and the Sequence op still applies (lengths of 24 and of 5)."""
    x = rand((2, STEPS, 3), "rnn-x")

    def build(x, lengths):
        out, state = tf1.nn.dynamic_rnn(_cells().LSTMCell(8), x, sequence_length=lengths,
                                        dtype=tf.float32)
        return [out, state]

    _assert_sequences(_run(build, {"x": x, "lengths": np.array([24, 5], np.int32)}, "rt"),
                      {"LSTMSequence": 1})


@pytest.mark.parametrize("shape", [(None, STEPS, 3), (None, None, 3)], ids=["batch", "batch-time"])
def test_sequence_length_over_dynamic_dims_stays_a_loop(tmp_path, shape):
    """Per-item lengths over a dynamic batch (or time) dim: OpenVINO's CPU plugin ignores a
    Sequence op's ``sequence_lengths`` when its input shape is dynamic, so the loop stays a Loop
    (TF's results, for two batch sizes) rather than a Sequence op that would be wrong."""
    g = tf.Graph()
    with g.as_default():
        tf1.disable_control_flow_v2()
        x = tf1.placeholder(tf.float32, shape, name="x")
        lengths = tf1.placeholder(tf.int32, (None,), name="lengths")
        cell = _cells().MultiRNNCell([_cells().LSTMCell(8), _cells().GRUCell(4)])
        out, state = tf1.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=tf.float32)
        outs = [tf.identity(t, name=f"out{i}")
                for i, t in enumerate([out, *tf.nest.flatten(state)])]
        tf1.enable_control_flow_v2()
        feeds = [[rand((3, STEPS, 3), "rnn-x"), np.array([24, 5, 11], np.int32)],
                 [rand((2, STEPS, 3), "rnn-x2"), np.array([3, 24], np.int32)]]
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            _randomise(sess, "dyn")
            expected = [sess.run(outs, {x: f[0], lengths: f[1]}) for f in feeds]
            frozen = tf1.graph_util.convert_variables_to_constants(
                sess, g.as_graph_def(), [o.op.name for o in outs])
    assert all(np.abs(e).max() > 0.05 for e in expected[0])
    (tmp_path / "rnn.pb").write_bytes(frozen.SerializeToString())
    graph = tfconv.convert_model(str(tmp_path / "rnn.pb"),
                                 output=",".join(o.op.name for o in outs))
    assert sub_networks(graph) == ["Loop"]
    assert not {op.type for op in graph} & set(SEQUENCE_OPS)
    run_ir(graph, feeds, expected)


def test_bidirectional_dynamic_rnn():
    """``bidirectional_dynamic_rnn`` with lengths: two Sequences, the backward one on the
    ReverseSequence'd input."""
    x = rand((2, STEPS, 3), "rnn-x")

    def build(x):
        lc = _cells()
        outs, states = tf1.nn.bidirectional_dynamic_rnn(lc.LSTMCell(6), lc.GRUCell(5), x,
                                                        sequence_length=[24, 17],
                                                        dtype=tf.float32)
        return [tf.concat(outs, -1), states]

    _assert_sequences(_run(build, {"x": x}, "bi"), {"LSTMSequence": 1, "GRUSequence": 1})


def test_unrecognised_cell_falls_back_to_the_general_path():
    """A peephole LSTM is not what LSTMSequence computes: the recogniser declines and the loop
    is unrolled, still matching TF."""
    x = rand((2, STEPS, 3), "rnn-x")

    def build(x):
        return tf1.nn.dynamic_rnn(_cells().LSTMCell(4, use_peepholes=True), x,
                                  dtype=tf.float32)[0]

    ops = _run(build, {"x": x}, "peep")
    assert not set(SEQUENCE_OPS) & set(ops), ops


# --- fused cell ops ------------------------------------------------------------------------------

H, IN = 6, 3


def _w(key: str, *shape: int) -> np.ndarray:
    return rand(shape, key, -0.6, 0.6)


def _block(v2: bool, peephole: bool, clip: float, outputs: list[int], seq_len_max: int):
    def build(x, h0, c0):
        op = tf.raw_ops.BlockLSTMV2 if v2 else tf.raw_ops.BlockLSTM
        kw = {} if v2 else {"forget_bias": 0.8}
        res = op(seq_len_max=tf.constant(seq_len_max, tf.int64), x=x, cs_prev=c0, h_prev=h0,
                 w=_w("w", IN + H, 4 * H), wci=_w("wci", H), wcf=_w("wcf", H), wco=_w("wco", H),
                 b=_w("b", 4 * H), cell_clip=clip, use_peephole=peephole, **kw)
        return [res[k] for k in outputs]
    return build


BLOCK_FEEDS = {"x": rand((STEPS, 2, IN), "bx"), "h0": rand((2, H), "bh"), "c0": rand((2, H), "bc")}


@pytest.mark.parametrize("v2", [False, True], ids=["BlockLSTM", "BlockLSTMV2"])
def test_block_lstm_is_one_lstm_sequence(v2):
    """Only ``h`` read, no peepholes, no clipping: one LSTMSequence; ``seq_len_max`` below T
    leaves the later steps zero as in TF."""
    ops = _run(_block(v2, False, -1.0 if not v2 else 0.0, [6], 20), BLOCK_FEEDS, "block")
    assert ops["LSTMSequence"] == 1 and not ops["MatMul"], ops


@pytest.mark.parametrize("v2", [False, True], ids=["BlockLSTM", "BlockLSTMV2"])
def test_block_lstm_with_peepholes_clipping_and_every_output(v2):
    """Peepholes, the default cell clip of 3 and all seven outputs: TF's step, unrolled."""
    ops = _run(_block(v2, True, 3.0, list(range(7)), STEPS), BLOCK_FEEDS, "block-peep")
    assert ops["Clamp"] == STEPS, ops


@pytest.mark.parametrize("peephole", [False, True])
def test_lstm_block_cell(peephole):
    def build(x, h0, c0):
        res = tf.raw_ops.LSTMBlockCell(x=x, cs_prev=c0, h_prev=h0, w=_w("w", IN + H, 4 * H),
                                       wci=_w("wci", H), wcf=_w("wcf", H), wco=_w("wco", H),
                                       b=_w("b", 4 * H), forget_bias=0.5, cell_clip=0.4,
                                       use_peephole=peephole)
        return list(res)
    feeds = {"x": rand((2, IN), "cx"), "h0": BLOCK_FEEDS["h0"], "c0": BLOCK_FEEDS["c0"] * 3}
    _run(build, feeds, "cell")


def test_gru_block_cell():
    def build(x, h0):
        return list(tf.raw_ops.GRUBlockCell(x=x, h_prev=h0, w_ru=_w("wru", IN + H, 2 * H),
                                            w_c=_w("wc", IN + H, H), b_ru=_w("bru", 2 * H),
                                            b_c=_w("bc", H)))
    _run(build, {"x": rand((2, IN), "cx"), "h0": BLOCK_FEEDS["h0"]}, "gru-cell")


# --- Keras RNN layers (TF2 functional While, both Keras generations) ---------------------------

KERAS_STEPS = 20


def _keras(generation: str):
    if generation == "tf_keras":
        import tf_keras as keras
    else:
        import keras
    return keras


def _keras_model(keras, form: str):
    L = keras.layers
    if form == "language-model":  # token ids -> Embedding -> LSTM -> logits over the vocabulary
        inp = keras.Input((None,), dtype="int32", name="x")
        y = L.LSTM(8, return_sequences=True)(L.Embedding(50, 6)(inp))
        model = keras.Model(inp, L.Dense(50)(y))
        r = rng_for(form)
        for v in model.weights:
            v.assign(r.uniform(-0.6, 0.6, tuple(v.shape)).astype(np.float32))
        return model
    time = None if form == "dynamic-time" else KERAS_STEPS
    inp = keras.Input((time, 3), batch_size=None if form in ("lstm", "dynamic-time") else 2,
                      name="x")
    if form in ("lstm", "dynamic-time"):
        y = L.LSTM(8, return_sequences=True)(inp)
    elif form == "gru":
        y = L.GRU(8, return_sequences=True)(inp)
    elif form == "gru-reset-before":
        y = L.GRU(8, return_sequences=True, reset_after=False)(inp)
    elif form == "simple-rnn":
        y = L.SimpleRNN(8, return_sequences=True)(inp)
    elif form == "stacked-return-state":
        seq, h, c = L.LSTM(8, return_sequences=True, return_state=True)(inp)
        last, h2 = L.GRU(6, return_state=True)(seq)
        y = L.Concatenate()([last, h2, h, c])
    elif form == "bidirectional":
        y = L.Bidirectional(L.LSTM(6, return_sequences=True))(inp)
    elif form == "masking":
        y = L.LSTM(8, return_sequences=True)(L.Masking(0.0)(inp))
    else:  # unroll=True: a chain of cells, left unrolled
        y = L.GRU(8, return_sequences=True, unroll=True)(inp)
    model = keras.Model(inp, y)
    r = rng_for(form)
    for v in model.weights:
        v.assign(r.uniform(-0.6, 0.6, tuple(v.shape)).astype(np.float32))
    return model


def _keras_check(generation: str, form: str, tmp_path) -> Counter:
    from pathlib import Path

    from tfconv import pipeline, plugins
    from tfconv.config import ConvertConfig
    from tfconv.translate import translate
    from tfconv_tf_frontend import loader
    from test_ops_control_flow import PM

    keras = _keras(generation)
    model = _keras_model(keras, form)
    x = rand((2, KERAS_STEPS, 3), "keras-x")
    if form == "language-model":
        x = rand((2, KERAS_STEPS), "ids", 0, 50, np.int32)
    if form == "masking":
        x[0, 13:] = 0.0  # padded steps
        x[1, 4:] = 0.0
    expected = np.asarray(model(x))
    path = Path(tmp_path) / "saved_model"
    if generation == "tf_keras":
        tf.saved_model.save(model, str(path))
    else:
        model.export(str(path))
    cfg = ConvertConfig()
    src = loader.load(path, cfg)
    loader.apply_user_io(src, cfg)
    pipeline.run_passes(plugins.passes(PM), src, cfg, "source")
    ir = translate(src, plugins.translators(PM).resolve("tf"), cfg)
    ir.validate()
    ov_model, _ = to_ov_model(ir)
    compiled = CORE.compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    assert np.abs(expected).max() > 0.05
    compare(expected, compiled([x])[compiled.output(0)], 1e-4, f"{generation} {form}")
    if form == "dynamic-time":  # another sequence length, another batch
        x = rand((3, 7, 3), "keras-x7")
        compare(np.asarray(model(x)), compiled([x])[compiled.output(0)], 1e-4, "7 steps")
    return Counter(op.type for op in ir)


KERAS_FORMS = {"lstm": {"LSTMSequence": 1}, "dynamic-time": {"LSTMSequence": 1},
               "language-model": {"LSTMSequence": 1},
               "gru": {"GRUSequence": 1},
               "gru-reset-before": {"GRUSequence": 1}, "simple-rnn": {"RNNSequence": 1},
               "stacked-return-state": {"LSTMSequence": 1, "GRUSequence": 1},
               "bidirectional": {"LSTMSequence": 2}}


@pytest.mark.parametrize("form", list(KERAS_FORMS))
@pytest.mark.parametrize("generation", ["tf_keras", "keras3"])
def test_keras_rnn_layers_become_sequence_ops(generation, form, tmp_path):
    """Keras LSTM (dynamic batch; dynamic batch and time; a language model), GRU (reset_after
    True and False), SimpleRNN, stacked layers with return_state, Bidirectional, from a
    SavedModel: one Sequence op per layer and direction, no Loop (optest also checks each op's
    inferred shapes against OpenVINO's)."""
    ops = _keras_check(generation, form, tmp_path)
    assert {t: ops[t] for t in SEQUENCE_OPS if ops[t]} == KERAS_FORMS[form], ops
    assert not {"Loop", "TensorIterator"} & set(ops), ops


@pytest.mark.parametrize("form", ["masking", "unroll"])
def test_keras_forms_left_to_the_general_path(form, tmp_path):
    """Forms no Sequence op computes as such (a Masking layer keeps the previous output at
    masked steps, not zeros; ``unroll=True`` has no loop) still match TF through the general
    path."""
    ops = _keras_check("tf_keras", form, tmp_path)
    assert not set(SEQUENCE_OPS) & set(ops), ops
