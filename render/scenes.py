"""Synthetic whole pictures and walk-through videos with ground truth: several
library assets standing on a floor, for tuning and testing the scene stage.

:func:`generate_scene` places 2–8 assets (each at its own size, in its own frame
as the index sees it: the library's up axis applied) on the floor plane z = 0,
turned about the vertical, apart or touching, and looks at them with a random
camera: height and pitch from a person's eye to a high shot, roll ±10°, a
horizontal field of view of 30–90°.  Blender's Workbench draws the picture
(``plain``: the assets' own colour or grey, a studio light; ``randomised``: a
random colour per asset, a random studio light rotation, backgrounds from
:func:`render.looks.background` — photos too — blur, noise and JPEG).

The ground truth is in the scene reply's format (camera frame = Blender's: −Z
forward, +Y up): ``camera`` (:meth:`rotationnet.core.camera.Intrinsics.to_dict`),
``objects`` (``asset``, ``label``, ``box`` [x, y, w, h] of the whole outline,
hidden parts included, from the projected vertices and clipped to the picture;
``rotation_wxyz`` asset frame → camera frame; ``location`` the asset frame's
origin in the camera frame; ``visible`` the share of the asset's pixels in
the picture that no other asset hides), ``floor`` (normal and offset in
the camera frame: ``normal · p + offset = 0``).

:func:`generate_walkthrough` films the same kind of group as a person walking
around it would: an orbit arc of 90–300° (random start and direction, uneven
pace), distance, height and pitch (15–50°) changing smoothly, the group filling
40–80 % of the frame, hand-held sway, shake and roll, one fixed lens (horizontal
field of view 40–75°).  The set is what structure from motion needs: a textured
floor and a textured wall around it (:func:`_texture`: blobs at every scale, no
repeats), both 3D, so everything in the picture moves with the camera; the light
stays put in the world.  Its truth is in the world frame (z up, floor z = 0):
``camera`` (the one K), ``frames`` (per frame ``rotation_wxyz`` world → camera
and ``position``, the camera's centre), ``objects`` (``asset``, ``label``,
``rotation_wxyz`` asset → world, ``location`` the asset's origin, ``size`` its
bounding diagonal), ``floor``, ``look``.  :func:`write_video` writes the frames
as an MP4.

Every random choice comes from the generator given, so a seed gives the same
pictures.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rotationnet.core.camera import Intrinsics
from rotationnet.core.views import matrix_to_quaternion

__all__ = ["SceneAsset", "generate_scene", "generate_walkthrough", "write_video"]

ID_STEP = 24  # the id render's red levels per asset (up to 10 assets)
SCENE_LOOKS = ("plain", "randomised")  # of render.looks, the two a whole scene can have


@dataclass(frozen=True)
class SceneAsset:
    """One library asset for a scene: its id and class, its mesh in its own
    frame (``vertices`` (n, 3), ``faces`` (m, 3)) and its own colours or None."""

    id: str
    label: str | None
    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray | None = None


def _check_look(look: str) -> None:
    if look not in SCENE_LOOKS:
        raise ValueError(f"scene look must be plain or randomised, got {look!r}")


def _layout(assets: list[SceneAsset], rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """(3×3 rotation about +Z, translation) of every asset: standing on z = 0,
    each next to one placed before it, footprints (bounding circles) touching or
    a little apart, never overlapping."""
    placed, out = [], []
    for a in assets:
        yaw = rng.uniform(0, 2 * math.pi)
        r = np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1.0]])
        v = a.vertices @ r.T
        lo, hi = v.min(axis=0), v.max(axis=0)
        centre_xy = (lo[:2] + hi[:2]) / 2
        radius = float(np.linalg.norm(hi[:2] - lo[:2]) / 2)
        at = np.zeros(2)
        for attempt in range(400):  # next to a random placed asset, touching or a little apart
            if not placed:
                break
            c, rad = placed[int(rng.integers(len(placed)))]
            ang = rng.uniform(0, 2 * math.pi)
            at = c + (rad + radius) * (1.0 + rng.uniform(0.0, 0.25) + attempt / 200) * np.array([math.cos(ang),
                                                                                                 math.sin(ang)])
            if all(np.linalg.norm(at - c2) >= rad2 + radius for c2, rad2 in placed):
                break
        placed.append((at, radius))
        out.append((r, np.array([at[0] - centre_xy[0], at[1] - centre_xy[1], -lo[2]])))
    return out


def _colours(assets: list[SceneAsset], rng: np.random.Generator, look: str) -> list[np.ndarray]:
    """Each asset's colour: its own (mean) or grey in the plain look, a random one in the randomised look."""
    from .looks import random_color

    return [(random_color(rng) if look == "randomised" else
             (np.asarray(a.colors).mean(axis=0) if a.colors is not None else np.full(3, 0.8)))
            for a in assets]


def _look_at(back: np.ndarray, roll_deg: float) -> np.ndarray:
    """The camera-to-world rotation (columns x, y, z; −z forward) of a camera looking
    along −``back`` (a unit vector, not vertical), horizon level, then rolled by ``roll_deg``."""
    z = back
    x = np.cross([0.0, 0.0, 1.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c, s = math.cos(math.radians(roll_deg)), math.sin(math.radians(roll_deg))
    x, y = c * x + s * y, -s * x + c * y
    return np.stack([x, y, z], axis=1)


def _fit_distance(points: np.ndarray, intr: Intrinsics, rot: np.ndarray, target: np.ndarray, back: np.ndarray,
                  dist: float, fill: float) -> float:
    """The distance from ``target`` along ``back`` (starting from ``dist``) at which the
    camera (rotation ``rot``) sees ``points`` fill the share ``fill`` of the picture
    (the larger of their width and height shares)."""
    for _ in range(6):
        uv = intr.project((points - (target + dist * back)) @ rot)
        share = max(np.ptp(uv[:, 0]) / intr.width, np.ptp(uv[:, 1]) / intr.height)
        dist *= max(share / fill, 0.5)
    return dist


def _camera(points: np.ndarray, rng: np.random.Generator, width: int, height: int
            ) -> tuple[Intrinsics, np.ndarray, np.ndarray]:
    """A random camera framing ``points`` (world, (N, 3)): intrinsics, camera-to-world
    rotation (columns x, y, z; −z forward) and the camera's position."""
    fov = rng.uniform(30.0, 90.0)
    intr = Intrinsics.from_fov(fov, width, height)
    lo, hi = points.min(axis=0), points.max(axis=0)
    target = (lo + hi) / 2
    radius = float(np.linalg.norm(hi - lo) / 2)
    az, pitch, roll = rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(12.0, 50.0)), rng.uniform(-10.0, 10.0)
    back = np.array([math.cos(pitch) * math.cos(az), math.cos(pitch) * math.sin(az), math.sin(pitch)])
    half = math.radians(min(fov, fov * height / width)) / 2  # the narrower half-angle
    dist = radius / math.sin(half) * rng.uniform(1.0, 1.3)
    rot = _look_at(back, roll)
    # the group fills a random share of the picture (as a photo of a set would), kept in the frame
    fill = rng.uniform(0.5, 0.85)
    dist = _fit_distance(points, intr, rot, target, back, dist, fill)
    return intr, rot, target + dist * back


def _wander(rng: np.random.Generator, t: np.ndarray, lo: float, hi: float, knots: int = 3) -> np.ndarray:
    """A smooth random curve over ``t`` in [0, 1] that stays within [lo, hi]: random
    values at ``knots`` + 1 even stations joined by cosine easing."""
    v = rng.uniform(lo, hi, knots + 1)
    x = np.clip(t, 0.0, 1.0) * knots
    i = np.minimum(x.astype(int), knots - 1)
    w = (1 - np.cos(math.pi * (x - i))) / 2
    return v[i] * (1 - w) + v[i + 1] * w


def _walk(points: np.ndarray, rng: np.random.Generator, frames: int, width: int, height: int
          ) -> tuple[Intrinsics, list[np.ndarray], list[np.ndarray]]:
    """A person walking around ``points`` (world, (N, 3)) filming them: the intrinsics
    (one lens, horizontal field of view 40–75°) and every frame's camera-to-world
    rotation and position.  An orbit arc of 90–300° about the group's centre
    (random start and direction, uneven pace), pitch 15–50° and the group's share
    of the frame 40–80 % changing smoothly (so do distance and height), hand-held
    sway, shake and roll; the whole group always in the frame."""
    fov = rng.uniform(40.0, 75.0)
    intr = Intrinsics.from_fov(fov, width, height)
    lo, hi = points.min(axis=0), points.max(axis=0)
    target = (lo + hi) / 2
    radius = float(np.linalg.norm(hi - lo) / 2)
    t = np.linspace(0.0, 1.0, frames)
    arc, start = math.radians(rng.uniform(90.0, 300.0)), rng.uniform(0, 2 * math.pi)
    sense = 1.0 if rng.random() < 0.5 else -1.0
    pace = t + rng.uniform(-0.6, 0.6) * np.sin(2 * math.pi * t) / (2 * math.pi)  # uneven steps, never back
    az = start + sense * arc * pace
    pitch = np.radians(_wander(rng, t, 15.0, 50.0))
    fill = _wander(rng, t, 0.4, 0.8)
    roll = _wander(rng, t, -4.0, 4.0) + rng.normal(0.0, 0.3, frames)
    sway = np.radians(np.stack([_wander(rng, t, -1.5, 1.5) for _ in range(2)], axis=1)
                      + rng.normal(0.0, 0.2, (frames, 2)))  # the aim drifts and trembles
    shake = rng.normal(0.0, 0.003, (frames, 3))  # steps, as a share of the distance
    half = math.radians(min(fov, fov * height / width)) / 2
    rots, offsets, need = [], [], np.ones(frames)
    for k in range(frames):
        back = np.array([math.cos(pitch[k]) * math.cos(az[k]), math.cos(pitch[k]) * math.sin(az[k]),
                         math.sin(pitch[k])])
        (ca, cb), (sa, sb) = np.cos(sway[k]), np.sin(sway[k])
        turn = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]]) @ np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
        rot = _look_at(back, roll[k]) @ turn
        offset = _fit_distance(points, intr, rot, target, back, radius / math.sin(half), fill[k]) * (back + shake[k])
        while need[k] < 2.0:  # how much further back the whole group is in the frame
            uv = intr.project((points - (target + need[k] * offset)) @ rot)
            if np.all(uv >= 0) and np.all(uv <= [width, height]):
                break
            need[k] *= 1.005
        rots.append(rot)
        offsets.append(offset)
    # step back smoothly: each frame's need tapers off over its neighbours
    lift = np.ones(frames)
    for d in range(-min(3, frames - 1), min(3, frames - 1) + 1):
        shifted = np.ones(frames)
        shifted[max(d, 0):frames + min(d, 0)] = need[max(-d, 0):frames - max(d, 0)]
        lift = np.maximum(lift, 1 + (shifted - 1) * (1 - abs(d) / 4))
    positions = [target + f * o for f, o in zip(lift, offsets)]
    return intr, rots, positions


def _texture(rng: np.random.Generator, height: int, width: int, look: str,
             photos: list[Path] | None = None) -> np.ndarray:
    """A random (height, width, 3) uint8 RGB texture with detail at every scale and no
    repeats, for structure from motion to find plenty of features: blobs (thresholded
    smooth noise) from a third of the texture down to a few texels, painted over each
    other — greys within ±30 % of one level for the plain look (a real floor's
    speckle), :func:`render.looks.random_color` over a
    :func:`render.looks.background` for the randomised one (fewer over a photo crop)."""
    import cv2

    from .looks import background, random_color

    side = max(height, width)
    cut = (0.62, 0.72)  # the blobs' threshold on the noise: about a third of each layer painted
    if look == "randomised":
        base, kind = background(rng, min(side, 1024), photos)
        if kind.startswith("photo"):
            cut = (0.76, 0.8)  # sparser blobs: the photo shows
        img = np.round(cv2.resize(base, (width, height), interpolation=cv2.INTER_LINEAR) * 255).astype(np.uint8)

        def paint() -> np.ndarray:
            return random_color(rng)
    else:  # a floor's subtle speckle (concrete, carpet): ±30 % of its grey, enough for SIFT, not a camouflage
        level = rng.uniform(0.45, 0.75)
        img = np.full((height, width, 3), round(level * 255), np.uint8)

        def paint() -> np.ndarray:
            return np.clip(level * rng.uniform(0.7, 1.3) * rng.normal(1.0, 0.03, 3), 0, 1)
    cells = 3
    while cells <= side / 3:
        grid = rng.random((max(2, round(cells * height / side)), max(2, round(cells * width / side))), np.float32)
        noise = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        img[noise > rng.uniform(*cut)] = np.round(paint() * 255).astype(np.uint8)
        cells *= 2
    return img


def _over(rgba: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Straight-alpha uint8 RGBA over a float RGB background (0..1) → float RGB 0..1."""
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    return rgba[..., :3].astype(np.float32) / 255.0 * a + bg * (1 - a)


class _Stage:
    """A Blender scene of our own (the user's scenes are never touched): Workbench
    with a studio light, transparent film, no anti-aliasing, one camera seeing as
    ``intr``.  Meshes come in with :meth:`add` (colours as object colours, and as
    material colours and image textures when ``color_type`` is ``TEXTURE``), the
    camera moves with :meth:`look`, :meth:`render` draws what it sees; leaving the
    ``with`` block removes everything the stage made."""

    def __init__(self, intr: Intrinsics, color_type: str = "OBJECT"):
        self.intr, self.color_type = intr, color_type
        self._objects, self._materials, self._images = [], [], []

    def __enter__(self) -> "_Stage":
        import bpy

        self.tmp = Path(tempfile.mkdtemp(prefix="rotationnet-scene-",
                                         dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
        self.scene = scene = bpy.data.scenes.new("rotationnet_scene")
        try:
            cfg = self.intr.blender_camera()
            scene.render.engine = "BLENDER_WORKBENCH"
            scene.render.resolution_x, scene.render.resolution_y = cfg["resolution_x"], cfg["resolution_y"]
            scene.render.resolution_percentage = 100
            scene.render.film_transparent = True
            scene.render.image_settings.file_format = "PNG"
            scene.render.image_settings.color_mode = "RGBA"
            scene.view_settings.view_transform = "Standard"
            scene.display.render_aa = "OFF"
            self.shading = scene.display.shading
            self.shading.light, self.shading.color_type = "STUDIO", self.color_type
            cam = bpy.data.objects.new("rotationnet_scene_camera", bpy.data.cameras.new("rotationnet_scene_camera"))
            self._objects.append(cam)
            scene.collection.objects.link(cam)
            scene.camera = cam
            for key in ("sensor_fit", "sensor_width", "lens", "shift_x", "shift_y"):
                setattr(cam.data, key, cfg[key])
            cam.data.clip_start, cam.data.clip_end = 0.01, 1e4
            self.camera = cam
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def add(self, name: str, vertices: np.ndarray, faces: np.ndarray, rot: np.ndarray, loc: np.ndarray,
            colour: np.ndarray | None = None, image: np.ndarray | None = None, uv: np.ndarray | None = None):
        """A mesh object at (``rot``, ``loc``) in the world, with a colour, or an image
        texture ((H, W, 3) uint8 RGB) mapped by per-vertex ``uv`` (n, 2)."""
        import bpy
        from mathutils import Matrix

        from .engine import mesh_from_arrays

        me = mesh_from_arrays(name, vertices, faces)
        o = bpy.data.objects.new(name, me)
        self._objects.append(o)
        w = np.eye(4)
        w[:3, :3], w[:3, 3] = rot, loc
        o.matrix_world = Matrix(w.tolist())
        if colour is not None:
            o.color = (*[float(c) for c in colour], 1.0)
        if uv is not None:
            loops = np.asarray(uv, np.float32)[np.asarray(faces).reshape(-1)]
            me.uv_layers.new(name="UVMap").data.foreach_set("uv", loops.reshape(-1))
        if self.color_type == "TEXTURE" and (colour is not None or image is not None):
            mat = bpy.data.materials.new(name)
            self._materials.append(mat)
            if colour is not None:
                mat.diffuse_color = (*[float(c) for c in colour], 1.0)
            if image is not None:
                import cv2

                path = self.tmp / f"{name}.bmp"
                cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1]))
                img = bpy.data.images.load(str(path))
                self._images.append(img)
                if mat.node_tree is None:  # Blender < 5 creates materials without nodes
                    mat.use_nodes = True
                node = mat.node_tree.nodes.new("ShaderNodeTexImage")
                node.image = img
                mat.node_tree.nodes.active = node  # Workbench shows the active image texture
            me.materials.append(mat)
        self.scene.collection.objects.link(o)
        return o

    def look(self, rot: np.ndarray, pos: np.ndarray) -> None:
        """Put the camera at ``pos`` with camera-to-world rotation ``rot``."""
        from mathutils import Matrix

        m = np.eye(4)
        m[:3, :3], m[:3, 3] = rot, pos
        self.camera.matrix_world = Matrix(m.tolist())

    def render(self, name: str = "frame.png") -> np.ndarray:
        """What the camera sees: (H, W, 4) uint8 straight-alpha RGBA."""
        import bpy
        from PIL import Image

        self.scene.render.filepath = str(self.tmp / name)
        bpy.ops.render.render(write_still=True, scene=self.scene.name)
        with Image.open(self.tmp / name) as im:
            return np.asarray(im.convert("RGBA"))

    def __exit__(self, *exc) -> None:
        import shutil

        import bpy

        for o in self._objects:
            data = o.data
            bpy.data.objects.remove(o, do_unlink=True)
            if isinstance(data, bpy.types.Mesh):
                bpy.data.meshes.remove(data)
            elif isinstance(data, bpy.types.Camera):
                bpy.data.cameras.remove(data)
        for m in self._materials:
            bpy.data.materials.remove(m)
        for i in self._images:
            bpy.data.images.remove(i)
        bpy.data.scenes.remove(self.scene)
        shutil.rmtree(self.tmp, ignore_errors=True)


def generate_scene(assets: list[SceneAsset], rng: np.random.Generator, width: int = 640, height: int = 480,
                   look: str = "plain", photos: list[Path] | None = None) -> tuple[np.ndarray, dict]:
    """One picture of ``assets`` standing on a floor and its ground truth.

    Returns:
        (H, W, 3) uint8 RGB and the truth dict (see the module's docstring).
    Raises:
        ValueError: no assets, or an unknown look.
    """
    from .looks import background, degrade

    if not 1 <= len(assets) <= 255 // ID_STEP:
        raise ValueError(f"a scene holds 1 to {255 // ID_STEP} assets, got {len(assets)}")
    _check_look(look)
    poses = _layout(assets, rng)
    world = [a.vertices @ r.T + t for a, (r, t) in zip(assets, poses)]
    intr, cam_r, cam_pos = _camera(np.concatenate(world), rng, width, height)
    colours = _colours(assets, rng, look)
    light_rot = float(rng.uniform(-math.pi, math.pi)) if look == "randomised" else 0.0

    with _Stage(intr) as stage:
        shading = stage.shading
        shading.studiolight_rotate_z = light_rot
        stage.look(cam_r, cam_pos)
        objs = [stage.add(f"rotationnet_scene_{n}", a.vertices, a.faces, r, t, col)
                for n, (a, (r, t), col) in enumerate(zip(assets, poses, colours))]
        rgba = stage.render("scene.png")
        # which object each pixel shows: flat unique colours, then each object alone
        shading.light = "FLAT"
        stage.scene.view_settings.view_transform = "Raw"  # colours written as given, no dither: the ids survive
        stage.scene.render.dither_intensity = 0.0
        for n, o in enumerate(objs):
            o.color = ((n + 1) * ID_STEP / 255.0, 0.0, 0.0, 1.0)
        label = stage.render("ids.png")
        seen = np.where(label[..., 3] > 127, np.round(label[..., 0] / ID_STEP).astype(int), 0)
        alone = []
        for o in objs:
            for other in objs:
                other.hide_render = other is not o
            alone.append(int((stage.render("alone.png")[..., 3] > 127).sum()))

    if look == "randomised":
        side = max(width, height)
        bg, _ = background(rng, side, photos)
        y0, x0 = (side - height) // 2, (side - width) // 2
        bg = bg[y0:y0 + height, x0:x0 + width]
    else:
        bg = np.ones((height, width, 3), np.float32)
    img = _over(rgba, bg)
    picture = degrade(img, rng)[0] if look == "randomised" else np.round(img * 255).astype(np.uint8)

    to_cam = cam_r.T  # world → camera
    objects = []
    for n, (a, (r, t), pts) in enumerate(zip(assets, poses, world)):
        uv = intr.project((pts - cam_pos) @ to_cam.T)
        x0, y0 = np.clip(uv.min(axis=0), 0, [width, height])
        x1, y1 = np.clip(uv.max(axis=0), 0, [width, height])
        vis = int((seen == n + 1).sum())
        objects.append({"asset": a.id, "label": a.label,
                        "box": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                        "rotation_wxyz": matrix_to_quaternion(to_cam @ r).round(9).tolist(),
                        "location": (to_cam @ (t - cam_pos)).round(9).tolist(),
                        "visible": round(vis / alone[n], 4) if alone[n] else 0.0})
    normal = to_cam @ np.array([0.0, 0.0, 1.0])
    truth = {"camera": intr.to_dict(), "objects": objects,
             "floor": {"normal": normal.round(9).tolist(), "offset": float(cam_pos[2])},  # n·p + offset = 0
             "look": look}
    return picture, truth


def _set_meshes(radius: float, wall: float, segments: int = 128
                ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The walk-through's set about the origin, as (vertices, faces, uv): a square
    floor of half-side ``radius`` on z = 0, and a cylindrical wall of that radius and
    height ``wall`` facing in (starting a little below the floor, so no seam shows)."""
    fv = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], np.float64) * [radius, radius, 1]
    floor = (fv, np.array([[0, 1, 2], [0, 2, 3]]), (fv[:, :2] / radius + 1) / 2)
    ang = np.linspace(0.0, 2 * math.pi, segments + 1)
    z0 = -0.02 * radius
    ring = np.stack([radius * np.cos(ang), radius * np.sin(ang)], axis=1)
    wv = np.concatenate([np.c_[ring, np.full(segments + 1, z0)], np.c_[ring, np.full(segments + 1, wall)]])
    b, top = np.arange(segments), np.arange(segments) + segments + 1
    wf = np.concatenate([np.stack([b, top + 1, b + 1], 1), np.stack([b, top, top + 1], 1)])  # wound to face in
    wuv = np.stack([np.tile(ang / (2 * math.pi), 2), np.repeat([0.0, 1.0], segments + 1)], axis=1)
    return floor, (wv, wf, wuv)


def generate_walkthrough(assets: list[SceneAsset], rng: np.random.Generator, frames: int = 48, width: int = 640,
                         height: int = 480, look: str = "plain", photos: list[Path] | None = None
                         ) -> tuple[list[np.ndarray], dict]:
    """A walk around ``assets`` standing on a textured floor inside a textured wall,
    filmed with one hand-held camera, and its ground truth.

    Returns:
        ``frames`` (H, W, 3) uint8 RGB pictures and the truth dict (see the module's docstring).
    Raises:
        ValueError: no assets, no frames, or an unknown look.
    """
    from .looks import degrade

    if not assets:
        raise ValueError("a walk-through needs at least one asset")
    if frames < 1:
        raise ValueError(f"a walk-through needs at least one frame, got {frames}")
    _check_look(look)
    poses = _layout(assets, rng)
    points = np.concatenate([a.vertices @ r.T + t for a, (r, t) in zip(assets, poses)])
    intr, rots, positions = _walk(points, rng, frames, width, height)
    colours = _colours(assets, rng, look)
    light_rot = float(rng.uniform(-math.pi, math.pi)) if look == "randomised" else 0.0

    # the set: big enough that the walk stays inside the wall, which is high enough to
    # fill every frame's top (the rays through the pictures' corners)
    centre = np.r_[(points.min(axis=0)[:2] + points.max(axis=0)[:2]) / 2, 0.0]
    cams = np.array(positions) - centre
    reach = np.hypot(cams[:, 0], cams[:, 1])
    radius = max(3.0 * float(np.linalg.norm(np.ptp(points, axis=0))), 1.3 * float(reach.max()))
    corners = intr.rays(np.array([[0, 0], [width, 0], [0, height], [width, height]], np.float64))
    dirs = np.einsum("fij,cj->fci", np.array(rots), corners)
    climb = dirs[..., 2] / np.maximum(np.hypot(dirs[..., 0], dirs[..., 1]), 1e-9)
    wall = max(0.5 * radius, 1.1 * float(np.max(cams[:, None, 2] + climb * (radius + reach[:, None]))))
    side = int(min(4096, 8 * max(width, height)))
    floor_tex = _texture(rng, side, side, look, photos)
    wall_w = int(min(8192, 2 * side))
    wall_tex = _texture(rng, max(16, round(wall_w * wall / (2 * math.pi * radius))), wall_w, look, photos)
    (fv, ff, fuv), (wv, wf, wuv) = _set_meshes(radius, wall)

    pictures = []
    with _Stage(intr, color_type="TEXTURE") as stage:
        shading = stage.shading
        shading.use_world_space_lighting = True  # the light stays put while the camera walks
        shading.studiolight_rotate_z = light_rot
        shading.show_specular_highlight = False
        stage.add("rotationnet_walk_floor", fv, ff, np.eye(3), centre, image=floor_tex, uv=fuv)
        stage.add("rotationnet_walk_wall", wv, wf, np.eye(3), centre, image=wall_tex, uv=wuv)
        for n, (a, (r, t), col) in enumerate(zip(assets, poses, colours)):
            stage.add(f"rotationnet_walk_{n}", a.vertices, a.faces, r, t, col)
        bg = np.ones((height, width, 3), np.float32)  # where nothing is drawn (the wall leaves nothing)
        for rot, pos in zip(rots, positions):
            stage.look(rot, pos)
            img = _over(stage.render(), bg)
            pictures.append(degrade(img, rng)[0] if look == "randomised" else np.round(img * 255).astype(np.uint8))

    truth = {"camera": intr.to_dict(),
             "frames": [{"rotation_wxyz": matrix_to_quaternion(r.T).round(9).tolist(),
                         "position": np.asarray(p).round(9).tolist()} for r, p in zip(rots, positions)],
             "objects": [{"asset": a.id, "label": a.label, "rotation_wxyz": matrix_to_quaternion(r).round(9).tolist(),
                          "location": np.asarray(t).round(9).tolist(),
                          "size": round(float(np.linalg.norm(np.ptp(a.vertices, axis=0))), 9)}
                         for a, (r, t) in zip(assets, poses)],
             "floor": {"normal": [0.0, 0.0, 1.0], "offset": 0.0},  # n·p + offset = 0, world frame
             "look": look}
    return pictures, truth


def write_video(frames: list[np.ndarray], path, fps: float = 10) -> Path:
    """Write (H, W, 3) uint8 RGB frames as an MP4 (OpenCV, ``mp4v``) at ``path``.

    Raises:
        ValueError: no frames, or frames of different sizes or not uint8 RGB.
        OSError: OpenCV cannot open a video writer at ``path``.
    """
    import cv2

    frames = list(frames)
    if not frames:
        raise ValueError("no frames to write")
    h, w = frames[0].shape[:2]
    for n, f in enumerate(frames):
        if f.shape != (h, w, 3) or f.dtype != np.uint8:
            raise ValueError(f"frame {n} is {f.shape} {f.dtype}, expected ({h}, {w}, 3) uint8 RGB like frame 0")
    path = Path(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    if not writer.isOpened():
        raise OSError(f"cannot write a video at {path}: OpenCV's mp4v writer did not open "
                      f"(does the folder exist, is it writable, does the name end in .mp4?)")
    try:
        for f in frames:
            writer.write(np.ascontiguousarray(f[..., ::-1]))
    finally:
        writer.release()
    return path
