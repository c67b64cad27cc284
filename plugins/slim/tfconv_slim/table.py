"""The spec's table "Supported Non-Frozen Topologies with Links to the Associated Slim Model
Classification Download Files": 18 TF-Slim classification models with the ``--mean_values`` and
``--scale`` that make the IR take raw 0..255 images.

The spec's note: "The mean values are specified as if the input image is read in BGR channels
order layout like Inference Engine classification sample does." So ``TABLE_MEAN_BGR`` lists the
means in the order of a BGR image (B, G, R). Slim nets are trained on RGB images, so the network
itself needs RGB data minus the RGB means; :func:`preprocess_for` turns a row into the values
tfconv applies (reverse channels first, then subtract the means given in the model's RGB order,
then divide by the scale), see ``docs/slim.md``.
"""
from __future__ import annotations

from dataclasses import dataclass

INCEPTION_MEAN = (127.5, 127.5, 127.5)
INCEPTION_SCALE = 127.5
VGG_MEAN_BGR = (103.94, 116.78, 123.68)   # the table's order: B, G, R
VGG_SCALE = 1.0


@dataclass(frozen=True)
class Row:
    """One row of the spec's table."""

    model: str              # the table's "Model Name"
    topology: str           # tfconv's topology key (see topology.py)
    checkpoint: str         # the table's "Slim Model Checkpoint File"
    mean_bgr: tuple[float, float, float]
    scale: float


ROWS: tuple[Row, ...] = (
    Row("Inception v1", "inception_v1", "inception_v1_2016_08_28.tar.gz", INCEPTION_MEAN, INCEPTION_SCALE),
    # the table names the v1 archive for Inception v2 too
    Row("Inception v2", "inception_v2", "inception_v1_2016_08_28.tar.gz", INCEPTION_MEAN, INCEPTION_SCALE),
    Row("Inception v3", "inception_v3", "inception_v3_2016_08_28.tar.gz", INCEPTION_MEAN, INCEPTION_SCALE),
    Row("Inception V4", "inception_v4", "inception_v4_2016_09_09.tar.gz", INCEPTION_MEAN, INCEPTION_SCALE),
    Row("Inception ResNet v2", "inception_resnet_v2", "inception_resnet_v2_2016_08_30.tar.gz",
        INCEPTION_MEAN, INCEPTION_SCALE),
    Row("MobileNet v1 128", "mobilenet_v1_0.25_128", "mobilenet_v1_0.25_128.tgz", INCEPTION_MEAN, INCEPTION_SCALE),
    Row("MobileNet v1 160", "mobilenet_v1_0.5_160", "mobilenet_v1_0.5_160.tgz", INCEPTION_MEAN, INCEPTION_SCALE),
    Row("MobileNet v1 224", "mobilenet_v1_1.0_224", "mobilenet_v1_1.0_224.tgz", INCEPTION_MEAN, INCEPTION_SCALE),
    Row("NasNet Large", "nasnet_large", "nasnet-a_large_04_10_2017.tar.gz", INCEPTION_MEAN, INCEPTION_SCALE),
    Row("NasNet Mobile", "nasnet_mobile", "nasnet-a_mobile_04_10_2017.tar.gz", INCEPTION_MEAN, INCEPTION_SCALE),
    Row("ResidualNet-50 v1", "resnet_v1_50", "resnet_v1_50_2016_08_28.tar.gz", VGG_MEAN_BGR, VGG_SCALE),
    Row("ResidualNet-50 v2", "resnet_v2_50", "resnet_v2_50_2017_04_14.tar.gz", VGG_MEAN_BGR, VGG_SCALE),
    Row("ResidualNet-101 v1", "resnet_v1_101", "resnet_v1_101_2016_08_28.tar.gz", VGG_MEAN_BGR, VGG_SCALE),
    Row("ResidualNet-101 v2", "resnet_v2_101", "resnet_v2_101_2017_04_14.tar.gz", VGG_MEAN_BGR, VGG_SCALE),
    Row("ResidualNet-152 v1", "resnet_v1_152", "resnet_v1_152_2016_08_28.tar.gz", VGG_MEAN_BGR, VGG_SCALE),
    Row("ResidualNet-152 v2", "resnet_v2_152", "resnet_v2_152_2017_04_14.tar.gz", VGG_MEAN_BGR, VGG_SCALE),
    Row("VGG-16", "vgg_16", "vgg_16_2016_08_28.tar.gz", VGG_MEAN_BGR, VGG_SCALE),
    Row("VGG-19", "vgg_19", "vgg_19_2016_08_28.tar.gz", VGG_MEAN_BGR, VGG_SCALE),
)

BY_TOPOLOGY: dict[str, Row] = {row.topology: row for row in ROWS}


def row_for(topology: str) -> Row | None:
    """The table row of a recognised topology; MobileNet v1 at a width/size the table does not
    list takes the MobileNet v1 values (the three rows agree), as does any other variant whose
    family has one set of values in the table."""
    if topology in BY_TOPOLOGY:
        return BY_TOPOLOGY[topology]
    family = topology.split("_")[0]
    if topology.startswith("mobilenet_v1"):
        return BY_TOPOLOGY["mobilenet_v1_1.0_224"]
    if family == "nasnet":
        return BY_TOPOLOGY["nasnet_mobile"]
    return None


def _fmt(value: float) -> str:
    return f"{value:g}"


def fmt_values(values) -> str:
    """``[103.94,116.78,123.68]``: the spelling the command line takes."""
    return "[" + ",".join(_fmt(v) for v in values) + "]"


@dataclass(frozen=True)
class Preprocess:
    """What the IR must do to a raw 0..255 image so the network sees Slim's preprocessing:
    ``x_model = (reverse(x) if reverse_input_channels else x) - mean_values) / scale_values``,
    the means and scales in the model's (RGB) channel order."""

    mean_values: tuple[float, float, float]
    scale_values: tuple[float, float, float]
    reverse_input_channels: bool
    input_order: str          # "BGR" or "RGB": what the IR is fed

    def flags(self) -> tuple[str, ...]:
        out: tuple[str, ...] = ("--reverse_input_channels",) if self.reverse_input_channels else ()
        out += ("--mean_values", fmt_values(self.mean_values))
        if len(set(self.scale_values)) == 1:
            out += ("--scale", _fmt(self.scale_values[0]))
        else:
            out += ("--scale_values", fmt_values(self.scale_values))
        return out


def preprocess_for(row: Row, input_order: str = "BGR") -> Preprocess:
    """The embedded preprocessing for ``row`` when the IR is fed ``input_order`` images.

    The table's means are in BGR order for a BGR image (its note). The network was trained on
    RGB, so a BGR image must be reversed to RGB; tfconv (like the Model Optimizer) reverses
    *before* subtracting, so the means are given in the model's RGB order: the table's values
    reversed. An RGB image needs no reversal and the same RGB-order means."""
    order = input_order.upper()
    if order not in ("BGR", "RGB"):
        msg = f"input order must be BGR or RGB, not {input_order!r}"
        raise ValueError(msg)
    mean_rgb = tuple(reversed(row.mean_bgr))
    return Preprocess(mean_rgb, (row.scale,) * 3, order == "BGR", order)  # type: ignore[arg-type]
