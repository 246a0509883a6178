"""Looks: what a rendered view looks like beyond the plain grey headlight render.

* ``plain``: the engine's own image (grey, or the mesh's colours; headlight).
* ``randomised``: for training sets that must cover photographs — random base
  colours per part (connected components, else spatial regions) or the mesh's
  own colours, a random directional light (direction, colour) over a random
  ambient + headlight, backgrounds (plain colours, gradients, noise, random
  crops of photos the user points at), a small tilt of the object off the rig
  plane, roll and distance jitter per view, and image noise / blur / JPEG.
* ``sketch``: line drawings for concept art — silhouette, depth-discontinuity
  and crease edges (from the fast engine's depth and normals) drawn with a
  random line width, wobble and ink on paper-like backgrounds, sometimes with a
  light tone wash.

Every random choice comes from a generator seeded by (look seed, object id), so
a re-render gives the same pixels; :func:`render_look` returns the drawn
parameters, which the renderer records with the object.  Views stay in rig
order (roll and distance jitter are applied in the image, the tilt to the whole
object), so the multi-view datapoint keeps its meaning.

Pure numpy/OpenCV apart from the :class:`render.engine.Renderer` it is given.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

__all__ = ["LOOKS", "look_names", "look_rng", "render_look", "background", "degrade", "sketch_lines", "part_colors",
           "photo_backgrounds"]

LOOKS: dict[str, str] = {
    "plain": "the engine's own image (grey or the mesh's colours, headlight, plain background)",
    "randomised": "random part colours or the mesh's own, random light, backgrounds, tilt/roll/distance jitter, "
                  "noise/blur/JPEG",
    "sketch": "line drawing: silhouette, depth and crease edges, random line width and wobble, paper background",
}
_PHOTO_EXT = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def look_names() -> tuple[str, ...]:
    return tuple(LOOKS)


def look_rng(seed: int, object_id: str) -> np.random.Generator:
    """The generator of one object's look: a function of (seed, object id) only."""
    h = hashlib.sha256(f"{int(seed)}:{object_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


def photo_backgrounds(folder) -> list[Path]:
    """Image files under ``folder`` (sorted), for random background crops.

    Raises:
        ValueError: the folder does not exist or holds no image.
    """
    p = Path(folder)
    if not p.is_dir():
        raise ValueError(f"background folder {p} does not exist")
    files = sorted(q for q in p.rglob("*") if q.suffix.lower() in _PHOTO_EXT)
    if not files:
        raise ValueError(f"background folder {p} holds no image ({', '.join(_PHOTO_EXT)})")
    return files


# -- colours -------------------------------------------------------------------

def random_color(rng: np.random.Generator) -> np.ndarray:
    """A base colour: mostly saturated hues, sometimes greys, whites or darks."""
    import colorsys

    r = rng.random()
    if r < 0.2:
        g = rng.uniform(0.15, 0.95)
        return np.array([g, g, g]) * rng.uniform(0.95, 1.05, 3).clip(0, 1 / max(g, 1e-3))
    h, s, v = rng.random(), rng.uniform(0.25, 1.0), rng.uniform(0.25, 1.0)
    return np.array(colorsys.hsv_to_rgb(h, s, v))


def part_colors(vertices: np.ndarray, faces: np.ndarray, rng: np.random.Generator,
                own: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """Per-vertex colours (n, 3) in 0..1 for the randomised look, and how they
    were chosen: the mesh's own colours (jittered) when it has them (half of
    the time), else one random colour per connected component, or — for a
    single-piece mesh — per spatial region around 1–4 random seed vertices."""
    n = len(vertices)
    if own is not None and rng.random() < 0.5:
        gain = rng.uniform(0.8, 1.2, 3)
        return np.clip(own * gain, 0, 1).astype(np.float32), "own"
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    f = np.asarray(faces)
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    ncomp, lab = connected_components(coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)), directed=False)
    if ncomp < 2 or ncomp > 200 or rng.random() < 0.25:
        k = int(rng.integers(1, 5))
        seeds = vertices[rng.choice(n, k, replace=False)]
        lab = np.argmin(((vertices[:, None, :] - seeds[None]) ** 2).sum(-1), axis=1)
        ncomp, how = k, f"regions:{k}"
    else:
        how = f"parts:{ncomp}"
    palette = np.stack([random_color(rng) for _ in range(min(ncomp, 6))])
    colors = palette[rng.integers(0, len(palette), ncomp)][lab]
    return colors.astype(np.float32), how


# -- backgrounds ---------------------------------------------------------------

def _smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 1) -> np.ndarray:
    import cv2

    small = rng.random((cells, cells, channels)).astype(np.float32)
    out = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    return out.reshape(size, size, channels)


def background(rng: np.random.Generator, size: int, photos: list[Path] | None = None) -> tuple[np.ndarray, str]:
    """One random background (size, size, 3) float32 in 0..1 and its kind:
    a plain colour, a linear gradient, smooth coloured noise, or a random
    crop of one of ``photos``."""
    import cv2

    kinds = ["plain", "gradient", "noise"] + (["photo", "photo"] if photos else [])
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "plain":
        return np.broadcast_to(random_color(rng), (size, size, 3)).astype(np.float32).copy(), kind
    if kind == "gradient":
        a, b = random_color(rng), random_color(rng)
        ang = rng.uniform(0, 2 * np.pi)
        y, x = np.mgrid[0:size, 0:size] / max(size - 1, 1) - 0.5
        t = np.clip(x * np.cos(ang) + y * np.sin(ang) + 0.5, 0, 1)[..., None]
        return (a * (1 - t) + b * t).astype(np.float32), kind
    if kind == "noise":
        base = random_color(rng)
        amp = rng.uniform(0.1, 0.5)
        nz = _smooth_noise(rng, size, int(rng.integers(3, 17)), 3) - 0.5
        return np.clip(base + amp * nz, 0, 1).astype(np.float32), kind
    path = photos[int(rng.integers(len(photos)))]
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: not a readable image (background photos)")
    img = img[..., ::-1]
    h, w = img.shape[:2]
    side = int(min(h, w) * rng.uniform(0.3, 1.0))
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = cv2.resize(np.ascontiguousarray(img[y0:y0 + side, x0:x0 + side]), (size, size), interpolation=cv2.INTER_AREA)
    return crop.astype(np.float32) / 255.0, f"photo:{path.name}"


# -- image-level steps -----------------------------------------------------------

def _warp(rgba: np.ndarray, roll_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    """Roll (counter-clockwise, degrees) and zoom about the centre, on straight-alpha RGBA."""
    import cv2

    s = rgba.shape[0]
    m = cv2.getRotationMatrix2D((s / 2 - 0.5, s / 2 - 0.5), roll_deg, scale)
    m[:, 2] += np.asarray(shift) * s
    pm = rgba.astype(np.float32)
    pm[..., :3] *= pm[..., 3:4] / 255.0  # premultiply so edges blend with transparent black
    out = cv2.warpAffine(pm, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = out[..., 3:4]
    out[..., :3] = np.where(a > 0, out[..., :3] * 255.0 / np.maximum(a, 1e-6), 0)
    return out


def _composite(rgba: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Straight-alpha float RGBA (0..255) over a float background (0..1) → float RGB 0..1."""
    a = rgba[..., 3:4] / 255.0
    return rgba[..., :3] / 255.0 * a + bg * (1 - a)


def degrade(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Blur, sensor noise and JPEG on float RGB 0..1 → uint8 RGB, with what was applied."""
    import cv2

    p = {}
    if rng.random() < 0.5:
        p["blur_sigma"] = float(rng.uniform(0.3, 1.5))
        img = cv2.GaussianBlur(img, (0, 0), p["blur_sigma"])
    if rng.random() < 0.6:
        p["noise_sigma"] = float(rng.uniform(0.005, 0.05))
        img = img + rng.normal(0, p["noise_sigma"], img.shape).astype(np.float32)
    out = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        p["jpeg_quality"] = int(rng.integers(25, 95))
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, p["jpeg_quality"]])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(out), p


def _tilt(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    """A rotation by up to ``max_deg`` about a random horizontal axis (cameras off the rig plane)."""
    ang = np.radians(rng.uniform(-max_deg, max_deg))
    phi = rng.uniform(0, 2 * np.pi)
    k = np.array([np.cos(phi), np.sin(phi), 0.0])
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(ang) * kx + (1 - np.cos(ang)) * kx @ kx


def _view_jitter(rng: np.random.Generator, on: bool, roll: float, zoom: float, shift: float) -> dict:
    """One view's roll (degrees), zoom and shift (share of the image); drawn either
    way so the rest of the look's random stream does not depend on ``on``."""
    vp = {"roll_deg": float(rng.uniform(-roll, roll)), "scale": float(rng.uniform(1 - zoom, 1 + zoom)),
          "shift": rng.uniform(-shift, shift, 2).round(4).tolist()}
    return vp if on else {"roll_deg": 0.0, "scale": 1.0, "shift": [0.0, 0.0]}


# -- sketch ----------------------------------------------------------------------

def sketch_lines(alpha: np.ndarray, normals: np.ndarray, depth: np.ndarray, crease_deg: float = 35.0,
                 depth_step: float = 0.04) -> np.ndarray:
    """Edges of one view: silhouette, depth discontinuities and creases.

    Args:
        alpha: (S, S) coverage 0..255; normals: (S, S, 3) uint8 encoded (n + 1) / 2;
        depth: (S, S) linear depth (inf = background); crease_deg: normal change
        that makes a crease; depth_step: depth jump (unit-sphere radii) that makes an edge.
    Returns:
        (S, S) bool line pixels.
    """
    mask = alpha > 127
    n = normals.astype(np.float32) / 127.5 - 1.0
    d = np.where(np.isfinite(depth), depth, 0.0)
    edges = np.zeros_like(mask)
    cos_t = np.cos(np.radians(crease_deg))
    for dy, dx in ((0, 1), (1, 0)):
        a = (slice(0, mask.shape[0] - dy), slice(0, mask.shape[1] - dx))
        b = (slice(dy, None), slice(dx, None))
        sil = mask[a] != mask[b]
        both = mask[a] & mask[b]
        crease = both & ((n[a] * n[b]).sum(-1) < cos_t)
        jump = both & (np.abs(d[a] - d[b]) > depth_step)
        e = sil | crease | jump
        edges[a] |= e
    return edges


def _sketch_view(rng, rgba_n: np.ndarray, depth: np.ndarray, shaded: np.ndarray, size: int, prm: dict) -> np.ndarray:
    import cv2

    lines = sketch_lines(rgba_n[..., 3], rgba_n[..., :3], depth, prm["crease_deg"]).astype(np.float32)
    w = prm["line_px"]
    if w > 1.0:
        k = int(np.ceil(w))
        lines = cv2.dilate(lines, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    if prm["wobble_px"] > 0:  # hand wobble: a smooth random displacement field
        amp = prm["wobble_px"]
        dx = (_smooth_noise(rng, size, 6)[..., 0] - 0.5) * 2 * amp
        dy = (_smooth_noise(rng, size, 6)[..., 0] - 0.5) * 2 * amp
        gy, gx = np.mgrid[0:size, 0:size].astype(np.float32)
        lines = cv2.remap(lines, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    lines = cv2.GaussianBlur(lines, (0, 0), 0.6)
    pressure = 0.6 + 0.4 * _smooth_noise(rng, size, 5)[..., 0]
    ink = np.clip(lines * pressure * prm["ink_opacity"], 0, 1)[..., None]
    paper = np.asarray(prm["paper"], np.float32) + (rng.normal(0, prm["grain"], (size, size, 1))).astype(np.float32)
    if prm["wash"] > 0:  # a light tone: darker where the headlight shading is dark
        tone = 1.0 - shaded[..., :1].astype(np.float32) / 255.0
        a = (rgba_n[..., 3:4] > 127).astype(np.float32)
        paper = paper * (1 - prm["wash"] * tone * a)
    img = paper * (1 - ink) + np.asarray(prm["ink"], np.float32) * ink
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


# -- the look -------------------------------------------------------------------

def render_look(renderer, look: str, vertices: np.ndarray, faces: np.ndarray, rng: np.random.Generator,
                colors: np.ndarray | None = None, photos: list[Path] | None = None,
                jitter: bool = True, cameras: np.ndarray | None = None,
                up: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Render one normalised mesh from the renderer's rig in ``look``.

    Args:
        renderer: a :class:`render.engine.Renderer` with the fast engine.
        look: one of :data:`LOOKS`.
        vertices: (n, 3) in the unit sphere; faces: (m, 3); colors: the mesh's own
            (n, 3) colours or None.
        rng: the object's generator (:func:`look_rng`).
        photos: background photo files for the randomised look (optional).
        jitter: tilt the object off the rig plane and roll / zoom / shift each
            view (training sets); False keeps the cameras exact (posed queries).
        cameras, up: optional (N, 3) camera directions and up vectors instead of
            the rig's (see :meth:`render.engine.Renderer.render_layers`).
    Returns:
        images (V, S, S, 3) uint8 RGB in rig order and the drawn parameters (JSON-able).
    Raises:
        ValueError: an unknown look.
    """
    if look not in LOOKS:
        raise ValueError(f"look must be one of {look_names()}, got {look!r}")
    s = renderer.settings.size
    nv = renderer.rig.num_views if cameras is None else len(np.asarray(cameras).reshape(-1, 3))
    cam = {"cameras": cameras, "up": up}
    if look == "plain":
        rgba, _ = renderer.render_layers(vertices, faces, colors, **cam)
        bg = np.ones((s, s, 3), np.float32)
        out = [np.round(_composite(x.astype(np.float32), bg) * 255).astype(np.uint8) for x in rgba]
        return np.stack(out), {"look": "plain"}
    if look == "randomised":
        tilt = _tilt(rng, 12.0 if jitter else 0.0)
        v = vertices @ tilt.T
        col, how = part_colors(vertices, faces, rng, colors)
        d = rng.normal(size=3)
        d[2] = abs(d[2]) * 0.7 + 0.2  # mostly from above
        light = {"ambient": float(rng.uniform(0.1, 0.45)), "headlight": float(rng.uniform(0.0, 0.6)),
                 "strength": float(rng.uniform(0.3, 1.0)), "direction": (d / np.linalg.norm(d)).tolist(),
                 "color": np.clip(1.0 + rng.normal(0, 0.12, 3), 0.6, 1.3).tolist()}
        rgba, _ = renderer.render_layers(v, faces, col, light=light, **cam)
        params = {"look": look, "colors": how, "light": light, "tilt": tilt.round(6).tolist(), "views": []}
        out = []
        for i in range(nv):
            vp = _view_jitter(rng, jitter, 15.0, 0.15, 0.04)
            warped = _warp(rgba[i], vp["roll_deg"], vp["scale"], vp["shift"])
            bg, vp["background"] = background(rng, s, photos)
            img, deg = degrade(_composite(warped, bg), rng)
            vp.update(deg)
            params["views"].append(vp)
            out.append(img)
        return np.stack(out), params
    # sketch
    tilt = _tilt(rng, 8.0)
    v = vertices @ tilt.T
    nrm, depth = renderer.render_layers(v, faces, normals=True, depth=True, **cam)
    shaded, _ = renderer.render_layers(v, faces, **cam)
    ink = [0.1, 0.1, 0.12] if rng.random() < 0.6 else random_color(rng).clip(0, 0.45).tolist()
    paper_base = rng.uniform(0.88, 1.0)
    paper = np.clip(paper_base + rng.normal(0, 0.02, 3), 0, 1).tolist()
    prm = {"look": look, "tilt": tilt.round(6).tolist(), "ink": ink, "paper": paper,
           "line_px": float(rng.uniform(1.0, 2.5) * s / 160), "wobble_px": float(rng.uniform(0, 1.5) * s / 160),
           "crease_deg": float(rng.uniform(25, 50)), "ink_opacity": float(rng.uniform(0.7, 1.0)),
           "grain": float(rng.uniform(0.0, 0.03)), "wash": float(rng.uniform(0.2, 0.5)) if rng.random() < 0.3 else 0.0,
           "views": []}
    out = []
    for i in range(nv):
        vp = _view_jitter(rng, jitter, 8.0, 0.1, 0.03)
        img = _sketch_view(rng, nrm[i], depth[i], shaded[i], s, prm)
        warped = _warp(np.concatenate([img, np.full((s, s, 1), 255, np.uint8)], -1), vp["roll_deg"], vp["scale"],
                       vp["shift"])
        bg = np.broadcast_to(np.asarray(paper, np.float32), (s, s, 3))
        img = np.clip(np.round(_composite(warped, bg) * 255), 0, 255).astype(np.uint8)
        prm["views"].append(vp)
        out.append(img)
    return np.stack(out), prm
