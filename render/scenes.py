"""Synthetic whole pictures with ground truth: several library assets standing
on a floor, seen by a random camera, for tuning and testing the scene stage.

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
the camera frame: ``normal · p + offset = 0``).  Every random choice comes from
the generator given, so a seed gives the same picture.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rotationnet.core.camera import Intrinsics
from rotationnet.core.views import matrix_to_quaternion

__all__ = ["SceneAsset", "generate_scene"]

ID_STEP = 24  # the id render's red levels per asset (up to 10 assets)


@dataclass(frozen=True)
class SceneAsset:
    """One library asset for a scene: its id and class, its mesh in its own
    frame (``vertices`` (n, 3), ``faces`` (m, 3)) and its own colours or None."""

    id: str
    label: str | None
    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray | None = None


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
    z = back
    x = np.cross([0.0, 0.0, 1.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c, s = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    x, y = c * x + s * y, -s * x + c * y
    rot = np.stack([x, y, z], axis=1)
    # the group fills a random share of the picture (as a photo of a set would), kept in the frame
    fill = rng.uniform(0.5, 0.85)
    for _ in range(6):
        uv = intr.project((points - (target + dist * back)) @ rot)
        share = max(np.ptp(uv[:, 0]) / width, np.ptp(uv[:, 1]) / height)
        dist *= max(share / fill, 0.5)
    return intr, rot, target + dist * back


def generate_scene(assets: list[SceneAsset], rng: np.random.Generator, width: int = 640, height: int = 480,
                   look: str = "plain", photos: list[Path] | None = None) -> tuple[np.ndarray, dict]:
    """One picture of ``assets`` standing on a floor and its ground truth.

    Returns:
        (H, W, 3) uint8 RGB and the truth dict (see the module's docstring).
    Raises:
        ValueError: no assets, or an unknown look.
    """
    import bpy
    from mathutils import Matrix
    from PIL import Image

    from .engine import mesh_from_arrays
    from .looks import background, degrade, random_color

    if not 1 <= len(assets) <= 255 // ID_STEP:
        raise ValueError(f"a scene holds 1 to {255 // ID_STEP} assets, got {len(assets)}")
    if look not in ("plain", "randomised"):
        raise ValueError(f"scene look must be plain or randomised, got {look!r}")
    poses = _layout(assets, rng)
    world = [a.vertices @ r.T + t for a, (r, t) in zip(assets, poses)]
    intr, cam_r, cam_pos = _camera(np.concatenate(world), rng, width, height)
    colours = [(random_color(rng) if look == "randomised" else
                (np.asarray(a.colors).mean(axis=0) if a.colors is not None else np.full(3, 0.8)))
               for a in assets]
    light_rot = float(rng.uniform(-math.pi, math.pi)) if look == "randomised" else 0.0

    scene = bpy.data.scenes.new("rotationnet_scene")
    made = []
    tmp = Path(tempfile.mkdtemp(prefix="rotationnet-scene-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    try:
        cfg = intr.blender_camera()
        scene.render.engine = "BLENDER_WORKBENCH"
        scene.render.resolution_x, scene.render.resolution_y = cfg["resolution_x"], cfg["resolution_y"]
        scene.render.resolution_percentage = 100
        scene.render.film_transparent = True
        scene.render.image_settings.file_format = "PNG"
        scene.render.image_settings.color_mode = "RGBA"
        scene.view_settings.view_transform = "Standard"
        scene.display.render_aa = "OFF"
        shading = scene.display.shading
        shading.light, shading.color_type = "STUDIO", "OBJECT"
        shading.studiolight_rotate_z = light_rot
        cam = bpy.data.objects.new("rotationnet_scene_camera", bpy.data.cameras.new("rotationnet_scene_camera"))
        made.append(cam)
        scene.collection.objects.link(cam)
        scene.camera = cam
        for key in ("sensor_fit", "sensor_width", "lens", "shift_x", "shift_y"):
            setattr(cam.data, key, cfg[key])
        cam.data.clip_start, cam.data.clip_end = 0.01, 1e4
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = cam_r, cam_pos
        cam.matrix_world = Matrix(m.tolist())
        objs = []
        for n, (a, (r, t), col) in enumerate(zip(assets, poses, colours)):
            me = mesh_from_arrays(f"rotationnet_scene_{n}", a.vertices, a.faces)
            o = bpy.data.objects.new(f"rotationnet_scene_{n}", me)
            w = np.eye(4)
            w[:3, :3], w[:3, 3] = r, t
            o.matrix_world = Matrix(w.tolist())
            o.color = (*[float(c) for c in col], 1.0)
            scene.collection.objects.link(o)
            objs.append(o)
            made.append(o)

        def render(name: str) -> np.ndarray:
            scene.render.filepath = str(tmp / name)
            bpy.ops.render.render(write_still=True, scene=scene.name)
            with Image.open(tmp / name) as im:
                return np.asarray(im.convert("RGBA"))

        rgba = render("scene.png")
        # which object each pixel shows: flat unique colours, then each object alone
        shading.light = "FLAT"
        scene.view_settings.view_transform = "Raw"  # colours written as given, no dither: the ids survive
        scene.render.dither_intensity = 0.0
        ids = [(o.color[:], o) for o in objs]
        for n, o in enumerate(objs):
            o.color = ((n + 1) * ID_STEP / 255.0, 0.0, 0.0, 1.0)
        label = render("ids.png")
        seen = np.where(label[..., 3] > 127, np.round(label[..., 0] / ID_STEP).astype(int), 0)
        alone = []
        for o in objs:
            for other in objs:
                other.hide_render = other is not o
            alone.append(int((render("alone.png")[..., 3] > 127).sum()))
        for o, (c, _) in zip(objs, ids):
            o.hide_render = False
            o.color = c
    finally:
        for o in made:
            data = o.data
            bpy.data.objects.remove(o, do_unlink=True)
            if isinstance(data, bpy.types.Mesh):
                bpy.data.meshes.remove(data)
            elif isinstance(data, bpy.types.Camera):
                bpy.data.cameras.remove(data)
        bpy.data.scenes.remove(scene)
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)

    if look == "randomised":
        side = max(width, height)
        bg, _ = background(rng, side, photos)
        y0, x0 = (side - height) // 2, (side - width) // 2
        bg = bg[y0:y0 + height, x0:x0 + width]
    else:
        bg = np.ones((height, width, 3), np.float32)
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    img = rgba[..., :3].astype(np.float32) / 255.0 * a + bg * (1 - a)
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
