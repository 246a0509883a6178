"""The object in a reference picture: its foreground mask and a normalised crop.

* :func:`foreground` — the alpha channel when the image has a useful one;
  otherwise OpenCV's GrabCut, seeded from the image border as background (or
  from a user crop box: outside it is background).
* :func:`object_crop` — a square around the mask's bounding box with a margin,
  resampled to ``size``, the object composited onto mid grey; templates and
  queries are cropped the same way, so their scale and framing agree.

* :func:`render_crops` — the same crop of every render of a batch (RGBA,
  transparent background), for templates and render-and-compare.

Pure functions on numpy arrays: (H, W, 3|4) uint8 images, (H, W) float masks
in 0..1.  A :class:`Picture` is a reference picture decoded once with the mask
its object was found in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rotationnet.core.errors import DataError

__all__ = ["Picture", "picture", "foreground", "object_crop", "render_crops", "normalise_brightness",
           "rotate_image", "GREY"]

GREY = 0.5  # background of every crop (0 after the backbone's 0.5/0.5 normalisation)
MIN_PIXELS = 16  # fewer foreground pixels than this: no object
WORK_MIN, WORK_MAX = 160, 512  # GrabCut's working size (short side at least, long side at most)
BRIGHT = 0.9  # the object's bright end in every crop (see normalise_brightness)
BOX_SEED = 0.12  # a user box's middle (this share of its width/height) is taken as the object


@dataclass(frozen=True)
class Picture:
    """A reference picture decoded once: ``rgb`` (H, W, 3) uint8, the object's
    ``mask`` (H, W) float32 in 0..1 and the picture's ``name`` (its path)."""

    rgb: np.ndarray
    mask: np.ndarray
    name: str


def picture(img: np.ndarray, box=None, name: str = "image") -> Picture:
    """A decoded image (H, W, 3|4) uint8 and its object: the mask from
    :func:`foreground` (the alpha channel, or GrabCut within the optional box)."""
    return Picture(np.ascontiguousarray(img[..., :3]), foreground(img, box, name=name), name)


def _has_alpha(img: np.ndarray) -> bool:
    if img.ndim != 3 or img.shape[2] != 4:
        return False
    a = img[..., 3]
    return bool(a.min() < 250)  # not all opaque: the alpha channel is the mask (all clear: no object)


def foreground(img: np.ndarray, box: tuple[int, int, int, int] | None = None, name: str = "image",
               iterations: int = 4) -> np.ndarray:
    """Foreground mask (H, W) float32 in 0..1 of one object.

    Args:
        img: (H, W, 3|4) uint8.  An alpha channel that is not all opaque is the mask.
        box: optional (x, y, w, h) around the object (a user's crop): outside is background.
        name: the image's name for error messages.
    Raises:
        DataError: a blank image, or no object found.
    """
    if img.ndim != 3 or img.shape[2] not in (3, 4) or img.dtype != np.uint8:
        raise DataError(f"{name}: expected an (H, W, 3|4) uint8 image, got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    if _has_alpha(img):
        m = img[..., 3].astype(np.float32) / 255.0
        if box is not None:
            x, y, bw, bh = (int(round(v)) for v in box)
            keep = np.zeros_like(m)
            keep[max(y, 0):max(y + bh, 0), max(x, 0):max(x + bw, 0)] = 1.0
            m = m * keep
        if (m > 0.5).sum() < MIN_PIXELS:
            raise DataError(f"{name}: the alpha channel holds no object")
        return m
    rgb = np.ascontiguousarray(img[..., :3])
    if int(rgb.max()) - int(rgb.min()) < 8:
        raise DataError(f"{name}: the image is blank (one flat colour): no object to match")
    import cv2

    # GrabCut's smoothness term is set for pixels, not objects: on a crop of a
    # small object (30–150 px) it erases the object.  Work at a short side of
    # WORK_MIN px (and a long side of at most WORK_MAX), then map the mask back.
    sc = min(max(1.0, WORK_MIN / min(h, w)), max(WORK_MAX / max(h, w), 1e-9)) if max(h, w) > 0 else 1.0
    sw, sh = max(1, int(round(w * sc))), max(1, int(round(h * sc)))
    work = rgb if (sw, sh) == (w, h) else cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_CUBIC if sc > 1
                                                     else cv2.INTER_AREA)
    mask = np.full((sh, sw), cv2.GC_PR_FGD, np.uint8)
    if box is not None:
        x, y, bw, bh = (int(round(v)) for v in box)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)
        if x1 - x0 < 4 or y1 - y0 < 4:
            raise DataError(f"{name}: the crop box {box} lies outside the {w}×{h} image")
        x0, y0, x1, y1 = (int(round(v * sc)) for v in (x0, y0, x1, y1))
        mask[:] = cv2.GC_BGD
        mask[y0:y1, x0:x1] = cv2.GC_PR_FGD
        b = max(1, min(x1 - x0, y1 - y0) // 40)  # a thin ring inside the box is likely background too
        mask[y0:y0 + b, x0:x1] = mask[y1 - b:y1, x0:x1] = cv2.GC_PR_BGD
        mask[y0:y1, x0:x0 + b] = mask[y0:y1, x1 - b:x1] = cv2.GC_PR_BGD
        # the middle of a box drawn around an object is the object: a small seed
        # there keeps GrabCut from giving the whole box to the background
        yy, xx = np.mgrid[0:sh, 0:sw]
        seed = (((xx + 0.5 - (x0 + x1) / 2) / (BOX_SEED * (x1 - x0))) ** 2
                + ((yy + 0.5 - (y0 + y1) / 2) / (BOX_SEED * (y1 - y0))) ** 2) <= 1.0
        mask[seed] = cv2.GC_FGD
    else:
        b = max(2, min(sh, sw) // 30)  # the border is background
        mask[:b], mask[-b:], mask[:, :b], mask[:, -b:] = cv2.GC_BGD, cv2.GC_BGD, cv2.GC_BGD, cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(work[..., ::-1])
    try:
        cv2.grabCut(bgr, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error as e:
        raise DataError(f"{name}: foreground segmentation failed: {e}") from None
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    # keep the largest connected part (and what touches it after a small closing)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1 or stats[1:, cv2.CC_STAT_AREA].max() < MIN_PIXELS or (labels > 0).mean() > 0.98:
        # nothing stands apart from its surroundings (clutter that looks like the object, or a
        # picture filled by it): the object is taken to fill the middle of the picture or box
        return _middle(h, w, box)
    keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    out = (labels == keep).astype(np.float32)
    drawn = _filled_drawing(fg, work)
    if drawn is not None:
        out = drawn
    if (sw, sh) != (w, h):
        out = (cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5).astype(np.float32)
    return out


def _filled_drawing(fg: np.ndarray, rgb: np.ndarray) -> np.ndarray | None:
    """A line drawing (a sketch or concept art on paper): strokes on a light,
    nearly colourless background, enclosing paper that looks like that
    background, so GrabCut keeps the strokes (and some faces) but not the
    enclosed paper.  Then the object is the region the strokes enclose: their
    filled outline (gaps closed).  None for anything else (nothing enclosed, a
    background that is not paper, or enclosed regions that are not paper).
    A photo on white paper-like ground loses its holes (a mug's handle) this way."""
    import cv2

    side = min(fg.shape)
    if fg.sum() < MIN_PIXELS:
        return None
    b = max(2, side // 30)
    border = np.concatenate([rgb[:b].reshape(-1, 3), rgb[-b:].reshape(-1, 3), rgb[:, :b].reshape(-1, 3),
                             rgb[:, -b:].reshape(-1, 3)]).astype(np.float32)
    paper = np.median(border, axis=0)
    if paper.mean() < 170 or paper.max() - paper.min() > 40:
        return None  # not light, colourless paper
    k = max(3, int(round(0.03 * side)) | 1)
    closed = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    filled = np.zeros_like(fg)
    cv2.drawContours(filled, [max(contours, key=cv2.contourArea)], -1, 1, thickness=cv2.FILLED)
    inside = (filled > 0) & (fg == 0)
    if inside.sum() < MIN_PIXELS:
        return None  # nothing enclosed: solid already
    if np.abs(rgb[inside].astype(np.float32).mean(0) - paper).max() > 30:
        return None  # what the strokes enclose is not paper
    return filled.astype(np.float32)


def _middle(h: int, w: int, box) -> np.ndarray:
    """An ellipse filling 80 % of the box (or of the picture)."""
    x, y, bw, bh = (0, 0, w, h) if box is None else box
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = x + bw / 2.0, y + bh / 2.0
    inside = ((xx + 0.5 - cx) / (0.4 * bw)) ** 2 + ((yy + 0.5 - cy) / (0.4 * bh)) ** 2 <= 1.0
    return inside.astype(np.float32)


def normalise_brightness(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Scale the object's colours so its bright end (the 97th percentile of
    luminance inside ``mask``) sits at :data:`BRIGHT`: a dim photo, a dark
    paint job and a grey render then meet at one exposure (hue and shading kept).

    Args:
        crop: (S, S, 3) float 0..1; mask: (S, S) float 0..1.
    Returns:
        (S, S, 3) float32 (unchanged where the mask is empty).
    """
    w = mask > 0.5
    if w.sum() < MIN_PIXELS:
        return crop
    lum = crop @ np.array([0.299, 0.587, 0.114], np.float32)
    hi = float(np.percentile(lum[w], 97))
    return np.clip(crop * (BRIGHT / max(hi, 0.05)), 0.0, 1.0).astype(np.float32)


def object_crop(rgb: np.ndarray, mask: np.ndarray, size: int, margin: float = 0.1, normalise: bool = True
                ) -> tuple[np.ndarray, np.ndarray]:
    """Square crop around the mask's bounding box (plus ``margin`` of its
    longer side on each side), resampled to ``size``, the object's brightness
    normalised (:func:`normalise_brightness`, unless ``normalise`` is False)
    and composited onto :data:`GREY`.

    Args:
        rgb: (H, W, 3) uint8 or float in 0..1; mask: (H, W) float 0..1.
    Returns:
        (size, size, 3) float32 in 0..1 and (size, size) float32 mask.
    Raises:
        ValueError: an empty mask.
    """
    import cv2

    m = np.asarray(mask, dtype=np.float32)
    ys, xs = np.nonzero(m > 0.5)
    if len(xs) == 0:
        raise ValueError("object_crop: empty mask")
    a, interp = _crop_map(xs.min(), xs.max(), ys.min(), ys.max(), size, margin)
    if rgb.dtype == np.uint8:  # resample first, then to float: the crop, not the whole picture
        c = cv2.warpAffine(np.ascontiguousarray(rgb[..., :3]), a, (size, size), flags=interp,
                           borderMode=cv2.BORDER_CONSTANT).astype(np.float32) / 255.0
    else:
        src = np.asarray(rgb, dtype=np.float32)
        if src.max() > 1.0:
            src = src / 255.0
        c = cv2.warpAffine(np.ascontiguousarray(src[..., :3]), a, (size, size), flags=interp,
                           borderMode=cv2.BORDER_CONSTANT)
    cm = cv2.warpAffine(np.ascontiguousarray(m), a, (size, size), flags=interp, borderMode=cv2.BORDER_CONSTANT,
                        borderValue=0.0)
    return _on_grey(c, np.clip(cm, 0.0, 1.0), normalise)


def _on_grey(crop: np.ndarray, mask: np.ndarray, normalise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A resampled crop and its mask → the object at one brightness on :data:`GREY`."""
    if normalise:
        crop = normalise_brightness(crop, mask)
    return (crop * mask[..., None] + GREY * (1.0 - mask[..., None])).astype(np.float32), mask.astype(np.float32)


def _crop_map(x0: int, x1: int, y0: int, y1: int, size: int, margin: float):
    """The affine map (2×3) from a picture to the square crop around the box
    x0..x1, y0..y1 (inclusive pixels) with ``margin`` of its longer side on
    each side, and the interpolation for that scale."""
    import cv2

    cx, cy = (x0 + x1 + 1) / 2.0, (y0 + y1 + 1) / 2.0
    half = max(x1 - x0 + 1, y1 - y0 + 1) / 2.0 * (1.0 + 2.0 * margin)
    s = size / (2.0 * half)
    # x' = s·(x − cx) + size/2
    a = np.array([[s, 0.0, size / 2.0 - s * cx], [0.0, s, size / 2.0 - s * cy]], np.float32)
    return a, (cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def render_crops(images: np.ndarray, size: int, margin: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """RGBA renders (N, H, W, 4) uint8 on a transparent background → object
    crops (N, S, S, 3) float32 and masks (N, S, S): :func:`object_crop` with the
    alpha channel as the mask (colour and alpha resampled together), an empty
    render a plain grey crop."""
    import cv2

    crops = np.full((len(images), size, size, 3), GREY, np.float32)
    masks = np.zeros((len(images), size, size), np.float32)
    solid = images[..., 3] > 127
    rows, cols = solid.any(axis=2), solid.any(axis=1)
    for i in np.nonzero(rows.any(axis=1))[0]:
        ys, xs = np.nonzero(rows[i])[0], np.nonzero(cols[i])[0]
        a, interp = _crop_map(xs[0], xs[-1], ys[0], ys[-1], size, margin)
        w = cv2.warpAffine(np.ascontiguousarray(images[i]), a, (size, size), flags=interp,
                           borderMode=cv2.BORDER_CONSTANT).astype(np.float32) / 255.0
        crops[i], masks[i] = _on_grey(w[..., :3], w[..., 3])
    return crops, masks


def degrade(crops: np.ndarray, masks: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Crops (N, S, S, 3) and masks (N, S, S) as a picture whose crop had only
    ``side`` pixels would give them: resampled down to ``side`` (area) and back
    up (bilinear).  Templates degraded this way match small objects in whole
    pictures, whose crops are upsampled from a few dozen pixels."""
    import cv2

    s = crops.shape[1]
    out_c = np.empty_like(crops)
    out_m = np.empty_like(masks)
    for i in range(len(crops)):
        c = cv2.resize(cv2.resize(crops[i], (side, side), interpolation=cv2.INTER_AREA), (s, s),
                       interpolation=cv2.INTER_LINEAR)
        m = cv2.resize(cv2.resize(masks[i], (side, side), interpolation=cv2.INTER_AREA), (s, s),
                       interpolation=cv2.INTER_LINEAR)
        out_c[i], out_m[i] = c, m
    return out_c, out_m


def rotate_image(img: np.ndarray, mask: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate an image and its mask counter-clockwise by ``degrees`` about the
    mask's centre (the canvas grows so nothing is cut off)."""
    import cv2

    if abs(degrees) < 1e-9:
        return img, mask
    h, w = mask.shape
    ys, xs = np.nonzero(mask > 0.5)
    c = (float(xs.mean()), float(ys.mean())) if len(xs) else (w / 2.0, h / 2.0)
    side = int(math.ceil(math.hypot(h, w)))
    rot = cv2.getRotationMatrix2D(c, degrees, 1.0)
    rot[:, 2] += (side / 2.0 - c[0], side / 2.0 - c[1])
    src = np.asarray(img, dtype=np.float32)
    r = cv2.warpAffine(np.ascontiguousarray(src[..., :3]), rot, (side, side), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    rm = cv2.warpAffine(np.ascontiguousarray(mask.astype(np.float32)), rot, (side, side), flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return r, rm
