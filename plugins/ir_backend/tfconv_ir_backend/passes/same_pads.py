"""Explicit SAME pads where OpenVINO's CPU plugin would compute them from the wrong tensor.

A TF SAME window (stride > 1) over a spatial size known only at run time is translated to
``auto_pad=same_upper``. By the opset specification the pads are computed from the op's own
input. OpenVINO's CPU plugin (2026.4) folds a zero ``Pad`` feeding such a convolution into it
and then computes the same_upper pads from the *unpadded* tensor: a 9x7 input padded by 1/2
and convolved 3x3 with stride 2 gives 5x5 instead of TF's 6x6.

``ir_backend.explicit_same_pads`` keeps the IR one the runtime computes right: where a
constant zero Pad feeds a same_upper/same_lower Convolution or GroupConvolution, the SAME pads
are computed in the graph from the padded size (ShapeOf arithmetic), added to the Pad's own,
and the convolution becomes ``explicit`` with zero pads. The merged Pad's pads are not
constant, so no runtime folds it into the convolution on a wrong assumption.
"""
from __future__ import annotations

import numpy as np

from tfconv.graph import Graph, Port
from tfconv.passes import graph_pass
from tfconv.translate import IRBuilder

from .fusion import CONVS, _const

I64 = np.int64


def _same_pads(b: IRBuilder, x: Port, begin: np.ndarray, end: np.ndarray, kernel: list[int],
               strides: list[int], dilations: list[int], mode: str, name: str) -> tuple[Port, Port]:
    """Run-time SAME pads (begin, end) of the spatial dims of ``Pad(x, begin, end)``."""
    rank = len(begin)
    spatial = list(range(2, rank))
    size = b.emit("Gather", [b.emit("ShapeOf", [x], f"{name}/shape", {"output_type": "int64"})[0],
                             b.const(np.array(spatial, I64), f"{name}/spatial_axes"),
                             b.const(np.array(0, I64), f"{name}/axis0")],
                  f"{name}/spatial", {"batch_dims": 0})[0]
    padded = b.emit("Add", [size, b.const((begin + end)[2:].astype(I64), f"{name}/user_pads")],
                    f"{name}/padded_size")[0]
    s = np.array(strides, I64)
    window = np.array([(k - 1) * d + 1 for k, d in zip(kernel, dilations)], I64)
    # out = ceil(n / s); total = max((out - 1) * s + window - n, 0)
    out = b.emit("Divide", [b.emit("Add", [padded, b.const(s - 1, f"{name}/s_minus_1")],
                                   f"{name}/n_plus")[0], b.const(s, f"{name}/strides")],
                 f"{name}/out_size")[0]
    covered = b.emit("Add", [b.emit("Multiply", [out, b.const(s, f"{name}/strides_")],
                                    f"{name}/out_times_s")[0],
                             b.const(window - s, f"{name}/window_minus_s")], f"{name}/covered")[0]
    total = b.emit("Maximum", [b.emit("Subtract", [covered, padded], f"{name}/excess")[0],
                               b.const(np.zeros(len(spatial), I64), f"{name}/zeros")],
                   f"{name}/total")[0]
    half = b.emit("Divide", [total, b.const(np.full(len(spatial), 2, I64), f"{name}/two")],
                  f"{name}/half")[0]
    rest = b.emit("Subtract", [total, half], f"{name}/rest")[0]
    lo, hi = (half, rest) if mode == "same_upper" else (rest, half)

    def full(extra: Port, user: np.ndarray, tag: str) -> Port:
        spatial_pads = b.emit("Add", [extra, b.const(user[2:].astype(I64), f"{name}/{tag}_user")],
                              f"{name}/{tag}_spatial")[0]
        return b.emit("Concat", [b.const(user[:2].astype(I64), f"{name}/{tag}_nc"), spatial_pads],
                      f"{name}/{tag}", {"axis": 0})[0]

    return full(lo, begin, "pads_begin"), full(hi, end, "pads_end")


@graph_pass("ir_backend.explicit_same_pads", stage="ir",
            after=["ir_backend.fuse_pad", "ir_backend.sink_transposes"])
def explicit_same_pads(graph: Graph, config) -> None:
    """Zero Pad -> Convolution(auto_pad=same_*) with dynamic spatial dims: one Pad with run-time
    pads (the Pad's plus SAME's) and an explicit convolution."""
    b = IRBuilder(graph)
    for conv in list(graph.ops_of_type(*CONVS)):
        mode = conv.attrs.get("auto_pad")
        if mode not in ("same_upper", "same_lower"):
            continue
        src = graph.inputs(conv.name)[0]
        pad = graph.op(src.node)
        if pad.type != "Pad" or pad.attrs.get("pad_mode", "constant") != "constant":
            continue
        ins = graph.inputs(pad.name)
        begin, end = _const(graph, ins[1]), _const(graph, ins[2])
        fill = _const(graph, ins[3]) if len(ins) > 3 else np.zeros(())
        if begin is None or end is None or fill is None or np.any(fill != 0):
            continue
        weights = graph.info(graph.inputs(conv.name)[1]).shape
        if weights is None:
            continue
        kernel = [int(k) for k in weights[-(len(begin) - 2):]]
        pb, pe = _same_pads(b, ins[0], begin.reshape(-1).astype(I64), end.reshape(-1).astype(I64),
                            kernel, list(conv.attrs["strides"]), list(conv.attrs["dilations"]),
                            mode, conv.name + "/same_pads")
        merged = b.emit("Pad", [ins[0], pb, pe, ins[3] if len(ins) > 3 else
                                b.const(np.zeros((), graph.info(ins[0]).dtype), f"{pad.name}/zero")],
                        f"{pad.name}/with_same", {"pad_mode": "constant"})[0]
        conv.attrs["auto_pad"] = "explicit"
        conv.attrs["pads_begin"] = [0] * len(kernel)
        conv.attrs["pads_end"] = [0] * len(kernel)
        graph.set_input(conv.name, 0, merged)
        b.reinfer(conv.name)
        if not graph.consumers(Port(pad.name)):
            graph.remove(pad.name)
