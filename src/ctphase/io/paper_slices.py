"""The reference paper's pre-rendered slice images (8-bit, already windowed) read back as HU.

Dao et al. (2022) distribute their data as one 8-bit image per slice, rendered with a window
(50/400 in the paper). Reading one back inverts that window, so the slice can go through the
same preprocessing as any CT slice: with the same window it reproduces ``v / 255`` exactly; a
wider window sees the clipping of the original rendering.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError


def read_8bit_as_hu(path: str | Path, source_window: tuple[float, float]) -> np.ndarray:
    """Read a pre-windowed 8-bit slice image and map it back to ``(H, W)`` float32 HU.

    ``v in 0..255`` becomes ``center - width/2 + v * width / 255``: the inverse of the window
    ``source_window = (center, width)`` the image was rendered with. Colour images are
    converted to grey.

    Raises:
        InputError: unreadable image, or not 8-bit.
    """
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError("cannot read image (missing, or not an image format OpenCV reads)", path)
    if img.dtype != np.uint8:
        raise InputError(f"expected an 8-bit pre-windowed image, got dtype {img.dtype}", path)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    center, width = source_window
    return img.astype(np.float32) * np.float32(width / 255.0) + np.float32(center - width / 2.0)
