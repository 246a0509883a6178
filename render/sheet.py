"""Contact sheets: one PNG per class, a row per object, a column per view, so a
person can check orientation and framing at a glance (PIL only)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from rotationnet.core.fileio import atomic_path
from rotationnet.core.manifest import load_dataset

__all__ = ["write_sheets"]


def write_sheets(dataset, out_dir=None, thumb: int = 96, max_objects: int | None = 24,
                 split: str | None = None) -> list[Path]:
    """Write ``<out_dir>/<class>.png`` for every class of a rendered dataset
    (default ``out_dir``: ``DATASET/sheets``). Returns the written paths."""
    m = load_dataset(dataset)
    out_dir = Path(out_dir) if out_dir else m.root / "sheets"
    out_dir.mkdir(parents=True, exist_ok=True)
    label_w = 160
    written = []
    az_el = m.rig.azimuth_elevation_deg()
    for cls in m.classes:
        objs = [o for o in m.objects if o.label == cls and (split is None or o.split == split)]
        if max_objects:
            objs = objs[:max_objects]
        if not objs:
            continue
        v = m.rig.num_views
        head = 18
        sheet = Image.new("RGB", (label_w + v * thumb, head + len(objs) * thumb), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        for k in range(v):
            draw.text((label_w + k * thumb + 3, 3), f"{k}: {az_el[k, 0]:.0f}°/{az_el[k, 1]:.0f}°", fill=(0, 0, 0))
        for r, o in enumerate(objs):
            y = head + r * thumb
            draw.text((4, y + thumb // 2 - 12), o.id[-26:], fill=(0, 0, 0))
            draw.text((4, y + thumb // 2 + 2), o.split, fill=(90, 90, 90))
            for k, p in enumerate(m.view_paths(o)):
                try:
                    with Image.open(p) as im:
                        t = im.convert("RGB").resize((thumb, thumb), Image.BILINEAR)
                except OSError:
                    t = Image.new("RGB", (thumb, thumb), (255, 0, 0))
                sheet.paste(t, (label_w + k * thumb, y))
            draw.line([(0, y), (sheet.width, y)], fill=(220, 220, 220))
        path = out_dir / f"{cls}.png"
        with atomic_path(path) as tmp:
            sheet.save(tmp, format="PNG")
        written.append(path)
    return written
