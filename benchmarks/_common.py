"""Shared bits of the benchmark scripts: machine description, JSON output, tables."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout; ROTATIONNET_SHARED_DATA overrides
SHARED = Path(os.environ.get("ROTATIONNET_SHARED_DATA", ROOT.parent / "shared" / "data"))


def machine() -> dict:
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


def write_result(name: str, rows: list[dict], extra: dict | None = None) -> Path:
    """Write benchmarks/results/<name>.json (atomically) with machine, date and command."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "benchmark": name,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.executable).name] + sys.argv),
        "machine": machine(),
        "rows": rows,
    }
    if extra:
        out.update(extra)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths)))


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return "" if x is None else str(x)


def psb8(psb: Path, work: Path) -> Path:
    """Every third psb24 category (8 of 24), linked (not copied) into ``work/psb8``:
    the library of the benchmarks' ``--quick`` modes."""
    lib = Path(work) / "psb8"
    if not lib.exists():
        lib.mkdir(parents=True)
        for c in sorted(p.name for p in Path(psb).iterdir() if p.is_dir())[::3]:
            (lib / c).symlink_to(Path(psb) / c)
    return lib
