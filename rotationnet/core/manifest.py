"""The dataset manifest: one definition, shared by the renderer, training and the
Blender add-on (standard library + numpy only, no torch).

A manifest is ``manifest.json`` at the top of a dataset folder::

    {
      "format": "rotationnet-dataset",
      "version": 1,
      "rig": {"spec": "ring12", "num_views": 12, "num_candidates": 12,
              "upright": true, "cameras": [[x, y, z], ...]},
      "classes": ["chair", "mug", ...],
      "objects": [
        {"id": "chair_0001", "split": "train", "class": "chair",
         "views": ["train/chair/chair_0001_000.png", ...],      # V paths, rig order,
                                                                # relative to the folder
         "source": {"path": "meshes/chair/train/chair_0001.off", "sha256": "..."},
         "normalization": {"center": [x, y, z], "scale": s}},   # optional fields
        ...
      ],
      "info": {"renderer": ..., "settings": ..., "versions": ...}  # free-form
    }

Three inputs become a :class:`Manifest` in memory (:func:`load_dataset`):

(a) a ``manifest.json`` (written by the renderer),
(b) the plain pytorch-rotationnet layout
    ``ROOT/{train,test}/<class>/<object>_<view:03d>.<ext>`` (views in
    lexicographic order), and
(c) ordered photo sets: one folder per object, ``ROOT/<object>/*`` (the
    object is its own class) or ``ROOT/<class>/<object>/*``, images in natural
    order (``img2`` before ``img10``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import DataError
from .fileio import atomic_write_json
from .views import ViewRig, get_rig

__all__ = [
    "FORMAT",
    "VERSION",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "ObjectEntry",
    "Manifest",
    "load_dataset",
    "natural_key",
]

FORMAT = "rotationnet-dataset"
VERSION = 1
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")  # walk-through videos
MANIFEST_NAME = "manifest.json"


@dataclass
class ObjectEntry:
    """One object: its V view images in rig order (paths relative to the
    manifest's folder, POSIX separators)."""

    id: str
    split: str
    label: str
    views: list[str]
    source: dict | None = None
    normalization: dict | None = None

    def to_dict(self) -> dict:
        d = {"id": self.id, "split": self.split, "class": self.label, "views": list(self.views)}
        if self.source is not None:
            d["source"] = self.source
        if self.normalization is not None:
            d["normalization"] = self.normalization
        return d


@dataclass
class Manifest:
    """A multi-view dataset: rig, classes and objects.  ``root`` is the folder
    view paths are relative to (not stored in the JSON)."""

    root: Path
    rig: ViewRig
    classes: list[str]
    objects: list[ObjectEntry]
    info: dict = field(default_factory=dict)
    origin: str = ""  # where it was read from, for messages

    # -- access ---------------------------------------------------------------
    def split(self, name: str) -> list[ObjectEntry]:
        return [o for o in self.objects if o.split == name]

    @property
    def splits(self) -> list[str]:
        return sorted({o.split for o in self.objects})

    def class_index(self, label: str) -> int:
        try:
            return self.classes.index(label)
        except ValueError:
            raise DataError(f"{self.origin or self.root}: class '{label}' is not one of {self.classes}") from None

    def view_paths(self, obj: ObjectEntry) -> list[Path]:
        return [self.root / p for p in obj.views]

    # -- (de)serialisation ----------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "rig": self.rig.to_dict(),
            "classes": list(self.classes),
            "objects": [o.to_dict() for o in self.objects],
            "info": self.info,
        }

    def save(self, path=None) -> Path:
        """Write atomically (default ``root/manifest.json``); returns the path."""
        path = Path(path) if path is not None else self.root / MANIFEST_NAME
        self.validate()
        atomic_write_json(path, self.to_dict())
        return path

    @classmethod
    def from_dict(cls, d: dict, root, origin: str = "") -> "Manifest":
        where = origin or str(root)
        if not isinstance(d, dict):
            raise DataError(f"{where}: a manifest must be a JSON object")
        if d.get("format") != FORMAT:
            raise DataError(f"{where}: not a rotationnet dataset manifest (format is {d.get('format')!r}, expected {FORMAT!r})")
        if d.get("version") != VERSION:
            raise DataError(f"{where}: unsupported manifest version {d.get('version')!r} (this code reads {VERSION})")
        try:
            rig = ViewRig.from_dict(d.get("rig"))
        except ValueError as e:
            raise DataError(f"{where}: bad rig: {e}") from None
        classes = d.get("classes")
        if not isinstance(classes, list) or not all(isinstance(c, str) and c for c in classes):
            raise DataError(f"{where}: 'classes' must be a list of non-empty strings")
        objs = d.get("objects")
        if not isinstance(objs, list):
            raise DataError(f"{where}: 'objects' must be a list")
        entries = []
        for n, o in enumerate(objs):
            if not isinstance(o, dict):
                raise DataError(f"{where}: object #{n} is not a JSON object")
            missing = [k for k in ("id", "split", "class", "views") if k not in o]
            if missing:
                raise DataError(f"{where}: object #{n} lacks {', '.join(missing)}")
            views = o["views"]
            if not isinstance(views, list) or not all(isinstance(p, str) for p in views):
                raise DataError(f"{where}: object '{o['id']}': 'views' must be a list of paths")
            entries.append(ObjectEntry(
                id=str(o["id"]), split=str(o["split"]), label=str(o["class"]), views=views,
                source=o.get("source"), normalization=o.get("normalization"),
            ))
        info = d.get("info", {})
        m = cls(root=Path(root), rig=rig, classes=classes, objects=entries,
                info=info if isinstance(info, dict) else {}, origin=where)
        m.validate()
        return m

    @classmethod
    def load(cls, path) -> "Manifest":
        """Read and validate a manifest.json.

        Raises:
            DataError: unreadable file, bad JSON, or an invalid manifest; the
                message names the file and the problem.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataError(f"{path}: manifest not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: cannot read manifest: {e}") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: invalid JSON: {e}") from None
        return cls.from_dict(d, path.parent, origin=str(path))

    def validate(self) -> None:
        """Check internal consistency (not file existence).

        Raises:
            DataError: duplicate classes or object ids, an unknown class, a
                wrong number of views, or a view path that is absolute or
                leaves the dataset folder.
        """
        where = self.origin or str(self.root)
        if len(set(self.classes)) != len(self.classes):
            raise DataError(f"{where}: duplicate class names in {self.classes}")
        known = set(self.classes)
        seen = set()
        v = self.rig.num_views
        for o in self.objects:
            if o.id in seen:
                raise DataError(f"{where}: duplicate object id '{o.id}'")
            seen.add(o.id)
            if o.label not in known:
                raise DataError(f"{where}: object '{o.id}' has class '{o.label}', which is not in the class list")
            if len(o.views) != v:
                raise DataError(
                    f"{where}: object '{o.id}' has {len(o.views)} views, the rig '{self.rig.spec}' has {v}"
                    + (" (missing views)" if len(o.views) < v else "")
                )
            for p in o.views:
                pp = PurePosixPath(p)
                if pp.is_absolute() or re.match(r"^[A-Za-z]:", p) or ".." in pp.parts or not pp.parts:
                    raise DataError(f"{where}: object '{o.id}': view path '{p}' points outside the dataset folder")

    def check_test_classes(self, split: str = "test", train_split: str = "train") -> None:
        """Every class seen in ``split`` must have training objects.

        Raises:
            DataError: naming the classes and an offending object.
        """
        trained = {o.label for o in self.split(train_split)}
        for o in self.split(split):
            if o.label not in trained:
                raise DataError(
                    f"{self.origin or self.root}: class '{o.label}' of {split} object '{o.id}' "
                    f"({o.views[0]}) has no {train_split} objects"
                )


# ----------------------------------------------------------------------------
# readers for the plain layouts
# ----------------------------------------------------------------------------

def natural_key(name: str):
    """Sort key that orders digit runs numerically: img2 < img10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _images(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]


_VIEW_RE = re.compile(r"^(?P<obj>.+)_(?P<view>\d+)$")


def _from_layout(root: Path, rig: ViewRig) -> Manifest:
    """(b) ``ROOT/{train,test}/<class>/<object>_<view:03d>.<ext>``."""
    objects: list[ObjectEntry] = []
    splits = [s for s in ("train", "val", "test") if (root / s).is_dir()]
    class_sets = {}
    for split in splits:
        class_dirs = sorted(p for p in (root / split).iterdir() if p.is_dir())
        class_sets[split] = {p.name for p in class_dirs}
        for cdir in class_dirs:
            groups: dict[str, list[str]] = {}
            for img in sorted(_images(cdir), key=lambda p: p.name):
                m = _VIEW_RE.match(img.stem)
                if not m:
                    raise DataError(f"{img}: file name does not follow <object>_<view>.<ext>")
                groups.setdefault(m.group("obj"), []).append(img.relative_to(root).as_posix())
            for obj, views in groups.items():
                if len(views) != rig.num_views:
                    raise DataError(
                        f"{cdir / obj}_*: object has {len(views)} views, the rig '{rig.spec}' has "
                        f"{rig.num_views} (first view {views[0]})"
                    )
                objects.append(ObjectEntry(id=f"{split}/{cdir.name}/{obj}", split=split, label=cdir.name, views=views))
    if not objects:
        raise DataError(f"{root}: no images found in {root}/{{train,test}}/<class>/")
    classes = sorted(class_sets.get("train") or set().union(*class_sets.values()))
    for split, names in class_sets.items():
        extra = sorted(names - set(classes))
        if extra:
            raise DataError(f"{root / split / extra[0]}: class '{extra[0]}' is absent from {root / 'train'}")
    return Manifest(root=root, rig=rig, classes=classes, objects=objects,
                    info={"layout": "pytorch-rotationnet"}, origin=str(root))


def _parse_selection(sel: str | None):
    if sel in (None, ""):
        return slice(None)
    parts = sel.split(":")
    if not 1 <= len(parts) <= 3 or not all(re.fullmatch(r"-?\d*", p) for p in parts):
        raise DataError(f"bad view selection '{sel}': use a Python slice like '0::6'")
    if len(parts) == 1:
        i = int(parts[0])
        return slice(i, i + 1)
    return slice(*(int(p) if p else None for p in parts))


def photo_sets(root, rig: ViewRig, split: str = "train", views: str | None = None) -> Manifest:
    """(c) Ordered real photo sets: ``ROOT/<object>/*`` (each object its own
    class, e.g. COIL-100 identities) or ``ROOT/<class>/<object>/*``.

    Args:
        root: folder.
        rig: the rig the photos follow (image i taken by camera i).
        split: split name given to every object.
        views: optional slice over each object's naturally sorted images,
            e.g. ``"0::6"`` keeps every 6th photo starting with the first.
    Raises:
        DataError: no object folders, or an object whose selected photos do
            not number V (naming the folder).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    sel = _parse_selection(views)
    subdirs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name))
    objects = []
    counts: dict[int, Path] = {}
    for d in subdirs:
        imgs = _images(d)
        if imgs:  # ROOT/<object>/
            pairs = [(d.name, d)]
        else:  # ROOT/<class>/<object>/
            pairs = [(d.name, o) for o in sorted((p for p in d.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name))]
        for label, odir in pairs:
            files = sorted(_images(odir), key=lambda p: natural_key(p.name))
            counts.setdefault(len(files), odir)
            if len(counts) > 1:  # a missing photo would silently shift every later view
                (n1, d1), (n2, d2) = list(counts.items())[:2]
                raise DataError(f"{d2}: {n2} photos, but {d1} has {n1} (missing views?)")
            files = files[sel]
            if len(files) != rig.num_views:
                raise DataError(
                    f"{odir}: {len(files)} photos selected (selection {views or 'all'}), "
                    f"the rig '{rig.spec}' needs {rig.num_views}"
                )
            objects.append(ObjectEntry(
                id=odir.relative_to(root).as_posix(), split=split, label=label,
                views=[f.relative_to(root).as_posix() for f in files],
            ))
    if not objects:
        raise DataError(f"{root}: no object folders with images")
    classes = sorted({o.label for o in objects}, key=natural_key)
    return Manifest(root=root, rig=rig, classes=classes, objects=objects,
                    info={"layout": "photo-sets", "views": views}, origin=str(root))


def load_dataset(path, rig: str | ViewRig | None = None, photo_split: str = "train",
                 photo_views: str | None = None) -> Manifest:
    """Open any supported dataset: a manifest file, a folder holding
    ``manifest.json``, a pytorch-rotationnet layout or photo sets.

    Args:
        path: file or folder.
        rig: rig spec or object; required for the plain layouts, checked
            against the manifest when both are given.
    Raises:
        DataError: path missing, no rig for a plain layout, rig mismatch.
    """
    path = Path(path)
    if isinstance(rig, str):
        try:
            rig = get_rig(rig)
        except ValueError as e:
            raise DataError(str(e)) from None
    if path.is_file() or (path.is_dir() and (path / MANIFEST_NAME).is_file()):
        m = Manifest.load(path if path.is_file() else path / MANIFEST_NAME)
        if rig is not None and (rig.cameras.shape != m.rig.cameras.shape
                                or abs(rig.cameras - m.rig.cameras).max() > 1e-6):
            raise DataError(f"{m.origin}: dataset was made with rig '{m.rig.spec}', not '{rig.spec}'")
        return m
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if not path.is_dir():
        raise DataError(f"{path}: not a dataset")
    if rig is None:
        raise DataError(f"{path}: has no {MANIFEST_NAME}; say which rig the images follow (--rig)")
    if any((path / s).is_dir() for s in ("train", "test")):
        return _from_layout(path, rig)
    return photo_sets(path, rig, split=photo_split, views=photo_views)


def relpath_inside(path, root) -> str:
    """``path`` relative to ``root`` as POSIX, refusing paths outside ``root``."""
    rel = os.path.relpath(Path(path).resolve(), Path(root).resolve())
    if rel.startswith(".."):
        raise DataError(f"{path}: lies outside the dataset folder {root}")
    return PurePosixPath(Path(rel)).as_posix()
