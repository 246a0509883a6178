"""Bulk rendering of a mesh library into a RotationNet dataset.

Output::

    OUT/{train,test}/<class>/<object>_<view:03d>.png      colour, rig order
    OUT/{train,test}/<class>/<object>_<view:03d>_depth.png (with --depth; uint16, see encode_depth)
    OUT/.records/<split>/<class>/<object>.json            one per finished object
    OUT/manifest.json                                     rotationnet.core.manifest schema
    OUT/render.log                                        readable log

Every image is written atomically; an object's record is written last, so it
is the commit point: a rerun skips an object when its record exists, names the
same mesh hash and the same pixel settings, and all its images are there.
Rendering runs in separate processes (``workers``, one Blender each), so a
mesh that crashes Blender fails alone and the run goes on with a new worker.
``shard=(i, n)`` renders every n-th mesh starting at i, for render farms; the
manifest lists every finished object in OUT rendered with the same settings,
so shards writing into one folder add up to one dataset; shards rendered into
separate folders (other machines) are joined with :func:`merge_shards`
(``rotationnet merge OUT SHARD...``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import multiprocessing as mp
import os
import queue
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rotationnet.core.errors import DataError
from rotationnet.core.fileio import atomic_path, atomic_write_json, ensure_writable_dir, remove_stale_temporaries
from rotationnet.core.manifest import Manifest, ObjectEntry, natural_key

from .looks import look_names, look_rng, photo_backgrounds, render_look
from .meshes import MeshError, MeshJob, file_sha256, find_meshes, load_normalized
from .meshes import rotated_copies as make_rotated_copies

__all__ = ["Summary", "render_library", "settings_hash", "render_job", "write_manifest", "merge_shards", "mix_looks"]

log = logging.getLogger("rotationnet.render")
RECORDS = ".records"


def settings_hash(settings) -> str:
    blob = json.dumps(settings.pixel_settings(), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _record_path(out: Path, job: MeshJob) -> Path:
    return out / RECORDS / job.split / job.label / f"{job.name}.json"


def _view_rel(job: MeshJob, v: int, suffix: str = "") -> str:
    return f"{job.split}/{job.label}/{job.name}_{v:03d}{suffix}.png"


def _is_done(out: Path, job: MeshJob, sha: str, shash: str) -> bool:
    rp = _record_path(out, job)
    try:
        rec = json.loads(rp.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if rec.get("settings_hash") != shash or rec.get("source", {}).get("sha256") != sha:
        return False
    files = rec.get("views", []) + rec.get("depth", [])
    return bool(files) and all((out / f).is_file() for f in files)


def _save_png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    if arr.dtype == np.uint16:
        img = Image.fromarray(arr)  # 16-bit grayscale
    elif arr.shape[-1] == 1:
        img = Image.fromarray(arr[..., 0], "L")
    elif arr.shape[-1] == 2:
        img = Image.fromarray(arr, "LA")
    else:
        img = Image.fromarray(arr)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG", compress_level=1)


@functools.lru_cache(maxsize=4)
def _photos(folder: str) -> list[Path]:
    """The background photos of the randomised look, listed once per process."""
    return photo_backgrounds(folder)


def render_job(renderer, job: MeshJob, out: Path, shash: str, sha: str | None = None) -> dict:
    """Render one mesh into ``out`` and write its record; returns the record.

    Raises:
        MeshError: unreadable or unusable mesh (names the file).
    """
    from .engine import encode_depth

    s = renderer.settings
    sha = sha or file_sha256(job.path)
    look = None
    if s.look == "plain":
        images, depth, norm = renderer.render_file(job.path, job.rotation)
    else:  # the look draws on the renderer's layers, seeded by (look seed, object id)
        vn, f, colors, norm = load_normalized(job.path, s.up_axis, job.rotation, colored=True)
        photos = _photos(s.look_backgrounds) if s.look_backgrounds else None
        images, look = render_look(renderer, s.look, vn, f, look_rng(s.look_seed, job.object_id), colors, photos)
        images, depth = renderer.to_channels(images), None
    views = []
    for i, img in enumerate(images):
        rel = _view_rel(job, i)
        _save_png(out / rel, img)
        views.append(rel)
    depth_files = []
    if depth is not None:
        for i, d in enumerate(depth):
            rel = _view_rel(job, i, "_depth")
            _save_png(out / rel, encode_depth(d, s.distance))
            depth_files.append(rel)
    rec = {
        "id": job.object_id, "split": job.split, "class": job.label, "views": views,
        "source": {"path": str(job.path), "sha256": sha},
        "normalization": norm, "settings_hash": shash,
    }
    if depth_files:
        rec["depth"] = depth_files
    if look is not None:
        rec["look"] = look
    atomic_write_json(_record_path(out, job), rec)
    return rec


def _drop_blender_script_paths() -> None:
    """A spawned child inherits the parent's sys.path; if the parent imported
    bpy, that holds Blender's ``scripts/modules`` whose pure-Python ``bpy``
    package would shadow the real module.  Drop those entries."""
    import sys

    sys.path[:] = [p for p in sys.path
                   if not (os.sep + "bpy" + os.sep in p and os.sep + "scripts" in p)]


def _worker(wid: int, settings, out: str, jobs, results) -> None:
    """Worker process: one Blender, jobs from a queue until a None arrives."""
    _drop_blender_script_paths()
    # Blender prints a line per engine render and Mesa warns on stderr: keep the
    # user's terminal for the progress bar and send both to a log file
    fd = os.open(os.path.join(out, "render-workers.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    from .engine import Renderer

    s = settings
    shash = settings_hash(s)
    try:
        renderer = Renderer(s)
    except Exception as e:  # pragma: no cover - environment problem
        results.put(("fatal", wid, None, f"cannot start Blender: {type(e).__name__}: {e}"))
        return
    while True:
        item = jobs.get()
        if item is None:
            break
        idx, job, sha = item
        results.put(("start", wid, idx, None))
        t0 = time.time()
        try:
            render_job(renderer, job, Path(out), shash, sha)
            results.put(("done", wid, idx, time.time() - t0))
        except MeshError as e:
            results.put(("failed", wid, idx, str(e)))
        except Exception as e:
            results.put(("failed", wid, idx, f"{job.path}: {type(e).__name__}: {e}"))
    renderer.close()
    results.put(("exit", wid, None, None))


@dataclass
class Summary:
    total: int = 0
    rendered: int = 0
    skipped: int = 0
    failed: list = field(default_factory=list)  # (path, reason)
    seconds: float = 0.0
    views: int = 0
    manifest: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict:
        d = asdict(self)
        d["failed"] = [{"path": p, "reason": r} for p, r in self.failed]
        d["views_per_second"] = self.views / self.seconds if self.seconds > 0 else None
        return d


def _setup_log(out: Path) -> logging.Handler:
    h = logging.FileHandler(out / "render.log")
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.addHandler(h)
    log.setLevel(logging.INFO)
    return h




def render_library(source, out, settings, workers: int = 1, shard: tuple[int, int] = (0, 1),
                   limit: int | None = None, test_fraction: float = 0.2, seed: int = 0,
                   progress: bool = True, rotated_copies: int = 0) -> Summary:
    """Render a mesh library (folder or list file) into ``out``.

    ``rotated_copies`` adds, per training mesh, that many copies turned by a
    random rotation (see :func:`render.meshes.rotated_copies`).

    Returns a :class:`Summary`; meshes that fail are listed there with their
    reason and the others are rendered anyway.
    Raises:
        DataError: no meshes, unwritable output, bad shard.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    i, n = shard
    if settings.look not in look_names():
        raise DataError(f"look must be one of {', '.join(look_names())}, got {settings.look!r}")
    if not (n >= 1 and 0 <= i < n):
        raise DataError(f"bad shard {i}/{n}: use i/n with 0 <= i < n")
    ensure_writable_dir(out)
    removed = remove_stale_temporaries(out)  # partial files of a killed earlier run
    handler = _setup_log(out)
    if removed:
        log.info("removed %d partial files left by an interrupted run", removed)
    t_start = time.time()
    try:
        all_jobs = find_meshes(source, test_fraction=test_fraction, seed=seed)
        if rotated_copies:
            all_jobs += make_rotated_copies(all_jobs, rotated_copies, settings.rig.upright, seed)
        jobs = all_jobs[i::n]
        if limit is not None:
            jobs = jobs[:limit]
        shash = settings_hash(settings)
        rig = settings.rig
        summary = Summary(total=len(jobs))
        log.info("render %s → %s: %d meshes (shard %d/%d), rig %s, engine %s, %d px, settings %s",
                 source, out, len(jobs), i, n, settings.rig.spec, settings.engine, settings.size, shash)
        pending = []
        for idx, job in enumerate(jobs):
            try:
                sha = file_sha256(job.path)
            except OSError as e:
                summary.failed.append((str(job.path), f"cannot read file: {e}"))
                log.error("failed %s: cannot read file: %s", job.path, e)
                continue
            if _is_done(out, job, sha, shash):
                summary.skipped += 1
            else:
                pending.append((idx, job, sha))
        if summary.skipped:
            log.info("skipping %d objects already rendered with these settings", summary.skipped)
        if pending:
            _run_workers(pending, out, settings, max(1, min(workers, len(pending))), summary, rig.num_views,
                         tqdm, progress)
        summary.seconds = time.time() - t_start
        summary.manifest = str(write_manifest(out, settings, summary))
        log.info("done in %.1fs: %d rendered, %d skipped, %d failed; %.1f views/s; manifest %s",
                 summary.seconds, summary.rendered, summary.skipped, len(summary.failed),
                 summary.views / summary.seconds if summary.seconds else 0.0, summary.manifest)
        for p, r in summary.failed:
            log.info("  failed: %s", r if str(p) in r else f"{p}: {r}")
        return summary
    finally:
        log.removeHandler(handler)
        handler.close()


def _run_workers(pending, out: Path, settings, workers: int, summary: Summary, num_views: int, tqdm, progress):
    ctx = mp.get_context("spawn")
    jobs_q, results = ctx.Queue(), ctx.Queue()
    for item in pending:
        jobs_q.put(item)
    for _ in range(workers):
        jobs_q.put(None)
    procs: dict[int, mp.Process] = {}
    current: dict[int, int] = {}
    by_idx = {idx: job for idx, job, _ in pending}
    next_id = 0

    def spawn():
        nonlocal next_id
        p = ctx.Process(target=_worker, args=(next_id, settings, str(out), jobs_q, results), daemon=True)
        p.start()
        procs[next_id] = p
        next_id += 1

    for _ in range(workers):
        spawn()
    finished = 0
    bar = tqdm(total=len(pending), desc="render", unit="obj", disable=not progress)
    t0 = time.time()
    try:
        while finished < len(pending):
            try:
                kind, wid, idx, info = results.get(timeout=1.0)
            except queue.Empty:
                for wid, p in list(procs.items()):
                    if not p.is_alive() and p.exitcode not in (0, None):
                        del procs[wid]
                        if wid in current:
                            job = by_idx[current.pop(wid)]
                            summary.failed.append((str(job.path), f"{job.path}: renderer process crashed "
                                                                  f"(exit code {p.exitcode})"))
                            log.error("failed %s: renderer process crashed (exit code %s)", job.path, p.exitcode)
                            finished += 1
                            bar.update(1)
                        if finished < len(pending):
                            spawn()  # takes the dead worker's place (and its None)
                if not procs and finished < len(pending):
                    raise DataError("all render workers exited early; see render.log")
                continue
            if kind == "start":
                current[wid] = idx
            elif kind in ("done", "failed"):
                current.pop(wid, None)
                finished += 1
                job = by_idx[idx]
                if kind == "done":
                    summary.rendered += 1
                    summary.views += num_views
                    log.info("rendered %s (%.2fs)", job.object_id, info)
                else:
                    summary.failed.append((str(job.path), info))
                    log.error("failed %s", info)
                el = max(time.time() - t0, 1e-9)
                bar.set_postfix(obj_s=f"{summary.rendered / el:.1f}", views_s=f"{summary.views / el:.0f}",
                                failed=len(summary.failed))
                bar.update(1)
            elif kind == "fatal":
                raise DataError(info)
            elif kind == "exit":
                p = procs.pop(wid, None)
                if p is not None:
                    p.join(timeout=5)
    finally:
        bar.close()
        for p in procs.values():
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()


def write_manifest(out: Path, settings, summary: Summary | None = None) -> Path:
    """Collect every record in ``out`` rendered with ``settings`` into
    ``out/manifest.json`` (atomically)."""
    import platform

    shash = settings_hash(settings)
    rig = settings.rig
    objects = []
    for rp in sorted((out / RECORDS).rglob("*.json")) if (out / RECORDS).is_dir() else []:
        try:
            rec = json.loads(rp.read_text())
        except (OSError, json.JSONDecodeError):
            log.warning("ignoring unreadable record %s", rp)
            continue
        if rec.get("settings_hash") != shash:
            continue
        objects.append(ObjectEntry(id=rec["id"], split=rec["split"], label=rec["class"], views=rec["views"],
                                   source=rec["source"], normalization=rec["normalization"]))
    objects.sort(key=lambda o: (o.split != "train", o.split, o.label, natural_key(o.id)))
    classes = sorted({o.label for o in objects})
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for dist in ("bpy", "trimesh", "numpy", "rotationnet"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = None
    info = {
        "renderer": "rotationnet.render (Blender)", "settings": settings.pixel_settings(),
        "settings_hash": shash, "versions": versions,
        "depth_encoding": "uint16 PNG: 0..65534 = linear depth distance-1..distance+1, 65535 = background"
        if settings.depth else None,
    }
    m = Manifest(root=out, rig=rig, classes=classes, objects=objects, info=info)
    return m.save()


def mix_looks(out, looks: list[str]) -> Path:
    """One training set from the same library rendered in several looks:
    ``out/<look>/manifest.json`` (one :func:`render_library` run per look) →
    ``out/manifest.json`` whose objects are every look's objects, ids suffixed
    ``@<look>`` and views pointing into the look's folder.

    Raises:
        DataError: a look folder without a manifest, or looks rendered with
            different rigs or classes.
    """
    out = Path(out)
    objects, rig, info = [], None, {"mixed_looks": {}}
    classes: set[str] = set()
    for look in looks:
        m = Manifest.load(out / look / "manifest.json")
        if rig is not None and m.rig.to_dict() != rig.to_dict():
            raise DataError(f"{m.origin}: rig '{m.rig.spec}' differs from the other looks' '{rig.spec}'")
        rig = m.rig
        classes |= set(m.classes)
        info["mixed_looks"][look] = m.info.get("settings")
        for o in m.objects:
            objects.append(ObjectEntry(id=f"{o.id}@{look}", split=o.split, label=o.label,
                                       views=[f"{look}/{v}" for v in o.views], source=o.source,
                                       normalization=o.normalization))
    objects.sort(key=lambda o: (o.split != "train", o.split, o.label, natural_key(o.id)))
    return Manifest(root=out, rig=rig, classes=sorted(classes), objects=objects, info=info).save()


def _place(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` where the file system allows, else copy; atomic."""
    import shutil

    with atomic_path(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def merge_shards(shards, out, progress: bool = True) -> Path:
    """Merge render outputs (e.g. one per ``--shard i/n`` job on different
    machines) into one dataset in ``out``: their images and records are linked
    or copied there and one manifest is written, the same as a single run's.

    Every shard must have been rendered with the same settings (pixel settings
    hash) and rig.  Rerunning the merge, or merging more shards later, is safe:
    an object already merged (same id, settings and mesh hash) is kept, missing
    files of it are filled in, and an object made from another mesh under the
    same id is refused.  Returns the manifest path.
    Raises:
        DataError: a shard without a manifest, settings that differ, or
            conflicting objects (naming the shard and the object).
    """
    from tqdm.auto import tqdm

    from .engine import RenderSettings

    out = Path(out)
    shards = [Path(s) for s in shards]
    if not shards:
        raise DataError("merge: no shard folders given")
    ensure_writable_dir(out)
    remove_stale_temporaries(out)
    settings, shash, first = None, None, None
    for s in shards:
        m = Manifest.load(s / "manifest.json")  # DataError names the file
        sh = m.info.get("settings_hash")
        if sh is None or "settings" not in m.info:
            raise DataError(f"{s / 'manifest.json'}: not written by rotationnet render (no render settings)")
        if shash is None:
            shash, first = sh, s
            settings = RenderSettings.from_dict(m.info["settings"])
            if settings_hash(settings) != sh:
                raise DataError(f"{s / 'manifest.json'}: render settings do not match their recorded hash")
        elif sh != shash:
            raise DataError(f"{s / 'manifest.json'}: rendered with other settings ({sh}) than {first} ({shash})")
    if (out / "manifest.json").is_file():  # merging into an earlier merge: same settings only
        prev = Manifest.load(out / "manifest.json").info.get("settings_hash")
        if prev != shash:
            raise DataError(f"{first / 'manifest.json'}: rendered with other settings ({shash}) than the dataset "
                            f"already in {out} ({prev})")
    owner: dict[str, Path] = {}
    for s in shards:
        recs = sorted((s / RECORDS).rglob("*.json")) if (s / RECORDS).is_dir() else []
        for rp in tqdm(recs, desc=f"merge {s.name}", unit="obj", disable=not progress):
            try:
                rec = json.loads(rp.read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise DataError(f"{rp}: unreadable render record: {e}") from None
            if rec.get("settings_hash") != shash:
                continue
            rel = rp.relative_to(s)
            files = rec.get("views", []) + rec.get("depth", [])
            for f in files:
                if not (s / f).is_file():
                    raise DataError(f"{s / f}: listed by {rp} but missing (shard incomplete?)")
            target = out / rel
            if target.exists():  # the same object from an overlapping shard or an earlier merge
                try:
                    have = json.loads(target.read_text())
                except (OSError, json.JSONDecodeError):
                    have = {}
                same = (have.get("id") == rec["id"] and have.get("settings_hash") == shash
                        and have.get("source", {}).get("sha256") == rec.get("source", {}).get("sha256"))
                if not same:
                    where = owner.get(rec["id"], out)
                    raise DataError(f"{rp}: object '{rec['id']}' comes from another mesh than the one already "
                                    f"merged from {where}")
                for f in have.get("views", []) + have.get("depth", []):  # repair what is missing
                    if not (out / f).is_file():
                        src = s / f
                        if not src.is_file():
                            raise DataError(f"{out / f}: missing, and {s} does not have it either")
                        _place(src, out / f)
                continue
            for f in files:
                _place(s / f, out / f)
            _place(rp, target)  # the record last: it commits the object
            owner[rec["id"]] = s
    return write_manifest(out, settings)
