"""``tfconv classify MODEL.xml IMAGE...``: the Inference Engine's classification sample."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from tfconv.errors import UsageError

from . import images, runtime


def image_input(model, command: str, any_size: bool = False):
    """The model's one 4-D input: (port, layout, height, width); with ``any_size`` a dynamic
    height/width is returned as None (the caller feeds the image at its own size)."""
    inputs = list(model.inputs)
    shapes = [runtime.partial_shape(p) for p in inputs]
    four = [(p, s) for p, s in zip(inputs, shapes) if s is not None and len(s) == 4]
    if len(inputs) != 1 or not four:
        listing = ", ".join(f"{runtime.port_name(p)} {list(s) if s else '?'}"
                            for p, s in zip(inputs, shapes))
        msg = (f"tfconv {command} needs an IR with one 4-D image input; this one has "
               f"{len(inputs)} input(s): {listing}")
        raise UsageError(msg)
    port, shape = four[0]
    layout = runtime.image_layout(shape)
    height, width = images.image_size(shape, layout)
    if (height is None or width is None) and not any_size:
        msg = (f"input {runtime.port_name(port)} has a dynamic image size {list(shape)}; "
               "convert with --input_shape to fix it (e.g. [1,224,224,3])")
        raise UsageError(msg)
    return port, layout, height, width


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def probabilities(scores: np.ndarray) -> np.ndarray:
    """The scores as they are when they already are probabilities, else their softmax."""
    s = scores.astype(np.float64)
    if s.min() >= 0 and abs(s.sum() - 1) < 1e-3:
        return s
    return softmax(s)


def label_of(labels: list[str], class_id: int) -> str:
    return labels[class_id] if 0 <= class_id < len(labels) else ""


@click.command("classify")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("image", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--labels", type=click.Path(path_type=Path),
              help="Label file: line N (counting from 0) names class id N.")
@click.option("--top", "-nt", default=5, show_default=True, type=click.IntRange(min=1),
              help="How many classes to print per image.")
@click.option("--rgb", is_flag=True, help="Feed RGB (default BGR, like the Inference Engine samples).")
@click.option("--device", "-d", default="CPU", show_default=True, help="OpenVINO device.")
@click.option("--extension", multiple=True, metavar="EXT",
              help="OpenVINO extension for custom IR layers: a library (.so) or a Python module (dotted name or .py file) with an OPENVINO_EXTENSIONS list of openvino.Op classes; repeatable, or comma separated.")
def classify(model: Path, image: tuple[Path, ...], labels: Path | None, top: int, rgb: bool,
             device: str, extension: tuple[str, ...] = ()) -> None:
    """Classify images with an IR: the top classes of each image with their probabilities.

    Each image is resized (bilinear) to the IR's input size and fed as 0..255 pixels, BGR unless
    --rgb, in the IR's layout (NCHW or NHWC). Scores that are not probabilities already are
    shown through a softmax."""
    images.pillow("classify")
    names = images.read_labels(labels)
    runtime.load_extensions(extension, "classify")
    ov_model = runtime.read_ir(model, "classify")
    port, layout, height, width = image_input(ov_model, "classify")
    pictures = [images.open_image(p, "classify") for p in image]
    shape = runtime.partial_shape(port)
    if shape[0] != 1:
        ov_model.reshape({port: [1, *shape[1:]]})
    compiled = runtime.compile_model(ov_model, "classify", device)
    dtype = runtime.numpy_dtype(port)
    if len(compiled.outputs) < 1:
        raise UsageError(f"{model} has no outputs")
    out = compiled.outputs[0]
    for path, picture in zip(image, pictures):
        x = images.to_tensor([images.resize(picture, width, height)], layout, dtype, bgr=not rgb)
        scores = np.asarray(compiled([x])[out]).reshape(-1)
        probs = probabilities(scores)
        order = np.argsort(-probs, kind="stable")[:top]
        click.echo(f"Image {path}\n")
        click.echo("classid probability" + (" label" if names else ""))
        click.echo("------- -----------" + (" -----" if names else ""))
        for class_id in order:
            label = f" {label_of(names, int(class_id))}" if names else ""
            click.echo(f"{int(class_id):>7} {probs[class_id]:>11.7f}{label}")
        click.echo("")
