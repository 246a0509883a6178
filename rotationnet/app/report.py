"""Human-readable reports: training curves, prediction sheets and an HTML page."""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path

import numpy as np

from rotationnet.core.fileio import atomic_path, atomic_write_text

__all__ = ["plot_training_curves", "prediction_sheet", "write_html_report"]


def plot_training_curves(log_csv, path) -> Path:
    """Loss and accuracy per epoch from a run's log.csv → PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(open(log_csv)))
    ep = [int(r["epoch"]) for r in rows]

    def col(k):
        return [float(r[k]) if r.get(k) not in (None, "", "nan") else np.nan for r in rows]

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(ep, col("train_loss"), label="train")
    a.plot(ep, col("val_loss"), label="validation")
    a.set_yscale("log")
    a.set_xlabel("epoch")
    a.set_title("RotationNet loss")
    b.plot(ep, col("train_acc"), label="train")
    b.plot(ep, col("val_acc"), label="validation")
    b.set_ylim(0, 1.02)
    b.set_xlabel("epoch")
    b.set_title("object accuracy (all views)")
    phases = [r["phase"] for r in rows]
    if "finetune" in phases and "head" in phases:
        x = ep[phases.index("finetune")] - 0.5
        for ax in (a, b):
            ax.axvline(x, color="gray", ls=":", lw=1)
            ax.text(x, ax.get_ylim()[1], " fine-tuning", va="top", fontsize=8, color="gray")
    for ax in (a, b):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def prediction_sheet(references: list[np.ndarray], asset_views: list[np.ndarray], title: str,
                     true_label: str | None, path, size: int = 160) -> Path:
    """References on top; below each, the matched asset rendered from the view
    its predicted slot maps to; a title with the predicted class."""
    import textwrap

    from PIL import Image, ImageDraw

    n = len(references)
    width = n * (size + 8) + 8
    lines = textwrap.wrap(title, max(20, (width - 16) // 6)) or [""]  # the default font: ~6 px a character
    if true_label is not None:
        lines.append(f"true class: {true_label}")
    head = 8 + 13 * len(lines)
    sheet = Image.new("RGB", (width, head + 2 * (size + 20)), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    ok = true_label is None or title.split(" ")[0] == true_label
    for i, line in enumerate(lines):
        grey = true_label is not None and i == len(lines) - 1
        d.text((8, 6 + 13 * i), line, fill=(80, 80, 80) if grey else (0, 110, 0) if ok else (190, 0, 0))
    for i, (ref, av) in enumerate(zip(references, asset_views)):
        x = 8 + i * (size + 8)
        d.text((x, head), "reference", fill=(0, 0, 0))
        sheet.paste(Image.fromarray(ref).convert("RGB").resize((size, size)), (x, head + 12))
        d.text((x, head + size + 20), "asset, predicted pose", fill=(0, 0, 0))
        sheet.paste(Image.fromarray(av).convert("RGB").resize((size, size)), (x, head + size + 32))
    path = Path(path)
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path


def _fmt(x):
    return f"{x:.3f}" if isinstance(x, float) else html.escape(str(x))


def write_html_report(out_dir, title: str, metrics: dict, images: dict[str, str], predictions: list[dict],
                      notes: list[str]) -> Path:
    """``out_dir/index.html``: numbers, pictures and prediction sheets (paths
    relative to ``out_dir``)."""
    out = Path(out_dir)
    rows = []
    for k, v in metrics.items():
        if isinstance(v, dict):
            v = ", ".join(f"{kk}: {_fmt(vv)}" for kk, vv in v.items())
        rows.append(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v) if not isinstance(v, str) else v}</td></tr>")
    pics = "".join(f'<figure><img src="{html.escape(p)}"><figcaption>{html.escape(c)}</figcaption></figure>'
                   for c, p in images.items())
    preds = "".join(
        f'<figure><img src="{html.escape(p["sheet"])}"><figcaption>{html.escape(p["caption"])}</figcaption></figure>'
        for p in predictions)
    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }}
img {{ max-width: 100%; border: 1px solid #ddd; }} figcaption {{ font-size: 0.85em; color: #555; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<ul>{note_html}</ul>
<h2>Numbers (held-out objects)</h2><table>{''.join(rows)}</table>
<h2>Predictions</h2><p>Reference images on top; below each, the matched asset rendered from the viewpoint
the network predicted for that image. Green title: right class.</p>{preds}
<h2>Training and confusion</h2>{pics}
<h2>Raw numbers</h2><pre>{html.escape(json.dumps(metrics, indent=2))}</pre>
</body></html>
"""
    path = out / "index.html"
    atomic_write_text(path, page)
    return path
