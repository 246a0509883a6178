"""Generators for the bad-input corpus (tests/test_bad_input.py).

Every case is built from scratch into a temporary folder: a name, the file it
wrote, and what a user must get back — either ``None`` (the input is odd but
valid and must load) or a regular expression the error message must match
(the message must also name the file).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from render.procedural import grid_mesh  # noqa: F401  (re-exported for the tests)

CUBE_V = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], float)
CUBE_F = np.array([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
                   [1, 2, 6], [1, 6, 5], [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7]])


def obj_text(v, f) -> str:
    return "".join(f"v {a!r} {b!r} {c!r}\n" for a, b, c in np.asarray(v, float)) + \
        "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in f)


def off_text(v, f) -> str:
    return f"OFF\n{len(v)} {len(f)} 0\n" + "".join(f"{a!r} {b!r} {c!r}\n" for a, b, c in np.asarray(v, float)) + \
        "".join(f"3 {a} {b} {c}\n" for a, b, c in f)


def ply_binary(v, f) -> bytes:
    head = (f"ply\nformat binary_little_endian 1.0\nelement vertex {len(v)}\nproperty float x\n"
            f"property float y\nproperty float z\nelement face {len(f)}\n"
            "property list uchar int vertex_indices\nend_header\n").encode()
    vb = np.asarray(v, "<f4").tobytes()
    fa = np.zeros(len(f), dtype=[("n", "u1"), ("i", "<i4", (3,))])
    fa["n"], fa["i"] = 3, f
    return head + vb + fa.tobytes()


def mesh_cases(root: Path) -> list[tuple[str, Path, str | None]]:
    """(name, file, expected error regex or None)."""
    root.mkdir(parents=True, exist_ok=True)
    cases = []

    def add(name, fname, data, expect):
        p = root / fname
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        cases.append((name, p, expect))

    add("empty file", "empty.obj", b"", r"empty file")
    add("zero faces", "points.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n", r"no faces|no triangle mesh")
    v = CUBE_V.copy()
    v[3] = np.nan
    add("NaN vertex", "nan.off", off_text(v, CUBE_F), r"NaN or infinite")
    v = CUBE_V.copy()
    v[5, 2] = np.inf
    add("inf vertex", "inf.obj", obj_text(v, CUBE_F), r"NaN or infinite")
    add("all faces degenerate", "flat.obj", obj_text(CUBE_V, np.array([[0, 0, 1], [2, 2, 2], [0, 1, 0]])),
        r"degenerate")
    add("huge coordinate range", "huge.obj", obj_text(CUBE_V * 1e300 - 5e299, CUBE_F), None)
    add("coordinates beyond float range", "overflow.obj", obj_text(CUBE_V, CUBE_F).replace("v 1.0 ", "v 1e400 ", 1),
        r"NaN or infinite")
    add("coordinates at the float limit", "edge.obj", obj_text(CUBE_V * 1.7e308 - 0.85e308, CUBE_F), None)
    full = obj_text(CUBE_V, CUBE_F)
    add("truncated OBJ", "trunc.obj", full[: full.index("f ") + 5], r"no faces|truncated|degenerate|cannot read")
    add("truncated PLY", "trunc.ply", ply_binary(CUBE_V, CUBE_F)[:-30], r"cannot read|truncated|no faces")
    full = off_text(CUBE_V, CUBE_F)
    add("truncated OFF", "trunc.off", full[: len(full) // 2], r"cannot read|truncated|no faces")
    rng = np.random.default_rng(0)
    add("binary garbage .stl", "garbage.stl", rng.bytes(3000), r"cannot read|no faces|no triangle|NaN|degenerate")
    add("binary garbage .glb", "garbage.glb", rng.bytes(3000), r"cannot read|no triangle|no faces")
    add("binary garbage .off", "garbage.off", rng.bytes(3000), r"cannot read|no faces|no triangle")
    add("unsupported extension", "model.fbx", full, r"unsupported mesh format '\.fbx'")
    gltf = ('{"asset": {"version": "2.0"}, "buffers": [{"uri": "missing.bin", "byteLength": 96}],'
            '"bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": 96}],'
            '"accessors": [{"bufferView": 0, "componentType": 5126, "count": 8, "type": "VEC3"}],'
            '"meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],'
            '"nodes": [{"mesh": 0}], "scenes": [{"nodes": [0]}], "scene": 0}')
    add("glTF with a missing buffer", "nobuf.gltf", gltf, r"missing\.bin|cannot read|buffer")
    add("text file named .ply", "notes.ply", "just some notes\n", r"cannot read|no faces|no triangle")
    return cases


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header claims w×h RGB but whose data is a few bytes: the
    decoder would allocate w·h·3 bytes if it got that far."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def image_cases(root: Path) -> list[tuple[str, Path, str | None]]:
    root.mkdir(parents=True, exist_ok=True)
    cases = []
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[10:30, 10:30] = (200, 60, 20)

    def save(name, fname, img, expect, **kw):
        p = root / fname
        img.save(p, **kw)
        cases.append((name, p, expect))

    def raw(name, fname, data, expect):
        p = root / fname
        p.write_bytes(data)
        cases.append((name, p, expect))

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    raw("truncated PNG", "trunc.png", buf.getvalue()[: len(buf.getvalue()) // 2], r"cannot read image")
    a16 = (np.linspace(0, 65535, 40 * 40).reshape(40, 40)).astype(np.uint16)
    save("16-bit PNG", "gray16.png", Image.fromarray(a16), None)
    save("palette PNG", "palette.png", Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE), None)
    save("CMYK JPEG", "cmyk.jpg", Image.fromarray(rgb).convert("CMYK"), None, format="JPEG")
    rgba = np.dstack([rgb, np.full((40, 40), 128, np.uint8)])
    save("RGBA PNG", "rgba.png", Image.fromarray(rgba, "RGBA"), None)
    save("1×1 image", "one.png", Image.new("RGB", (1, 1), (9, 9, 9)), None)
    raw("20000×20000 PNG", "huge.png", _png_header_only(20000, 20000), r"above the limit of .*refused before decoding")
    raw("text file named .png", "text.png", b"this is not an image\n", r"cannot read image")
    raw("empty .jpg", "empty.jpg", b"", r"cannot read image|empty")
    return cases
