"""Multi-view datasets for training and evaluation (torch).

The dataset format itself (manifest JSON, plain layouts, photo sets) is defined
once in :mod:`rotationnet.core.manifest` and re-exported here.

An item is a whole object: ``(views, label)`` with ``views`` a float tensor
(V, 3, S, S) in rig order, normalised with the model's preprocessing.  Batches
are therefore (B, V, 3, S, S) and an object's views can never be split; the
:class:`ObjectSampler` shuffles objects per epoch, reproducibly from
(seed, epoch), and in distributed runs hands each rank whole objects.
"""

from __future__ import annotations

import math
import random
import re
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from rotationnet.core.errors import DataError
from rotationnet.core.manifest import Manifest, ObjectEntry, load_dataset, photo_sets  # noqa: F401  (re-export)

__all__ = [
    "Manifest",
    "ObjectEntry",
    "load_dataset",
    "photo_sets",
    "load_image",
    "MultiViewDataset",
    "ObjectSampler",
    "split_validation",
    "MAX_IMAGE_PIXELS",
]

MAX_IMAGE_PIXELS = 64_000_000  # refuse bigger images before decoding them


def letterbox(img: Image.Image, size: int) -> Image.Image:
    """Resize the longer side to ``size`` and pad to a square with the median
    border colour (objects stay whole, aspect ratio kept)."""
    w, h = img.size
    if w == h:
        return img.resize((size, size), Image.BILINEAR, reducing_gap=3.0) if w != size else img
    s = size / max(w, h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = img.resize((nw, nh), Image.BILINEAR, reducing_gap=3.0)
    a = np.asarray(small)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    colour = tuple(int(x) for x in np.median(border, axis=0))
    canvas = Image.new("RGB", (size, size), colour)
    canvas.paste(small, ((size - nw) // 2, (size - nh) // 2))
    return canvas


def load_image(path, size: int | None = None, background=(255, 255, 255), keep_alpha: bool = False) -> np.ndarray:
    """Decode an image file to RGB uint8 (H, W, 3), optionally letterboxed to
    ``size`` × ``size``.  Transparency is composited onto ``background``, or
    with ``keep_alpha`` (and no ``size``) kept: (H, W, 4) RGBA for images that have it.

    Raises:
        DataError: missing, unreadable, truncated or oversized file (naming it).
    """
    path = Path(path)
    try:
        try:
            im = Image.open(path)
        except Image.DecompressionBombError as e:  # PIL's own guard fired while reading the header
            m = re.search(r"\((\d+) pixels\)", str(e))
            raise DataError(f"{path}: image has {m.group(1) if m else 'too many'} pixels, above the limit of "
                            f"{MAX_IMAGE_PIXELS}; refused before decoding") from None
        with im:
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS:
                raise DataError(f"{path}: image is {w}×{h} pixels, above the limit of {MAX_IMAGE_PIXELS}; "
                                "refused before decoding")
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im.load()
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                if keep_alpha and size is None:
                    return np.asarray(rgba, dtype=np.uint8)
                out = Image.new("RGB", rgba.size, background)
                out.paste(rgba, mask=rgba.getchannel("A"))
            elif im.mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(im, dtype=np.float64)
                a = a / max(a.max(), 1.0) * 255.0
                out = Image.fromarray(a.astype(np.uint8)).convert("RGB")
            else:
                out = im.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as e:
        raise DataError(f"{path}: cannot read image: {e}") from None
    if size is not None:
        out = letterbox(out, size)
    return np.asarray(out, dtype=np.uint8)


def image_size_of(path) -> tuple[int, int]:
    """(width, height) from the header only."""
    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read image: {e}") from None


def split_validation(objects: Sequence[ObjectEntry], fraction: float, seed: int) -> tuple[list, list]:
    """Carve a validation set from training objects, stratified by class and
    seeded; a class keeps at least one training object.  Objects rendered from
    the same source mesh (e.g. its turned copies) stay on the same side, so
    validation never sees a mesh that training saw.  Returns (train, val)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    rng = random.Random(seed)
    by_class: dict[str, dict[str, list[ObjectEntry]]] = {}
    for o in objects:
        src = (o.source or {}).get("path") or o.id
        by_class.setdefault(o.label, {}).setdefault(src, []).append(o)
    train, val = [], []
    for label in sorted(by_class):
        groups = [by_class[label][k] for k in sorted(by_class[label])]
        rng.shuffle(groups)
        n_val = min(int(round(fraction * len(groups))), len(groups) - 1) if fraction > 0 else 0
        val += [o for g in groups[:n_val] for o in g]
        train += [o for g in groups[n_val:] for o in g]
    return train, val


class MultiViewDataset(torch.utils.data.Dataset):
    """Whole objects from a :class:`Manifest`.

    Args:
        manifest: the dataset.
        objects: the objects to serve (e.g. ``manifest.split("test")``).
        image_size: S, the model's input size.
        mean, std: per-channel normalisation (0–1 scale).
        augment: light training augmentation (random scale/shift of each view
            and brightness/contrast jitter; never a mirror, which would change
            the pose's handedness).
        cache: keep decoded images in memory as uint8 (V, S, S, 3) per object;
            a dict shares the decoded images of another dataset of the same
            objects and size (its :attr:`decoded`), e.g. a training set with
            and without augmentation.
        seed: augmentation seed; with :meth:`set_epoch` every (epoch, object)
            gets the same augmentation on every run, so resumed runs repeat.
    Raises:
        DataError: on first access of a missing/unreadable image, or when the
            images of the dataset do not all have the same size.
    """

    def __init__(self, manifest: Manifest, objects: Sequence[ObjectEntry], image_size: int,
                 mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), augment: bool = False,
                 cache: bool | dict = True, seed: int = 0, check_sizes: bool = True):
        self.manifest = manifest
        self.objects = list(objects)
        self.image_size = int(image_size)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.labels = [manifest.class_index(o.label) for o in self.objects]
        if isinstance(cache, dict):
            self._cache: dict[int, np.ndarray] | None = cache
        else:
            self._cache = {} if cache else None
        self._first_size: tuple[Path, tuple[int, int]] | None = None
        if check_sizes:
            self.check_image_sizes()

    @property
    def decoded(self) -> dict[int, np.ndarray] | None:
        """The decoded-image cache (object index → uint8 (V, S, S, 3)), to share
        with another dataset of the same objects through ``cache=``."""
        return self._cache

    @property
    def num_views(self) -> int:
        return self.manifest.rig.num_views

    def __len__(self) -> int:
        return len(self.objects)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def check_image_sizes(self) -> None:
        """All view images must exist and share one size (headers only).

        Raises:
            DataError: naming the first missing, unreadable or odd-sized file.
        """
        first = None
        for o in self.objects:
            for p in self.manifest.view_paths(o):
                sz = image_size_of(p)
                if first is None:
                    first = (p, sz)
                elif sz != first[1]:
                    raise DataError(
                        f"{p}: image is {sz[0]}×{sz[1]}, but {first[0]} is {first[1][0]}×{first[1][1]} "
                        "(mixed image sizes in one dataset)"
                    )

    def raw_views(self, index: int) -> np.ndarray:
        """uint8 (V, S, S, 3) of object ``index`` (cached)."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        o = self.objects[index]
        arr = np.stack([load_image(p, self.image_size) for p in self.manifest.view_paths(o)])
        if self._cache is not None:
            self._cache[index] = arr
        return arr

    def _augment(self, x: torch.Tensor, index: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(hash((self.seed, self.epoch, index)) & 0x7FFFFFFF)
        v, _, s, _ = x.shape
        scale = 0.85 + 0.15 * torch.rand(v, generator=g)
        shift = (torch.rand(v, 2, generator=g) * 2 - 1) * (1 - scale)[:, None] * 0.5
        theta = torch.zeros(v, 2, 3)
        theta[:, 0, 0] = scale
        theta[:, 1, 1] = scale
        theta[:, :, 2] = shift
        grid = F.affine_grid(theta, (v, 3, s, s), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        bright = 1 + (torch.rand(v, 1, 1, 1, generator=g) * 2 - 1) * 0.15
        contrast = 1 + (torch.rand(v, 1, 1, 1, generator=g) * 2 - 1) * 0.15
        m = x.mean(dim=(1, 2, 3), keepdim=True)
        return ((x - m) * contrast + m * bright).clamp(0, 1)

    def __getitem__(self, index: int):
        raw = self.raw_views(index)
        x = torch.from_numpy(raw).permute(0, 3, 1, 2).float().div_(255.0)
        if self.augment:
            x = self._augment(x, index)
        x = (x - self.mean) / self.std
        return x, self.labels[index]

    def preload(self, progress: bool = True) -> None:
        """Decode every object into the cache now (e.g. before forking workers)."""
        if self._cache is None:
            return
        from tqdm.auto import tqdm

        for i in tqdm(range(len(self)), desc="decode", unit="obj", disable=not progress, leave=False):
            self.raw_views(i)


class ObjectSampler(torch.utils.data.Sampler[int]):
    """Object indices, shuffled per epoch from ``(seed, epoch)``.

    Distributed: the permutation is padded (wrapping round) to a multiple of
    ``world_size`` and rank r takes positions r, r + world_size, …, so each
    rank sees whole objects and all ranks the same number.  ``start`` skips
    the first positions of this rank's share (resuming mid-epoch).
    """

    def __init__(self, num_objects: int, shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world_size: int = 1):
        if num_objects <= 0:
            raise ValueError("ObjectSampler needs at least one object")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.num_objects = num_objects
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch = int(epoch)
        self.start = int(start)

    def _order(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.num_objects, generator=g).tolist()
        else:
            order = list(range(self.num_objects))
        total = math.ceil(self.num_objects / self.world_size) * self.world_size
        while len(order) < total:  # wrap round (more than once when ranks outnumber objects)
            order += order[: total - len(order)]
        return order[self.rank::self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self._order()[self.start:])

    def __len__(self) -> int:
        return math.ceil(self.num_objects / self.world_size) - self.start
