"""Recognising TF-Slim classification topologies from a source graph's scopes and structure.

Slim builds every net under a root variable scope (``InceptionV3/Mixed_5b/...``,
``resnet_v1_50/block1/unit_1/...``, ``MobilenetV1/Conv2d_0``, ``vgg_16/conv1/conv1_1``); NASNet
and PNASNet have no root scope but ``cell_stem_0``, ``cell_N`` and (NASNet only)
``reduction_cell_N`` scopes. The root scope names the family; the structure then decides what
the name alone cannot (ResNet depth from the units per block, VGG depth from its convolutions,
MobileNet v1 width from its first convolution, NASNet/PNASNet size from the number of cells)
and overrides a root scope that disagrees with it (a net exported under another scope name).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from tfconv.graph import Graph

CONV_TYPES = {"Conv2D", "DepthwiseConv2dNative", "MatMul", "Conv2DBackpropInput"}

# root scope -> family
ROOTS = {
    "InceptionV1": "inception_v1",
    "InceptionV2": "inception_v2",
    "InceptionV3": "inception_v3",
    "InceptionV4": "inception_v4",
    "InceptionResnetV2": "inception_resnet_v2",
    "MobilenetV1": "mobilenet_v1",
    "MobilenetV2": "mobilenet_v2",
    "alexnet_v2": "alexnet_v2",
    "vgg_16": "vgg",
    "vgg_19": "vgg",
    "vgg_a": "vgg",
}
_RESNET_ROOT = re.compile(r"^resnet_v([12])(?:_(\d+))?$")
# units in block1..block4 -> depth (Slim's resnet_v1/v2 bottleneck nets)
RESNET_DEPTHS = {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152, (3, 24, 36, 3): 200}
# convolutions of conv1..conv5 -> VGG depth (fc6..fc8 are three more)
VGG_DEPTHS = {8: "vgg_a", 13: "vgg_16", 16: "vgg_19"}
_UNIT = re.compile(r"(?:^|/)block(\d+)/unit_(\d+)/")
_VGG_CONV = re.compile(r"(?:^|/)conv(\d)/conv\d_\d+/")
_CELL = re.compile(r"(?:^|/)(cell_stem_\d+|cell_\d+|reduction_cell_\d+)/")
_AUX = re.compile(r"(?:^|/)(AuxLogits|aux_\d+)(?:/|$)")


@dataclass(frozen=True)
class Topology:
    """A recognised Slim net: ``key`` is the table's topology key (``resnet_v1_50``,
    ``mobilenet_v1_0.25_128``, ``nasnet_mobile``), ``scope`` the root scope (empty for
    NASNet/PNASNet), ``evidence`` the facts that decided it, one line each."""

    key: str
    family: str
    scope: str
    evidence: tuple[str, ...]

    @property
    def title(self) -> str:
        return f"Slim {self.key}"


def _parts(name: str) -> list[str]:
    """Scope components of an op name; Slim's doubled root (``InceptionV3/InceptionV3/...``,
    made by arg scopes that re-enter the net's scope) counts once, and an import prefix
    (``import/``) is skipped when the next component is a known root."""
    parts = name.split("/")
    if len(parts) > 2 and parts[0] not in ROOTS and not _RESNET_ROOT.match(parts[0]) and (
            parts[1] in ROOTS or _RESNET_ROOT.match(parts[1])):
        parts = parts[1:]
    if len(parts) > 1 and parts[0] == parts[1]:
        parts = parts[1:]
    return parts


def _backbone_of_another_model(graph: Graph, name: str, start: int) -> bool:
    """A Slim net nested in another model's scope (an Object Detection API
    ``FeatureExtractor/MobilenetV2``) whose outputs lie elsewhere is that model's backbone,
    not a Slim classifier; ``start`` is where the net's own scope begins in ``name``."""
    if start == 0 or not graph.outputs:
        return False
    prefix = name[:start].split("/")[0]
    return not any(p.node.split("/")[0] == prefix for p in graph.outputs)


def _root_counts(graph: Graph) -> Counter:
    """Root scope -> number of convolutions / matmuls under it, for known Slim roots."""
    counts: Counter = Counter()
    for op in graph:
        if op.type not in CONV_TYPES:
            continue
        parts = _parts(op.name)
        nested = len(op.name.split("/")) - len(parts)
        if nested and op.name.split("/")[0] != parts[0] and _backbone_of_another_model(
                graph, op.name, len(op.name.split("/")[0]) + 1):
            continue
        if len(parts) > 1 and (parts[0] in ROOTS or _RESNET_ROOT.match(parts[0])):
            counts[parts[0]] += 1
    return counts


def _conv_kernel_shape(graph: Graph, op) -> tuple | None:
    ins = graph.inputs(op.name)
    if len(ins) < 2:
        return None
    port = ins[1]
    for _ in range(8):  # through the Identity / ReadVariableOp of frozen variables
        src = graph.op(port.node)
        if src.type == "Const" and src.value is not None:
            return tuple(src.value.shape)
        if src.type not in ("Identity", "ReadVariableOp") or not graph.inputs(src.name):
            break
        port = graph.inputs(src.name)[0]
    return graph.info(ins[1]).shape


def _input_hw(graph: Graph) -> tuple[int | None, int | None]:
    for name in graph.meta.get("inputs", []) or []:
        if name not in graph:
            continue
        op = graph.op(name)
        shape = op.outputs[0].shape
        if shape is None:  # before shape inference: the Placeholder's own shape attribute
            shape = op.attrs.get("shape")
        if shape is not None and len(shape) == 4 and shape[3] == 3:
            return shape[1], shape[2]
    return None, None


def _fmt_multiplier(m: float) -> str:
    text = f"{m:g}"
    return text if "." in text else f"{text}.0"


def _resnet(graph: Graph, root: str) -> Topology:
    units: dict[int, set[int]] = {}
    preact = False
    for op in graph:
        parts = _parts(op.name)
        if not parts or parts[0] != root:
            continue
        path = "/".join(parts)
        m = _UNIT.search(path)
        if m:
            units.setdefault(int(m[1]), set()).add(int(m[2]))
        if "/preact/" in path or "/postnorm/" in path:
            preact = True
    counts = tuple(len(units.get(b, ())) for b in sorted(units)) if units else ()
    version = "2" if preact else "1"
    evidence = [f"root scope {root!r}"]
    depth = RESNET_DEPTHS.get(counts)
    named = _RESNET_ROOT.match(root)
    if counts:
        evidence.append("units per block " + "/".join(map(str, counts)) +
                        (f" (ResNet-{depth})" if depth else ""))
        if depth is None:
            depth = 2 + 3 * sum(counts)    # bottleneck units: 3 convolutions each
    elif named and named[2]:
        depth = int(named[2])
    evidence.append("pre-activation units (preact/postnorm scopes): v2" if preact
                    else "no preact/postnorm scopes: v1")
    key = f"resnet_v{version}_{depth}" if depth else f"resnet_v{version}"
    if named and (named[1] != version or (named[2] and depth and int(named[2]) != depth)):
        evidence.append(f"the structure overrides the scope name {root!r}")
    return Topology(key, f"resnet_v{version}", root, tuple(evidence))


def _vgg(graph: Graph, root: str) -> Topology:
    convs = 0
    for op in graph:
        if op.type != "Conv2D":
            continue
        parts = _parts(op.name)
        if parts and parts[0] == root and _VGG_CONV.search("/".join(parts)):
            convs += 1
    key = VGG_DEPTHS.get(convs, root)
    evidence = [f"root scope {root!r}", f"{convs} convolutions in conv1..conv5"]
    if key != root:
        evidence.append(f"the structure overrides the scope name {root!r}")
    return Topology(key, "vgg", root, tuple(evidence))


def _mobilenet_v1(graph: Graph, root: str) -> Topology:
    evidence = [f"root scope {root!r}"]
    multiplier = None
    layers = set()
    for op in graph:
        parts = _parts(op.name)
        if not parts or parts[0] != root or len(parts) < 2:
            continue
        if re.fullmatch(r"Conv2d_\d+(_pointwise|_depthwise)?", parts[1]):
            layers.add(parts[1].split("_")[1])
        if op.type == "Conv2D" and parts[1] == "Conv2d_0" and multiplier is None:
            shape = _conv_kernel_shape(graph, op)
            if shape and shape[-1]:
                multiplier = shape[-1] / 32.0
    evidence.append(f"{len(layers)} convolution layers Conv2d_0..Conv2d_{max(map(int, layers), default=0)}")
    h, w = _input_hw(graph)
    key = "mobilenet_v1"
    if multiplier is not None:
        key += "_" + _fmt_multiplier(multiplier)
        evidence.append(f"Conv2d_0 has {int(32 * multiplier)} filters: depth multiplier "
                        f"{_fmt_multiplier(multiplier)}")
        if h is not None and h == w:
            key += f"_{h}"
            evidence.append(f"input {h}x{w}")
    return Topology(key, "mobilenet_v1", root, tuple(evidence))


def _nasnet(graph: Graph) -> Topology | None:
    cells: set[str] = set()
    for op in graph:
        m = _CELL.search(op.name + "/")
        if m and not _backbone_of_another_model(graph, op.name, m.start(1)):
            cells.add(m[1])
    stems = sorted(c for c in cells if c.startswith("cell_stem_"))
    reductions = sorted(c for c in cells if c.startswith("reduction_cell_"))
    normal = sorted(c for c in cells if re.fullmatch(r"cell_\d+", c))
    if not stems or not normal:
        return None
    evidence = [f"{len(stems)} stem cell(s), {len(normal)} cells, {len(reductions)} reduction "
                "cell(s), no root scope"]
    if reductions:
        # NASNet-A: mobile has 12 normal cells (4 per stack), large 18 (6 per stack)
        size = "mobile" if len(normal) <= 12 else "large"
        evidence.append(f"reduction_cell scopes: NASNet-A; {len(normal)} cells: {size}")
        return Topology(f"nasnet_{size}", "nasnet", "", tuple(evidence))
    # PNASNet-5: mobile has 9 cells, large 12; its reductions are strided cells
    size = "mobile" if len(normal) <= 9 else "large"
    evidence.append(f"no reduction_cell scopes: PNASNet; {len(normal)} cells: {size}")
    return Topology(f"pnasnet_{size}", "pnasnet", "", tuple(evidence))


def recognise(graph: Graph) -> Topology | None:
    """The Slim topology of ``graph``, or ``None`` when it is not a Slim classification net."""
    counts = _root_counts(graph)
    if counts:
        root, n = counts.most_common(1)[0]
        if n >= 3:
            resnet = _RESNET_ROOT.match(root)
            if resnet:
                return _resnet(graph, root)
            family = ROOTS[root]
            if family == "vgg":
                return _vgg(graph, root)
            if family == "mobilenet_v1":
                return _mobilenet_v1(graph, root)
            blocks = sorted({p[1] for p in (_parts(op.name) for op in graph)
                             if len(p) > 2 and p[0] == root and p[1].startswith(("Mixed_", "Repeat", "expanded_conv"))})
            evidence = [f"root scope {root!r}", f"{n} convolution/matmul ops under it"]
            if blocks:
                evidence.append(f"{len(blocks)} blocks ({blocks[0]} .. {blocks[-1]})")
            return Topology(family, family, root, tuple(evidence))
    return _nasnet(graph)


def aux_outputs(graph: Graph) -> list:
    """Graph outputs inside an auxiliary classifier (``AuxLogits``, NASNet's ``aux_N``)."""
    return [p for p in graph.outputs if _AUX.search(p.node)]
