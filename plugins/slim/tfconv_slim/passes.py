"""Source passes of the Slim plugin.

* ``slim.recognise_topology``: names the Slim net (``topology.recognise``), logs the spec's
  mean/scale for it (a WARNING when the user gave no preprocessing flags, else INFO) and, with
  ``--slim_preprocessing [BGR|RGB]``, sets ``graph.meta["preprocess"]`` for the IR backend's
  preprocessing pass.
* ``slim.drop_aux_logits``: when no ``--output`` is given, the auxiliary classifier
  (``AuxLogits``, NASNet's ``aux_N``), which a Slim inference graph keeps as a second sink, is not
  a model output; the dead-code cleanup then removes its branch.

* ``slim.unwrap_predictions`` (IR stage): the Reshapes around Slim's ``Predictions`` softmax
  are identities on 2-D logits; removing them gives the output a static class dimension.

Everything else an exported Slim inference graph carries in eval mode is handled generically:
dropout is an Identity (``is_training=False``) and the ``SpatialSqueeze`` defines the output's
rank.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tfconv.errors import UsageError
from tfconv.graph import Graph
from tfconv.passes import graph_pass

from . import topology

if TYPE_CHECKING:
    from . import table

# The spec's table (table.py) is imported once a Slim net is recognised (2 ms of start-up).

log = logging.getLogger("tfconv.slim")

DEAD_CLEANUP = "cleanup.remove_dead_source"
META_KEY = "slim_topology"
# ConvertConfig fields / options through which the user gives preprocessing flags (the
# preprocessing flags are built by the IR backend's owner; either spelling is accepted).
USER_FLAGS = ("mean_values", "scale_values", "scale", "reverse_input_channels")


def user_preprocessing_flags(config) -> list[str]:
    """The preprocessing flags the user gave (``--mean_values`` ...), as flag names."""
    spec = getattr(config, "preprocess", None)   # tfconv.config.Preprocessing
    if spec is not None and not isinstance(spec, dict):
        given = []
        if getattr(spec, "reverse_input_channels", False):
            given.append("--reverse_input_channels")
        if getattr(spec, "mean", None):
            given.append("--mean_values")
        if getattr(spec, "scale", None):
            given.append("--scale/--scale_values")
        return given
    given = []
    for key in USER_FLAGS:
        value = getattr(config, key, None)
        if value in (None, False, (), [], {}, ""):
            value = config.options.get(key)
        if value not in (None, False, (), [], {}, ""):
            given.append(f"--{key}")
    return given


def requested_order(config) -> str | None:
    """``--slim_preprocessing`` as ``"BGR"``/``"RGB"``, or None when not given."""
    value = config.options.get("slim_preprocessing")
    if value in (None, False, "", "False", "false"):
        return None
    if value is True or str(value).lower() in ("true", "1"):
        return "BGR"
    order = str(value).upper()
    if order not in ("BGR", "RGB"):
        msg = f"--slim_preprocessing takes BGR (the default) or RGB, the channel order of the images the IR will be fed, not {value!r}"
        raise UsageError(msg)
    return order


def arithmetic(pre: table.Preprocess) -> str:
    """The exact computation the IR embeds, as one line."""
    from . import table
    x = "x_bgr[..., ::-1]" if pre.reverse_input_channels else f"x_{pre.input_order.lower()}"
    return (f"x_model = ({x} - {table.fmt_values(pre.mean_values)}) / "
            f"{table.fmt_values(pre.scale_values)}")


def advice(topo: topology.Topology) -> str | None:
    """The spec's values for ``topo`` and the flags that implement them, one message."""
    from . import table
    row = table.row_for(topo.key)
    if row is None:
        return None
    bgr, rgb = table.preprocess_for(row, "BGR"), table.preprocess_for(row, "RGB")
    return (f"the spec's preprocessing for it is --mean_values {table.fmt_values(row.mean_bgr)} "
            f"--scale {row.scale:g} (means in BGR order, for BGR input): for BGR 0..255 images "
            f"add {' '.join(bgr.flags())} (for RGB images: {' '.join(rgb.flags())}), "
            "or --slim_preprocessing [BGR|RGB]")


@graph_pass("slim.recognise_topology", stage="source", before=[DEAD_CLEANUP, "slim.drop_aux_logits"],
            after=["tf_frontend.remove_training_ops", "tf_frontend.fold_constant_switches"])
def recognise_topology(graph: Graph, config) -> None:
    order = requested_order(config)
    topo = topology.recognise(graph)
    if topo is None:
        if order:
            msg = ("--slim_preprocessing: the model is not a TF-Slim classification net of the "
                   "spec's table (no InceptionV1-V4, InceptionResnetV2, MobilenetV1, NASNet, "
                   "resnet_v1/v2 or vgg_16/19 scopes found); give --mean_values and --scale "
                   "yourself")
            raise UsageError(msg)
        return
    graph.meta[META_KEY] = topo.key
    from . import table
    row = table.row_for(topo.key)
    given = user_preprocessing_flags(config)
    if order is None:
        text = advice(topo)
        if text is None:
            log.info("%s recognised (%s); the spec's table gives no mean/scale for it",
                     topo.title, "; ".join(topo.evidence))
        elif given:
            log.info("%s recognised; %s", topo.title, text)
        else:
            log.warning("%s recognised; %s", topo.title, text)
        return
    if row is None:
        msg = (f"--slim_preprocessing: {topo.title} is recognised but the spec's Slim table has "
               "no mean/scale for it; give --mean_values and --scale yourself")
        raise UsageError(msg)
    if given:
        msg = (f"--slim_preprocessing sets the preprocessing from the spec's table; it cannot be "
               f"combined with {', '.join(given)}: drop one or the other")
        raise UsageError(msg)
    pre = table.preprocess_for(row, order)
    graph.meta["preprocess"] = {
        "mean_values": list(pre.mean_values),
        "scale_values": list(pre.scale_values),
        "reverse_input_channels": pre.reverse_input_channels,
        "source": f"slim:{topo.key}",
    }
    log.info("%s recognised; --slim_preprocessing %s embeds the spec's preprocessing (%s): %s",
             topo.title, order, row.model, arithmetic(pre))


@graph_pass("slim.drop_aux_logits", stage="source", before=[DEAD_CLEANUP],
            after=["tf_frontend.remove_training_ops", "tf_frontend.fold_constant_switches"])
def drop_aux_logits(graph: Graph, config) -> None:
    if config.outputs or META_KEY not in graph.meta:
        return  # asked outputs are kept whatever they are
    aux = topology.aux_outputs(graph)
    if not aux or len(aux) == len(graph.outputs):
        return
    graph.outputs = [p for p in graph.outputs if p not in aux]
    log.info("Slim auxiliary classifier output(s) dropped (name them in --output to keep them): %s",
             ", ".join(p.node for p in aux))


def _const_value(graph: Graph, port):
    op = graph.op(port.node)
    return op.attrs.get("value") if op.type == "Const" else None


@graph_pass("slim.unwrap_predictions", stage="ir",
            before=["ir_backend.fold_reshape_shapes", "cleanup.remove_dead_ir"])
def unwrap_predictions(graph: Graph, config) -> None:
    """Slim's ``Predictions`` softmax reshapes the logits to ``[-1, C]`` and the result back to
    ``Shape(logits)``. On 2-D logits both Reshapes are identities, but the ShapeOf leaves the
    output's shape unknown (``[?,?]`` with a dynamic batch): the SoftMax reads the logits
    directly and takes over the output's tensor names."""
    for r2 in graph.ops_of_type("Reshape"):
        ins = graph.inputs(r2.name)
        if len(ins) != 2:
            continue
        sm, shape_of = graph.op(ins[0].node), graph.op(ins[1].node)
        if sm.type not in ("SoftMax", "Softmax") or shape_of.type != "ShapeOf":
            continue
        (x,) = graph.inputs(shape_of.name)[:1] or (None,)
        r1_port = graph.inputs(sm.name)[0]
        r1 = graph.op(r1_port.node)
        if x is None or r1.type != "Reshape" or graph.inputs(r1.name)[0] != x:
            continue
        shape = graph.info(x).shape
        target = _const_value(graph, graph.inputs(r1.name)[1])
        if (shape is None or len(shape) != 2 or shape[1] is None or target is None
                or [int(v) for v in target.reshape(-1)][1:] != [shape[1]]
                or sm.attrs.get("axis", -1) not in (-1, 1)
                or len(graph.consumers(r1_port)) != 1):
            continue
        graph.set_input(sm.name, 0, x)
        out = sm.outputs[0]
        out.shape = tuple(shape)
        for name in graph.info(type(x)(r2.name, 0)).names:
            if name not in out.names:
                out.names.append(name)
        graph.replace_uses(type(x)(r2.name, 0), type(x)(sm.name, 0))
        log.info("Slim %s: the Reshapes around the softmax are identities on %s logits; removed",
                 r2.name, list(shape))


ALL_PASSES = (recognise_topology, drop_aux_logits, unwrap_predictions)
