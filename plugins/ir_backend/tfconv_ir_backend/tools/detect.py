"""``tfconv detect MODEL.xml IMAGE --out result.png``: the Inference Engine's object detection
sample. Reads either output style: a DetectionOutput ``[1,1,N,7]`` (image_id, label, confidence,
xmin, ymin, xmax, ymax, normalised) or the TF Object Detection API's ``detection_boxes``
``[1,N,4]`` (ymin, xmin, ymax, xmax, normalised), ``detection_scores``, ``detection_classes``
and ``num_detections``."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from tfconv.errors import OutputError, UsageError

from . import images, runtime
from .classify import image_input, label_of

PALETTE = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255),
           (255, 128, 0), (128, 0, 255)]


def box_colour(class_id: int) -> tuple[int, int, int]:
    """The colour the boxes of ``class_id`` are drawn in."""
    return PALETTE[int(class_id) % len(PALETTE)]


@dataclass(frozen=True)
class Detection:
    class_id: int
    score: float
    box: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax, normalised


def _named(outputs: dict[str, np.ndarray], word: str) -> np.ndarray | None:
    for name, value in outputs.items():
        if word in name:
            return value
    return None


def parse_detections(outputs: dict[str, np.ndarray]) -> list[Detection] | None:
    """Detections (every one, unfiltered) of the first image from the IR's outputs (tensor name
    -> value), or ``None`` when no output has a detection layout."""
    for value in outputs.values():
        if value.ndim == 4 and value.shape[:2] == (1, 1) and value.shape[3] == 7:
            found = []
            for row in value.reshape(-1, 7):
                if row[0] < 0:
                    break
                if row[0] == 0:
                    found.append(Detection(int(row[1]), float(row[2]), tuple(map(float, row[3:7]))))
            return found
    boxes = _named(outputs, "detection_boxes")
    scores = _named(outputs, "detection_scores")
    if boxes is None or scores is None:
        shaped = [v for v in outputs.values() if v.ndim == 3 and v.shape[-1] == 4]
        boxes = shaped[0] if boxes is None and len(shaped) == 1 else boxes
        if boxes is not None and scores is None:
            two = [v for v in outputs.values() if v.ndim == 2 and v.shape == boxes.shape[:2]]
            scores = two[0] if two else None
    if boxes is None or scores is None:
        return None
    classes = _named(outputs, "detection_classes")
    count = _named(outputs, "num_detections")
    n = boxes.shape[1] if count is None else int(np.asarray(count).reshape(-1)[0])
    found = []
    for i in range(min(n, boxes.shape[1])):
        ymin, xmin, ymax, xmax = (float(v) for v in boxes[0, i])
        cls = int(classes[0, i]) if classes is not None else 1
        found.append(Detection(cls, float(scores[0, i]), (xmin, ymin, xmax, ymax)))
    return found


def pixel_box(det: Detection, width: int, height: int) -> tuple[int, int, int, int]:
    """The box in pixels of an image of ``width`` x ``height``, clipped to it."""
    xmin, ymin, xmax, ymax = det.box
    clip = lambda v, hi: int(round(min(max(v, 0.0), 1.0) * (hi - 1)))  # noqa: E731
    return clip(xmin, width), clip(ymin, height), clip(xmax, width), clip(ymax, height)


def draw(picture, detections: list[Detection], labels: list[str]):
    """A copy of ``picture`` with each detection's box (and its label and score) drawn on it."""
    from PIL import ImageDraw
    out = picture.copy()
    pen = ImageDraw.Draw(out)
    width, height = out.size
    line = max(2, round(min(width, height) / 150))
    for det in detections:
        x0, y0, x1, y1 = pixel_box(det, width, height)
        colour = box_colour(det.class_id)
        pen.rectangle([x0, y0, x1, y1], outline=colour, width=line)
        text = f"{label_of(labels, det.class_id) or det.class_id} {det.score:.2f}"
        pen.text((x0 + line + 1, y0 + line + 1), text, fill=colour)
    return out


def save_atomically(picture, out: Path) -> None:
    """Write the image in the format its suffix names; nothing is left behind on failure."""
    from PIL import Image
    ext = out.suffix.lower()
    if ext not in Image.registered_extensions():
        msg = f"--out {out}: unknown image format {ext or '(no suffix)'!r}; use .png, .jpg or .bmp"
        raise UsageError(msg)
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: the directory {out.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}-", suffix=ext, dir=out.parent)
    os.close(fd)
    try:
        picture.save(tmp, format=Image.registered_extensions()[ext])
        os.replace(tmp, out)
    except (OSError, ValueError) as err:
        raise OutputError(f"cannot write {out}: {err}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@click.command("detect")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--out", "-o", "out", required=True, type=click.Path(path_type=Path),
              help="Where to write the image with the boxes drawn (.png, .jpg, .bmp).")
@click.option("--threshold", "-t", default=0.5, show_default=True, type=float,
              help="Draw detections whose score is at least this.")
@click.option("--labels", type=click.Path(path_type=Path),
              help="Label file: line N (counting from 0) names class id N.")
@click.option("--rgb", is_flag=True, help="Feed RGB (default BGR, like the Inference Engine samples).")
@click.option("--device", "-d", default="CPU", show_default=True, help="OpenVINO device.")
@click.option("--extension", multiple=True, metavar="EXT",
              help="OpenVINO extension for custom IR layers: a library (.so) or a Python module (dotted name or .py file) with an OPENVINO_EXTENSIONS list of openvino.Op classes; repeatable, or comma separated.")
def detect(model: Path, image: Path, out: Path, threshold: float, labels: Path | None,
           rgb: bool, device: str, extension: tuple[str, ...] = ()) -> None:
    """Run a detection IR on an image and draw the boxes whose score reaches --threshold.

    The image is resized (bilinear) to the IR's input (kept at its size when the IR's height
    and width are dynamic, as in Object Detection API IRs) and fed as 0..255 pixels, BGR unless
    --rgb; boxes are drawn on the original image and listed on stdout."""
    images.pillow("detect")
    names = images.read_labels(labels)
    runtime.load_extensions(extension, "detect")
    ov_model = runtime.read_ir(model, "detect")
    port, layout, height, width = image_input(ov_model, "detect", any_size=True)
    picture = images.open_image(image, "detect")
    if height is None or width is None:  # an IR that resizes inside (OD API): the image's size
        width, height = picture.size
    shape = runtime.partial_shape(port)
    if shape[0] != 1:
        ov_model.reshape({port: [1, *shape[1:]]})
    compiled = runtime.compile_model(ov_model, "detect", device)
    x = images.to_tensor([images.resize(picture, width, height)], layout,
                         runtime.numpy_dtype(port), bgr=not rgb)
    result = compiled([x])
    # Keyed by every tensor name of the port, so detection_boxes is found under any alias.
    outputs = {",".join(sorted(o.get_names())) or runtime.port_name(o): np.asarray(result[o])
               for o in compiled.outputs}
    found = parse_detections(outputs)
    if found is None:
        listing = ", ".join(f"{k} {list(v.shape)}" for k, v in outputs.items())
        msg = (f"{model} has no detection outputs: expected a DetectionOutput [1,1,N,7] or "
               f"detection_boxes [1,N,4] with detection_scores [1,N]; its outputs: {listing}")
        raise UsageError(msg)
    kept = [d for d in found if d.score >= threshold]
    w, h = picture.size
    click.echo(f"Image {image}: {len(kept)} detection(s) with score >= {threshold}")
    for det in kept:
        x0, y0, x1, y1 = pixel_box(det, w, h)
        label = label_of(names, det.class_id)
        click.echo(f"  class {det.class_id}{' ' + label if label else ''}  score {det.score:.4f}  "
                   f"box ({x0}, {y0}) - ({x1}, {y1})")
    save_atomically(draw(picture, kept, names), out)
    click.echo(f"[ SUCCESS ] Image with boxes: {out.resolve()}")
