"""Reading and resizing images with Pillow for the tools (Pillow is imported on demand)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tfconv.errors import UsageError

from .runtime import optional


def pillow(command: str) -> Any:
    """``PIL.Image``, or a clear error naming the extra to install."""
    return optional("PIL.Image", command, "Pillow to read images")


def open_image(path: Path, command: str) -> Any:
    """The image at ``path`` as an RGB ``PIL.Image``, or a clear error."""
    image_mod = pillow(command)
    from PIL import UnidentifiedImageError
    path = Path(path)
    if not path.is_file():
        what = "a directory" if path.is_dir() else "no such file"
        raise UsageError(f"image {path}: {what}; give an image file (PNG, JPEG, BMP...)")
    try:
        with image_mod.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        msg = f"image {path} is not an image Pillow can read ({err}); give a PNG, JPEG or BMP file"
        raise UsageError(msg) from None


def resize(img: Any, width: int, height: int) -> np.ndarray:
    """``img`` resized to ``width`` x ``height`` (bilinear) as an HWC uint8 RGB array."""
    from PIL import Image
    if img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def to_tensor(pixels: list[np.ndarray], layout: str, dtype: np.dtype, bgr: bool) -> np.ndarray:
    """HWC RGB uint8 images -> one batch in ``layout`` (``NCHW``/``NHWC``) and ``dtype``; BGR
    channel order when ``bgr`` (the Inference Engine samples' default)."""
    batch = np.stack(pixels)
    if bgr:
        batch = batch[..., ::-1]
    if layout == "NCHW":
        batch = batch.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch).astype(dtype)


def image_size(shape: tuple, layout: str) -> tuple[int | None, int | None]:
    """(height, width) of a 4-D input shape in ``layout``."""
    return (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])


def read_labels(path: Path | None) -> list[str]:
    """One label per line (a ``N: label`` or ``N label`` numbering is kept as written)."""
    if path is None:
        return []
    path = Path(path)
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise UsageError(f"--labels {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"--labels {path} cannot be read as text: {err}") from None
