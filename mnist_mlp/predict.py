"""One image in, a digit and ten probabilities out: from an array, a test-set index or a file.

Image files go through Pillow: the size is checked from the header before any pixel is decoded
(no decompression bombs), then the picture is made grayscale, resized to 28x28, and inverted
when its background is light, because people draw dark digits on white paper while MNIST is
white on black.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnist_mlp.config import INPUT_SHAPE
from mnist_mlp.errors import InputError

log = logging.getLogger(__name__)

MAX_IMAGE_PIXELS = 10_000_000


@dataclass(frozen=True)
class Prediction:
    """The answer for one image."""

    source: str
    digit: int
    confidence: float
    probabilities: list[float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_image(path: str | Path) -> np.ndarray:
    """A PNG/JPEG (or any Pillow format) as a 28x28 uint8 array, white digit on black."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: image file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not an image file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes), not an image")
    try:
        with warnings.catch_warnings():
            # Pillow warns (and above twice its own limit, raises) from the header alone; our limit is lower
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise InputError(
                        f"{path}: image is {width}x{height} pixels, over the {MAX_IMAGE_PIXELS:,} pixel limit"
                    )
                image.load()
                gray = _to_grayscale(image)
    except InputError:
        raise
    except Image.DecompressionBombError:
        raise InputError(
            f"{path}: image dimensions are far over the {MAX_IMAGE_PIXELS:,} pixel limit (refused before decoding)"
        ) from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: damaged or truncated image ({exc})") from None
    small = np.asarray(gray.resize(INPUT_SHAPE[::-1], Image.Resampling.LANCZOS), dtype=np.uint8)
    return invert_if_light(small)


def _to_grayscale(image: Any) -> Any:
    """8-bit grayscale from any mode: 16/32-bit rescaled, transparency laid on white paper."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
        return Image.fromarray(np.clip(values / top * 255.0, 0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        # a stroke drawn on a transparent background: lay it on paper of the opposite shade, so a
        # white stroke does not vanish on white paper (nor a dark one on black)
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64)
        ink = np.asarray(rgba.convert("L"), dtype=np.float64)
        light_ink = alpha.sum() > 0 and float((ink * alpha).sum() / alpha.sum()) > 127
        shade = 0 if light_ink else 255
        paper = Image.new("RGBA", rgba.size, (shade, shade, shade, 255))
        return Image.alpha_composite(paper, rgba).convert("L")
    return image.convert("L")


def invert_if_light(pixels: np.ndarray) -> np.ndarray:
    """Invert when the border (the background) is mostly light: MNIST digits are white on black."""
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    return (255 - pixels).astype(np.uint8) if border.mean() > 127 else pixels


def as_batch(array: Any, name: str = "array") -> np.ndarray:
    """Validate images for the model: (28, 28) or (n, 28, 28); uint8 0-255 or floats in [0, 1].

    Returns float32 in [0, 1], shape (n, 28, 28).
    """
    arr = np.asarray(array)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"{name}: dtype {arr.dtype} is not a numeric image type (use uint8 or float)")
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3 or arr.shape[1:] != INPUT_SHAPE or arr.shape[0] == 0:
        raise InputError(f"{name}: shape {np.shape(array)} is not (28, 28) or (n, 28, 28)")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{name}: holds NaN or infinite values")
        if arr.min() < 0.0 or arr.max() > 1.0:
            raise InputError(
                f"{name}: float values must lie in [0, 1], found {arr.min():g} to {arr.max():g}"
            )
        return arr.astype(np.float32)
    if arr.min() < 0 or arr.max() > 255:
        raise InputError(f"{name}: integer values must lie in 0-255, found {arr.min()} to {arr.max()}")
    return (arr.astype(np.float32) / 255.0).astype(np.float32)


def load_array_file(path: str | Path) -> np.ndarray:
    """Images from a ``.npy`` file (no pickles), validated by ``as_batch``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: array file not found")
    try:
        raw = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise InputError(f"{path}: not a plain .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: unreadable .npy file ({exc})") from None
    if not isinstance(raw, np.ndarray):
        raise InputError(f"{path}: expected a .npy array, found an archive")
    return as_batch(raw, str(path))


def predict(model: Any, images: np.ndarray, sources: list[str]) -> list[Prediction]:
    """Digits and probabilities for validated float32 images of shape (n, 28, 28)."""
    probs = np.asarray(model.predict(images, batch_size=256, verbose=0), dtype=np.float64)
    results = []
    for source, row in zip(sources, probs):
        digit = int(row.argmax())
        results.append(Prediction(source, digit, float(row[digit]), [float(p) for p in row]))
    return results
