"""Rendering one mesh from every camera of a rig with Blender (``bpy``).

Engines:

* ``fast`` (default): Blender's ``gpu`` module draws the mesh into a
  GPUOffScreen with a headlight Lambert shader (flat face normals, two-sided,
  MVCNN-like shading; grey, or the mesh's own per-vertex colours) and the
  pixels go straight to numpy.
* ``workbench``: Blender's Workbench engine, studio light relative to the
  camera, anti-aliasing selectable.
* ``cycles``: path tracing on the CPU (samples, headlight strength, ambient
  light, denoiser) for images closer to photographs.

All engines share one camera model: the rig's cameras at ``distance`` from the
origin, looking at it with the rig's up vectors, perspective with a field of
view of ``2·asin(1/distance)·1.05`` so the whole unit sphere is in frame in
every view (consistent scale, no clipping).  Depth maps come from the GPU
path for every engine (same cameras, so they match the colour images).

Import this only in a process that may load Blender; torch is never needed.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from rotationnet.core.views import ViewRig, camera_matrices, camera_up_vectors, get_rig

__all__ = ["RenderSettings", "Renderer", "probe_gpu", "ENGINES", "engine_names", "BACKGROUNDS", "encode_depth"]

# The engine registry: name → (description, settings that do not affect its pixels).
# The CLI's choices and the settings check come from here.
ENGINES: dict[str, tuple[str, tuple[str, ...]]] = {
    "fast": ("Blender's gpu module: headlight Lambert, flat faces, all views in one instanced draw",
             ("aa", "samples", "denoiser", "light", "ambient")),
    "workbench": ("Blender's Workbench engine, studio light relative to the camera, selectable anti-aliasing",
                  ("supersample", "samples", "denoiser", "light", "ambient")),
    "cycles": ("CPU path tracing: samples, headlight, ambient light, denoiser",
               ("supersample", "aa")),
}


def engine_names() -> tuple[str, ...]:
    """The registered engines, the default first."""
    return tuple(ENGINES)

_CHUNK = 64  # views per instanced draw (uniform buffer of 64 matrices + eyes)
_ATLAS_PX = 2048  # the offscreen atlas's largest side
BACKGROUNDS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "transparent": None}


@dataclass(frozen=True)
class RenderSettings:
    """Everything that determines the pixels (recorded in the manifest; a change
    makes a resumed run re-render)."""

    rig: ViewRig | str = "ring12"  # a ViewRig, or a spec for get_rig (stored as the ViewRig)
    size: int = 224
    engine: str = "fast"
    background: str = "white"
    color: str = "rgb"  # or "gray"
    depth: bool = False
    distance: float = 2.5
    up_axis: str = "Z"
    object_color: tuple = (0.8, 0.8, 0.8)
    supersample: int = 1  # fast engine: render at k× size and average down
    aa: str = "OFF"  # workbench anti-aliasing: OFF, FXAA, 5, 8, 11, 16, 32 (FXAA ~2×, 8 ~5× slower)
    samples: int = 16  # cycles
    denoiser: str = "none"  # cycles: none, oidn, oidn-fast
    light: float = 2.0  # cycles headlight strength (W/m² of a sun lamp)
    ambient: float = 0.25  # cycles world light strength
    look: str = "plain"  # render.looks: plain, randomised, sketch (the last two: fast engine)
    look_seed: int = 0  # with the object id, seeds every random choice of a look
    look_backgrounds: str = ""  # randomised look: a folder of photos for background crops

    def __post_init__(self):
        if isinstance(self.rig, str):
            object.__setattr__(self, "rig", get_rig(self.rig))  # raises ValueError for an unknown rig
        elif not isinstance(self.rig, ViewRig):
            raise ValueError(f"rig must be a ViewRig or a rig spec, got {type(self.rig).__name__}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {engine_names()}, got {self.engine!r}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {tuple(BACKGROUNDS)}, got {self.background!r}")
        if self.color not in ("rgb", "gray"):
            raise ValueError(f"color must be 'rgb' or 'gray', got {self.color!r}")
        if not 8 <= int(self.size) <= 4096:
            raise ValueError(f"size must be 8..4096 pixels, got {self.size}")
        if self.distance <= 1.05:
            raise ValueError(f"camera distance must exceed the unit sphere (> 1.05), got {self.distance}")
        if self.up_axis.upper() not in ("Z", "Y"):
            raise ValueError(f"up_axis must be Z or Y, got {self.up_axis!r}")
        if self.aa not in ("OFF", "FXAA", "5", "8", "11", "16", "32"):
            raise ValueError(f"workbench aa must be OFF, FXAA, 5, 8, 11, 16 or 32, got {self.aa!r}")
        if self.denoiser not in ("none", "oidn", "oidn-fast"):
            raise ValueError(f"denoiser must be none, oidn or oidn-fast, got {self.denoiser!r}")
        if not 1 <= self.supersample <= 4 or self.samples < 1:
            raise ValueError("supersample must be 1..4 and samples >= 1")
        # the look's name is checked where looks are drawn (render.bulk, render.looks)
        if self.look != "plain" and self.engine != "fast":
            raise ValueError(f"the {self.look} look needs the fast engine, got {self.engine!r}")
        if self.look != "plain" and self.depth:
            raise ValueError(f"depth maps belong to the plain look (the {self.look} look tilts and jitters views)")
        if self.look_backgrounds and self.look != "randomised":
            raise ValueError("look_backgrounds (background photos) belong to the randomised look")

    @classmethod
    def from_dict(cls, d: dict) -> "RenderSettings":
        """Rebuild from :meth:`pixel_settings` output (e.g. a manifest's ``info.settings``)."""
        d = dict(d)
        if isinstance(d.get("rig"), dict):
            d["rig"] = ViewRig.from_dict(d["rig"])
        if "object_color" in d:
            d["object_color"] = tuple(d["object_color"])
        return cls(**d)

    @property
    def channels(self) -> int:
        if self.background == "transparent":
            return 2 if self.color == "gray" else 4
        return 1 if self.color == "gray" else 3

    def pixel_settings(self) -> dict:
        """Only the fields that affect this engine's pixels (for resume checks)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["object_color"] = list(d["object_color"])
        # a named rig by its spec (so earlier renders keep their hash), any other by its cameras
        d["rig"] = self.rig.spec if self.rig.spec != "custom" else self.rig.to_dict()
        for k in ENGINES[self.engine][1]:
            d.pop(k)
        if self.look == "plain":  # earlier renders (before looks) keep their hash
            d.pop("look"), d.pop("look_seed")
        else:
            d.pop("background")  # a look draws its own backgrounds
        if not self.look_backgrounds:
            d.pop("look_backgrounds")
        return d

    @property
    def fov(self) -> float:
        return 2.0 * math.asin(1.0 / self.distance) * 1.05


def encode_depth(depth: np.ndarray, distance: float) -> np.ndarray:
    """Linear depth (distance along the view axis) → uint16: 0..65534 spans
    [distance − 1, distance + 1] (the unit sphere), 65535 = background."""
    near, far = distance - 1.0, distance + 1.0
    out = np.clip((depth - near) / (far - near), 0.0, 1.0) * 65534.0
    out = np.round(out).astype(np.uint16)
    out[~np.isfinite(depth)] = 65535
    return out


_PROBE: dict[str, tuple[bool, str]] = {}

_PROBE_CODE = r"""
import os, sys
os.environ.setdefault("BLENDER_USER_RESOURCES", sys.argv[1])
import bpy
s = bpy.context.scene
s.render.engine = "BLENDER_WORKBENCH"
s.render.resolution_x = s.render.resolution_y = 4
s.render.filepath = os.path.join(sys.argv[1], "probe.png")
bpy.ops.render.render(write_still=True)
import gpu
off = gpu.types.GPUOffScreen(4, 4)
off.free()
print("GPU-OK")
"""


def probe_gpu(timeout: float = 120.0) -> tuple[bool, str]:
    """Can Blender open an OpenGL context here (Mesa EGL)?  Checked once in a
    subprocess, since a failed Workbench render aborts the whole process.
    Returns (ok, reason)."""
    if "gpu" in _PROBE:
        return _PROBE["gpu"]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            r = subprocess.run([sys.executable, "-c", _PROBE_CODE, tmp], capture_output=True, text=True,
                               timeout=timeout)
            ok = r.returncode == 0 and "GPU-OK" in r.stdout
            reason = "" if ok else (r.stderr.strip().splitlines() or [f"exit code {r.returncode}"])[-1]
        except (OSError, subprocess.TimeoutExpired) as e:
            ok, reason = False, str(e)
    _PROBE["gpu"] = (ok, reason)
    return ok, reason


def mesh_from_arrays(name: str, vertices: np.ndarray, faces: np.ndarray):
    """A Blender mesh from (n, 3) vertices and (m, 3) triangles, built with
    ``foreach_set`` (about twice as fast as ``from_pydata``)."""
    import bpy

    v = np.ascontiguousarray(vertices, dtype=np.float32)
    f = np.ascontiguousarray(faces, dtype=np.int32)
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(v))
    me.vertices.foreach_set("co", v.reshape(-1))
    me.loops.add(f.size)
    me.loops.foreach_set("vertex_index", f.reshape(-1))
    me.polygons.add(len(f))
    me.polygons.foreach_set("loop_start", np.arange(0, f.size, 3, dtype=np.int32))
    me.update(calc_edges=True)
    me.validate(clean_customdata=False)
    return me


def _perspective(fov: float, near: float, far: float) -> np.ndarray:
    f = 1.0 / math.tan(fov / 2.0)
    return np.array([[f, 0, 0, 0], [0, f, 0, 0],
                     [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
                     [0, 0, -1, 0]], dtype=np.float64)


class Renderer:
    """Renders meshes (already normalised into the unit sphere) with Blender in
    this process: from every camera of the settings' rig, in rig order, or from
    any cameras given with the call (any number; the fast engine draws them in
    chunks of up to 64 views into one offscreen atlas).

    Example::

        r = Renderer(RenderSettings(rig="ring12", size=224))
        images, depth = r.render(vertices, faces)   # (V, H, W, C) uint8, (V, H, W) float32 | None
        images, _ = r.render(vertices, faces, cameras=dirs, up=ups)   # (N, H, W, C): any N cameras
    """

    def __init__(self, settings: RenderSettings | None = None):
        self.settings = settings or RenderSettings()
        self.rig: ViewRig = self.settings.rig
        os.environ.setdefault("BLENDER_USER_RESOURCES", str(Path(tempfile.gettempdir()) / "rotationnet-blender"))
        import bpy  # noqa: F401  (only here: the rest of the package stays Blender-free)

        self._scratch = Path(tempfile.mkdtemp(prefix="rotationnet-render-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
        self._gpu = None
        self._scene_ready = False
        self._mesh_obj = None

    # -- public ---------------------------------------------------------------
    def render(self, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None,
               cameras: np.ndarray | None = None, up: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """Render one mesh from the rig's cameras or from ``cameras``.

        Args:
            vertices: (n, 3) inside the unit sphere; faces: (m, 3) int.
            colors: optional (n, 3) per-vertex colours in 0..1 (the fast engine;
                default: ``settings.object_color`` everywhere).
            cameras: optional (N, 3) unit directions from the origin towards N
                cameras (any N ≥ 1), instead of the rig's; ``up``: their (N, 3) up
                vectors (default: world +Z projected, :func:`camera_up_vectors`).
        Returns:
            images (V or N, S, S, C) uint8 with C = settings.channels, and linear
            depth (V or N, S, S) float32 (inf = background) when settings.depth.
        """
        s = self.settings
        v = np.ascontiguousarray(vertices, dtype=np.float32)
        f = np.ascontiguousarray(faces, dtype=np.int32)
        cams, ups = self._cameras(cameras, up)
        depth = None
        if s.engine == "fast" or s.depth:
            rgba, depth = self._render_gpu(v, f, cams, ups, want_depth=s.depth,
                                           colors=colors if s.engine == "fast" else None)
        if s.engine != "fast":
            rgba = self._composite(self._render_engine(v, f, cams, ups))
        return self.to_channels(rgba), depth

    def render_file(self, path, rotation=None) -> tuple[np.ndarray, np.ndarray | None, dict]:
        """Load, normalise (and optionally rotate, 3×3) and render a mesh file
        from the rig's cameras.  Returns (images, depth, normalisation
        {"center", "scale"[, "rotation"]}).  Raises MeshError for a bad mesh."""
        from .meshes import load_normalized

        vn, f, _, norm = load_normalized(path, self.settings.up_axis, rotation)
        images, depth = self.render(vn, f)
        return images, depth, norm

    def close(self) -> None:
        import shutil

        import bpy

        if self._gpu is not None:
            self._gpu["offscreen"].free()
            self._gpu = None
        if self._scene_ready:
            if self._mesh_obj is not None:
                me = self._mesh_obj.data
                bpy.data.objects.remove(self._mesh_obj, do_unlink=True)
                bpy.data.meshes.remove(me)
                self._mesh_obj = None
            for obj in list(self._scene.collection.objects):
                bpy.data.objects.remove(obj, do_unlink=True)
            bpy.data.scenes.remove(self._scene)
            self._scene_ready = False
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- output conversion ------------------------------------------------------
    def _composite(self, rgba: np.ndarray) -> np.ndarray:
        """Straight-alpha uint8 RGBA from an engine → RGB blended onto the
        background (unchanged for a transparent background)."""
        bg = BACKGROUNDS[self.settings.background]
        if bg is None:
            return rgba
        a = rgba[..., 3:4].astype(np.float32) / 255.0
        out = rgba[..., :3] * a + np.asarray(bg, np.float32) * 255.0 * (1.0 - a)
        return np.round(out).astype(np.uint8)

    def to_channels(self, img: np.ndarray) -> np.ndarray:
        """RGB or RGBA uint8 images → the settings' channels (gray: luminance)."""
        if self.settings.color == "gray":
            rgb = img[..., :3]
            if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
                lum = rgb[..., :1]
            else:
                lum = np.round(rgb @ np.array([0.299, 0.587, 0.114], np.float32))[..., None].astype(np.uint8)
            img = np.concatenate([lum, img[..., 3:]], axis=-1)
        return np.ascontiguousarray(img)

    # -- GPU path -------------------------------------------------------------
    def _ensure_gpu_context(self) -> None:
        """One tiny Workbench render creates Blender's GPU context (GPUOffScreen
        refuses to work in background mode before that); own scene, so the
        user's scenes are untouched."""
        import bpy

        scene = bpy.data.scenes.get("rotationnet_gpu_init")
        if scene is None:
            scene = bpy.data.scenes.new("rotationnet_gpu_init")
            cam = bpy.data.objects.new("rotationnet_gpu_init", bpy.data.cameras.new("rotationnet_gpu_init"))
            scene.collection.objects.link(cam)
            scene.camera = cam
        scene.render.engine = "BLENDER_WORKBENCH"
        scene.render.resolution_x = scene.render.resolution_y = 4
        scene.render.filepath = str(self._scratch / "init.png")
        bpy.ops.render.render(write_still=True, scene=scene.name)

    def _gpu_state(self) -> dict:
        """Shader and an atlas offscreen holding up to 64 views side by side (as
        many tiles as fit in 2048² pixels), so a chunk of views costs one clear,
        one instanced draw and one read-back of the tiles it used (llvmpipe
        rasterises at read)."""
        if self._gpu is not None:
            return self._gpu
        import gpu

        self._ensure_gpu_context()
        info = gpu.types.GPUShaderCreateInfo()
        info.typedef_source(f"struct RnViews {{ mat4 mvp[{_CHUNK}]; vec4 eye[{_CHUNK}]; }};")
        info.uniform_buf(0, "RnViews", "rnviews")
        iface = gpu.types.GPUStageInterfaceInfo("rotationnet_lambert")
        iface.smooth("VEC3", "wpos")
        iface.smooth("VEC3", "vcol")
        iface.flat("VEC3", "weye")
        info.vertex_in(0, "VEC3", "pos")
        info.vertex_in(1, "VEC3", "col")
        info.push_constant("INT", "cols")
        info.push_constant("INT", "rows")
        info.push_constant("INT", "base")
        info.push_constant("VEC4", "shading")  # ambient, headlight, directional light, mode (1: normals)
        info.push_constant("VEC4", "lightdir")  # world direction towards the light
        info.push_constant("VEC4", "lightcol")  # the directional light's colour
        info.vertex_out(iface)
        info.fragment_out(0, "VEC4", "fragColor")
        # one instance per view: project with the view's camera, then squeeze
        # clip space into the view's tile of the atlas (the unit sphere never
        # leaves its frame, so nothing spills into a neighbouring tile)
        info.vertex_source(
            "void main() {"
            "  int id = gl_InstanceID;"
            "  vec4 p = rnviews.mvp[id] * vec4(pos, 1.0);"
            "  int tile = base + id;"
            "  vec2 sc = vec2(1.0 / float(cols), 1.0 / float(rows));"
            "  vec2 off = vec2(-1.0 + (2.0 * float(tile % cols) + 1.0) * sc.x,"
            "                  1.0 - (2.0 * float(tile / cols) + 1.0) * sc.y);"
            "  p.xy = p.xy * sc + off * p.w;"
            "  gl_Position = p;"
            "  wpos = pos;"
            "  vcol = col;"
            "  weye = rnviews.eye[id].xyz;"
            "}")
        # headlight Lambert, two-sided (|n·v|), flat: the face normal comes from
        # screen-space derivatives, so vertices are shared (indexed drawing);
        # plus an optional directional light (looks), or the normal itself
        # facing the camera, encoded 0..1 (mode 1: line drawings)
        info.fragment_source(
            "void main() {"
            "  vec3 n = normalize(cross(dFdx(wpos), dFdy(wpos)));"
            "  float nv = dot(n, normalize(weye - wpos));"
            "  vec3 nf = nv < 0.0 ? -n : n;"
            "  if (shading.w > 0.5) { fragColor = vec4(nf * 0.5 + 0.5, 1.0); return; }"
            "  float shade = abs(nv);"
            "  float d = max(dot(nf, lightdir.xyz), 0.0);"
            "  fragColor = vec4(vcol * (shading.x + shading.y * shade) + vcol * lightcol.rgb * (shading.z * d), 1.0);"
            "}")
        shader = gpu.shader.create_from_info(info)
        s = self.settings
        k = s.supersample if s.engine == "fast" else 1
        tile = s.size * k
        cap = max(1, min(_CHUNK, (_ATLAS_PX // tile) ** 2))
        cols = math.ceil(math.sqrt(cap))
        rows = math.ceil(cap / cols)
        w, h = cols * tile, rows * tile
        off = gpu.types.GPUOffScreen(w, h, format="RGBA8")
        near, far = max(s.distance - 1.5, 0.01), s.distance + 1.5
        proj = _perspective(s.fov, near, far)
        self._gpu = {"shader": shader, "offscreen": off, "tile": tile, "k": k, "cols": cols, "rows": rows,
                     "cap": cap, "w": w, "h": h, "buf": gpu.types.Buffer("UBYTE", w * h * 4),
                     "dbuf": gpu.types.Buffer("FLOAT", w * h), "proj": proj, "near": near, "far": far}
        self._gpu["rig_ubos"] = self._view_ubos(self.rig.cameras, self.rig.up)
        return self._gpu

    def _view_ubos(self, cameras: np.ndarray, up: np.ndarray) -> list:
        """:meth:`_ubos` of cameras looking at the origin from ``settings.distance``."""
        s, nv = self.settings, len(cameras)
        mats = camera_matrices(cameras, up)
        view = np.tile(np.eye(4), (nv, 1, 1))
        view[:, :3, :3] = np.swapaxes(mats, 1, 2)
        view[:, :3, 3] = -np.einsum("nji,nj->ni", mats, cameras * s.distance)
        return self._ubos(self._gpu["proj"] @ view, cameras * s.distance)

    def _ubos(self, mvp: np.ndarray, eye: np.ndarray) -> list:
        """Per chunk of the atlas's capacity: (first view, count, uniform buffer of
        the views' model-view-projection matrices (N, 4, 4) and eye positions
        (N, 3) in the mesh's frame)."""
        import gpu

        cap, nv = self._gpu["cap"], len(mvp)
        ubos = []
        for start in range(0, nv, cap):
            n = min(cap, nv - start)
            m = np.zeros((_CHUNK, 4, 4))
            e = np.zeros((_CHUNK, 4))
            m[:n], e[:n, :3] = mvp[start:start + n], eye[start:start + n]
            # std140: column-major matrices, then vec4s
            data = np.concatenate([m.transpose(0, 2, 1).reshape(-1), e.reshape(-1)]).astype(np.float32)
            ubos.append((start, n, gpu.types.GPUUniformBuf(gpu.types.Buffer("FLOAT", data.size, data.tolist()))))
        return ubos

    def render_posed(self, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None, *,
                     rotations: np.ndarray, translations: np.ndarray, K: np.ndarray, windows: np.ndarray
                     ) -> np.ndarray:
        """A mesh in its own frame (any size) at given poses, seen through a
        picture's camera (fast engine): view i is the square window
        ``windows[i]`` = (x0, y0, side) of the picture (pixels, top-left origin)
        resampled to the settings' size, with the mesh at ``rotations[i]`` (3, 3)
        and ``translations[i]`` (3,) from its frame into the camera's (Blender
        camera: −Z forward, +Y up) and intrinsics ``K`` (3, 3).  For
        render-and-compare in position and in rotation on whole pictures.

        Returns:
            (N, S, S, C) uint8 as :meth:`render` gives them (no depth).
        Raises:
            ValueError: another engine, or the mesh behind a camera.
        """
        if self.settings.engine != "fast":
            raise ValueError("render_posed needs the fast engine")
        v = np.ascontiguousarray(vertices, dtype=np.float32)
        f = np.ascontiguousarray(faces, dtype=np.int32)
        r = np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
        t = np.asarray(translations, dtype=np.float64).reshape(-1, 3)
        w = np.asarray(windows, dtype=np.float64).reshape(-1, 3)
        k = np.asarray(K, dtype=np.float64)
        depth = -(np.einsum("nij,vj->nvi", r, v.astype(np.float64)) + t[:, None])[..., 2]  # (N, V)
        if np.any(depth.max(axis=1) <= 0):
            raise ValueError("render_posed: the mesh lies behind the camera")
        near = np.maximum(depth.min(axis=1) * 0.9, depth.max(axis=1) * 1e-4)
        far = depth.max(axis=1) * 1.1
        mvp = np.zeros((len(r), 4, 4))
        for i in range(len(r)):
            x0, y0, side = w[i]
            proj = np.array([
                [2 * k[0, 0] / side, -2 * k[0, 1] / side, 1 - 2 * (k[0, 2] - x0) / side, 0],
                [0, 2 * k[1, 1] / side, 2 * (k[1, 2] - y0) / side - 1, 0],
                [0, 0, (far[i] + near[i]) / (near[i] - far[i]), 2 * far[i] * near[i] / (near[i] - far[i])],
                [0, 0, -1, 0]])
            model = np.eye(4)
            model[:3, :3], model[:3, 3] = r[i], t[i]
            mvp[i] = proj @ model
        self._gpu_state()
        eye = -np.einsum("nji,nj->ni", r, t)  # the camera's centre in the mesh frame
        rgba, _ = self._render_gpu(v, f, None, None, want_depth=False, colors=colors, ubos=self._ubos(mvp, eye))
        return self.to_channels(rgba)

    def _cameras(self, cameras, up) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) unit camera directions and up vectors: the given ones, or the rig's."""
        if cameras is None:
            return self.rig.cameras, self.rig.up
        cams = np.asarray(cameras, dtype=np.float64).reshape(-1, 3)
        if len(cams) == 0 or not np.all(np.isfinite(cams)) or np.any(np.linalg.norm(cams, axis=1) < 1e-9):
            raise ValueError(f"cameras must be a non-empty (N, 3) array of finite, non-zero directions, "
                             f"got shape {np.shape(cameras)}")
        cams = cams / np.linalg.norm(cams, axis=1, keepdims=True)
        ups = camera_up_vectors(cams) if up is None else np.asarray(up, dtype=np.float64).reshape(-1, 3)
        if ups.shape != cams.shape:
            raise ValueError(f"up must be (N, 3) like cameras {cams.shape}, got {ups.shape}")
        return cams, ups

    def _tiles(self, atlas: np.ndarray, n: int) -> np.ndarray:
        """(rows·T, c·T, ...) bottom-up block of the atlas → its first ``n`` (n, T, T, ...) top-down tiles."""
        t = self._gpu["tile"]
        rows, cols = atlas.shape[0] // t, atlas.shape[1] // t
        a = atlas[::-1]  # OpenGL rows start at the bottom
        a = a.reshape(rows, t, cols, t, *a.shape[2:]).swapaxes(1, 2).reshape(rows * cols, t, t, *a.shape[2:])
        return a[:n]

    def render_layers(self, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None,
                      light: dict | None = None, normals: bool = False, depth: bool = False,
                      cameras: np.ndarray | None = None, up: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray | None]:
        """Render the rig's views as layers for a look (fast engine): straight-alpha
        RGBA whatever the settings' background, lit by ``light`` or carrying the
        camera-facing normals.

        Args:
            vertices: (n, 3) inside the unit sphere; faces: (m, 3) int.
            colors: optional (n, 3) per-vertex colours in 0..1.
            light: optional {"ambient", "headlight", "strength", "direction" (3,),
                "color" (3,)}: ambient + headlight Lambert + one directional light
                (world frame); default: the plain look's 0.2 + 0.8 headlight.
            normals: RGB = (n + 1) / 2 of the face normal turned towards the camera.
            depth: also return linear depth (V, S, S) float32 (inf = background).
            cameras, up: optional (N, 3) directions towards any N cameras and their
                up vectors, instead of the rig's (as :meth:`render`).
        Returns:
            rgba (V or N, S, S, 4) uint8 and depth or None.
        """
        if self.settings.engine != "fast":
            raise ValueError("render_layers needs the fast engine")
        v = np.ascontiguousarray(vertices, dtype=np.float32)
        f = np.ascontiguousarray(faces, dtype=np.int32)
        cams, ups = self._cameras(cameras, up)
        return self._render_gpu(v, f, cams, ups, want_depth=depth, colors=colors, light=light, normals=normals,
                                alpha=True)

    def _render_gpu(self, v: np.ndarray, f: np.ndarray, cams: np.ndarray | None, ups: np.ndarray | None,
                    want_depth: bool, colors: np.ndarray | None = None, light: dict | None = None,
                    normals: bool = False, alpha: bool = False, ubos: list | None = None):
        """The fast engine: (N, S, S, 3 or 4) uint8 and depth (N, S, S) or None,
        drawn chunk by chunk of the atlas's capacity; the mesh is uploaded once.
        The views are the cameras ``cams``/``ups`` (at ``settings.distance``), or
        ready ``ubos`` (:meth:`_ubos`; then no depth)."""
        import gpu
        from gpu_extras.batch import batch_for_shader

        st = self._gpu_state()
        if ubos is None:
            ubos = st["rig_ubos"] if cams is self.rig.cameras else self._view_ubos(cams, ups)
        s = self.settings
        shader, off, k = st["shader"], st["offscreen"], st["k"]
        if colors is None:
            colors = np.broadcast_to(np.asarray(s.object_color, np.float32), v.shape)
        col = np.ascontiguousarray(colors, dtype=np.float32)
        if col.shape != v.shape:
            raise ValueError(f"colors must be (n, 3) like the vertices {v.shape}, got {col.shape}")
        batch = batch_for_shader(shader, "TRIS", {"pos": v, "col": col}, indices=f)
        near, far = st["near"], st["far"]
        bg = None if alpha else BACKGROUNDS[s.background]
        lt = light or {}
        shading = (float(lt.get("ambient", 0.2)), float(lt.get("headlight", 0.8)), float(lt.get("strength", 0.0)),
                   1.0 if normals else 0.0)
        ldir = np.asarray(lt.get("direction", (0.0, 0.0, 1.0)), np.float64)
        ldir = ldir / max(np.linalg.norm(ldir), 1e-9)
        lcol = tuple(float(c) for c in lt.get("color", (1.0, 1.0, 1.0)))
        ch = 4 if bg is None else 3  # opaque background: alpha is not needed
        t, cols = st["tile"], st["cols"]
        rgba_out, depth_out = [], []
        for start, count, ubo in ubos:
            rows_used = math.ceil(count / cols)
            cols_used = min(count, cols)
            rw, rh, ry = cols_used * t, rows_used * t, st["h"] - rows_used * t  # the used tiles: top-left block
            with off.bind():
                fb = gpu.state.active_framebuffer_get()
                # clearing to the background colour composites for free (binary coverage)
                fb.clear(color=(*(bg if bg is not None else (0.0, 0.0, 0.0)), 0.0), depth=1.0)
                gpu.state.depth_test_set("LESS_EQUAL")
                gpu.state.depth_mask_set(True)
                gpu.state.face_culling_set("NONE")
                gpu.state.viewport_set(0, 0, st["w"], st["h"])
                shader.bind()
                shader.uniform_int("cols", cols)
                shader.uniform_int("rows", st["rows"])
                shader.uniform_float("shading", shading)
                shader.uniform_float("lightdir", (*ldir.tolist(), 0.0))
                shader.uniform_float("lightcol", (*lcol, 0.0))
                shader.uniform_int("base", 0)
                shader.uniform_block("rnviews", ubo)
                batch.draw_instanced(shader, instance_start=0, instance_count=count)
                fb.read_color(0, ry, rw, rh, ch, 0, "UBYTE", data=st["buf"])
                if want_depth:
                    fb.read_depth(0, ry, rw, rh, data=st["dbuf"])
                gpu.state.depth_mask_set(False)
                gpu.state.depth_test_set("NONE")
            flat = np.asarray(st["buf"], dtype=np.uint8)[: rh * rw * ch]
            rgba = self._tiles(flat.reshape(rh, rw, ch), count)
            if k > 1:
                m = rgba.reshape(count, s.size, k, s.size, k, ch).mean(axis=(2, 4))
                if bg is None:  # the average is premultiplied by coverage: undo that
                    m[..., :3] *= 255.0 / np.maximum(m[..., 3:], 1e-6)
                rgba = np.clip(np.round(m), 0, 255).astype(np.uint8)
            rgba_out.append(rgba)
            if want_depth:
                zb = self._tiles(np.asarray(st["dbuf"], dtype=np.float32)[: rh * rw].reshape(rh, rw), count)
                if k > 1:
                    zb = zb[:, ::k, ::k]
                ndc = zb * 2.0 - 1.0
                depth = (2.0 * near * far) / (far + near - ndc * (far - near))
                depth[zb >= 1.0] = np.inf
                depth_out.append(depth.astype(np.float32))
        rgba = rgba_out[0] if len(rgba_out) == 1 else np.concatenate(rgba_out)
        depth = (depth_out[0] if len(depth_out) == 1 else np.concatenate(depth_out)) if want_depth else None
        return rgba, depth


    # -- Workbench / Cycles path ------------------------------------------------
    def _setup_scene(self) -> None:
        import bpy

        s = self.settings
        # a scene of our own: the user's scenes (the add-on) are never touched
        scene = bpy.data.scenes.new("rotationnet_render")
        self._scene = scene
        scene.render.resolution_x = scene.render.resolution_y = s.size
        scene.render.resolution_percentage = 100
        scene.render.film_transparent = True
        scene.render.image_settings.file_format = "PNG"
        scene.render.image_settings.color_mode = "RGBA"
        scene.render.image_settings.color_depth = "8"
        scene.render.image_settings.compression = 0
        scene.view_settings.view_transform = "Standard"
        cam_data = bpy.data.cameras.new("rotationnet_camera")
        cam_data.angle = s.fov
        cam_data.clip_start = max(s.distance - 1.5, 0.01)
        cam_data.clip_end = s.distance + 1.5
        cam = bpy.data.objects.new("rotationnet_camera", cam_data)
        scene.collection.objects.link(cam)
        scene.camera = cam
        mat = bpy.data.materials.new("rotationnet_material")
        mat.diffuse_color = (*s.object_color, 1.0)
        if s.engine == "workbench":
            scene.render.engine = "BLENDER_WORKBENCH"
            scene.display.render_aa = s.aa
            shading = scene.display.shading
            shading.light = "STUDIO"
            shading.color_type = "SINGLE"
            shading.single_color = tuple(s.object_color)
            shading.show_backface_culling = False
        else:
            scene.render.engine = "CYCLES"
            scene.cycles.device = "CPU"
            scene.cycles.samples = s.samples
            scene.cycles.use_adaptive_sampling = False
            scene.cycles.seed = 0
            scene.cycles.use_denoising = s.denoiser != "none"
            if s.denoiser != "none":
                scene.cycles.denoiser = "OPENIMAGEDENOISE"
                scene.cycles.denoising_prefilter = "FAST" if s.denoiser == "oidn-fast" else "ACCURATE"
            scene.render.threads_mode = "AUTO"
            if mat.node_tree is None:  # Blender < 5 creates materials without nodes
                mat.use_nodes = True
            bsdf = mat.node_tree.nodes.get("Principled BSDF")
            if bsdf is not None:
                bsdf.inputs["Base Color"].default_value = (*s.object_color, 1.0)
                bsdf.inputs["Roughness"].default_value = 0.6
            world = bpy.data.worlds.new("rotationnet_world")
            if world.node_tree is None:
                world.use_nodes = True
            bg = world.node_tree.nodes.get("Background")
            bg.inputs["Strength"].default_value = s.ambient
            bg.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
            scene.world = world
            sun = bpy.data.lights.new("rotationnet_headlight", type="SUN")
            sun.energy = s.light
            sun.angle = math.radians(10.0)
            lamp = bpy.data.objects.new("rotationnet_headlight", sun)
            scene.collection.objects.link(lamp)
            lamp.parent = cam  # a sun shines along its local -Z: same as the camera looks
        self._material = mat
        self._camera = cam
        self._scene_ready = True

    def _replace_mesh(self, v: np.ndarray, f: np.ndarray) -> None:
        import bpy

        if self._mesh_obj is not None:
            old = self._mesh_obj.data
            bpy.data.objects.remove(self._mesh_obj, do_unlink=True)
            bpy.data.meshes.remove(old)
        me = mesh_from_arrays("rotationnet_mesh", v, f)
        me.materials.append(self._material)
        obj = bpy.data.objects.new("rotationnet_mesh", me)
        self._scene.collection.objects.link(obj)
        self._mesh_obj = obj

    def _render_engine(self, v: np.ndarray, f: np.ndarray, cams: np.ndarray, ups: np.ndarray) -> np.ndarray:
        import bpy
        from mathutils import Matrix
        from PIL import Image

        if not self._scene_ready:
            self._setup_scene()
        self._replace_mesh(v, f)
        s = self.settings
        scene = self._scene
        out = np.empty((len(cams), s.size, s.size, 4), np.uint8)
        path = self._scratch / "view.png"
        scene.render.filepath = str(path)
        mats = camera_matrices(cams, ups)
        for i in range(len(cams)):
            m = np.eye(4)
            m[:3, :3] = mats[i]
            m[:3, 3] = cams[i] * s.distance
            self._camera.matrix_world = Matrix(m.tolist())
            bpy.ops.render.render(write_still=True, scene=scene.name)
            with Image.open(path) as im:
                out[i] = np.asarray(im.convert("RGBA"))
        return out
