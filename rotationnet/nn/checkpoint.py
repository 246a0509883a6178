"""Checkpoints without pickles: ``<stem>.<sha12>.safetensors`` (tensors) +
``<stem>.json`` (plain metadata), both written atomically.

The JSON is the commit point: it names its tensor file, whose name carries the
first 12 hex digits of its SHA-256.  Tensors are written (atomically) first
under their new name, then the JSON, then the superseded tensor file is
removed; a crash at any moment leaves the previous pair (or the new one) whole.

The JSON holds the model config (backbone, rig, preprocessing), the class
names, training arguments and metrics, and for resumable checkpoints the
optimizer's non-tensor state, the scheduler state and the RNG states.  It also
records the SHA-256 of its tensor file, so a torn or tampered pair is refused.
Tensor keys: ``model.*`` (state dict), ``optim.<param>.<name>`` (optimizer
state tensors), ``rng.torch`` (CPU generator state).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import torch

from rotationnet.core.errors import CheckpointError, OutputError
from rotationnet.core.fileio import atomic_write_bytes, atomic_write_json, sha256_file

__all__ = ["save_checkpoint", "load_checkpoint", "read_metadata", "checkpoint_stem", "tensors_path", "FORMAT"]

FORMAT = "rotationnet-checkpoint"
VERSION = 1


def checkpoint_stem(path, which: str = "best") -> Path:
    """Resolve a run folder, ``.json``/``.safetensors`` file or stem to a stem."""
    p = Path(path)
    if p.is_dir():
        if not (p / f"{which}.json").exists() and (p / "last.json").exists():
            which = "last"
        return p / which
    if p.suffix == ".safetensors":
        m = re.fullmatch(r"(.+)\.[0-9a-f]{12}\.safetensors", p.name)
        return p.parent / m.group(1) if m else p.with_suffix("")
    if p.suffix == ".json":
        return p.with_suffix("")
    if p.is_file():
        raise CheckpointError(f"{p}: not a rotationnet checkpoint (give a run folder or a .json/.safetensors "
                              "pair; pickled .pt/.pth files are never loaded, as unpickling can run code)")
    return p


def _optimizer_to_flat(opt: torch.optim.Optimizer):
    sd = opt.state_dict()
    tensors, state_meta = {}, {}
    for pid, st in sd["state"].items():
        for name, val in st.items():
            if torch.is_tensor(val):
                tensors[f"optim.{pid}.{name}"] = val.detach().cpu().contiguous()
            else:
                state_meta.setdefault(str(pid), {})[name] = val
    return tensors, {"param_groups": sd["param_groups"], "state": state_meta}


def _optimizer_from_flat(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, val in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = val
    for pid, st in meta.get("state", {}).items():
        state.setdefault(int(pid), {}).update(st)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _rng_state() -> tuple[dict, dict]:
    py = random.getstate()
    np_state = np.random.get_state()
    meta = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, st in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = st
    return tensors, meta


def _set_rng_state(tensors: dict, meta: dict) -> None:
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"].to(torch.uint8))
    cuda = sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k.rsplit(".", 1)[1]))
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([tensors[k].cpu().to(torch.uint8) for k in cuda])
    if "python" in meta:
        v, st, g = meta["python"]
        random.setstate((v, tuple(st), g))
    if "numpy" in meta:
        n = meta["numpy"]
        np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))


def save_checkpoint(stem, model: torch.nn.Module, metadata: dict, optimizer=None, scheduler=None,
                    with_rng: bool = False) -> Path:
    """Write ``stem.safetensors`` then ``stem.json`` atomically.

    Args:
        stem: path without suffix, e.g. ``RUN/last``.
        model: its ``state_dict`` is saved; ``model.config`` (if any) goes
            into the metadata.
        metadata: plain-JSON fields (classes, args, metrics, epoch, ...).
        optimizer, scheduler: saved for resuming when given.
        with_rng: save Python/numpy/torch RNG states.
    Returns the JSON path.
    """
    stem = Path(stem)
    sd = model.module.state_dict() if hasattr(model, "module") else model.state_dict()
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in sd.items()}
    meta = {"format": FORMAT, "version": VERSION, **metadata}
    cfg = getattr(getattr(model, "module", model), "config", None)
    if cfg is not None:
        meta["model"] = cfg
    if optimizer is not None:
        t, m = _optimizer_to_flat(optimizer)
        tensors.update(t)
        meta["optimizer"] = m
    if scheduler is not None:
        meta["scheduler"] = scheduler.state_dict()
    if with_rng:
        t, m = _rng_state()
        tensors.update(t)
        meta["rng"] = m
    try:
        return _save_pair(stem, tensors, meta)
    except OSError as e:
        if isinstance(e, OutputError):
            raise
        raise OutputError(f"{getattr(e, 'filename', None) or stem}: cannot write: {e.strerror or e}") from None


def _save_pair(stem: Path, tensors: dict, meta: dict) -> Path:
    import hashlib

    from safetensors.torch import save

    data = save(tensors)
    sha = hashlib.sha256(data).hexdigest()
    final = stem.parent / f"{stem.name}.{sha[:12]}.safetensors"
    atomic_write_bytes(final, data)
    meta["tensors_file"] = final.name
    meta["tensors_sha256"] = sha
    atomic_write_json(stem.with_suffix(".json"), meta)  # the commit point
    for old in stem.parent.glob(f"{stem.name}.*.safetensors"):
        if old != final and _TENSOR_NAME.fullmatch(old.name[len(stem.name):]):
            old.unlink(missing_ok=True)
    return stem.with_suffix(".json")


_TENSOR_NAME = re.compile(r"\.[0-9a-f]{12}\.safetensors")


def tensors_path(stem, meta: dict) -> Path:
    """The tensor file a checkpoint's metadata names (``<stem>.safetensors`` for
    checkpoints written before content-addressed names)."""
    stem = Path(stem)
    name = meta.get("tensors_file") or f"{stem.name}.safetensors"
    if Path(name).name != name:
        raise CheckpointError(f"{stem.with_suffix('.json')}: tensors_file '{name}' must be a file name beside it")
    return stem.parent / name


def read_metadata(stem) -> dict:
    """The JSON half of a checkpoint, checked for format and required fields.

    Raises:
        CheckpointError: missing, unparsable or foreign metadata.
    """
    path = Path(stem).with_suffix(".json")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint metadata not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint metadata: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a rotationnet checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint version {meta.get('version')!r}")
    for key in ("model", "classes", "tensors_sha256"):
        if key not in meta:
            raise CheckpointError(f"{path}: checkpoint metadata lacks '{key}'")
    classes = meta["classes"]
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise CheckpointError(f"{path}: 'classes' must be a list of names")
    if len(classes) != meta["model"].get("num_classes"):
        raise CheckpointError(
            f"{path}: metadata lists {len(classes)} classes but the model has {meta['model'].get('num_classes')}"
        )
    return meta


def load_checkpoint(stem, model: torch.nn.Module | None = None, optimizer=None, scheduler=None,
                    restore_rng: bool = False, map_location: str | torch.device = "cpu"):
    """Load a checkpoint; builds the model from its config when ``model`` is None.

    Tensors are read with safetensors (no code is ever unpickled); the tensor
    file must match the SHA-256 recorded in the metadata.

    Returns:
        (model, metadata)
    Raises:
        CheckpointError: missing/truncated/tampered files or a model mismatch.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .model import RotationNet

    stem = Path(stem)
    meta = read_metadata(stem)
    tpath = tensors_path(stem, meta)
    if not tpath.exists():
        raise CheckpointError(f"{tpath}: checkpoint tensors not found")
    if sha256_file(tpath) != meta["tensors_sha256"]:
        raise CheckpointError(f"{tpath}: contents do not match the checksum in {stem.with_suffix('.json')} "
                              "(truncated, replaced or tampered with)")
    try:
        tensors = load_file(str(tpath), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{tpath}: cannot read checkpoint tensors: {e}") from None
    if model is None:
        try:
            model = RotationNet.from_config(meta["model"])
        except CheckpointError as e:
            raise CheckpointError(f"{stem.with_suffix('.json')}: {e}") from None
    target = getattr(model, "module", model)
    sd = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        target.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{tpath}: weights do not fit the model: {str(e).splitlines()[0]}") from None
    if optimizer is not None and "optimizer" in meta:
        _optimizer_from_flat(optimizer, tensors, meta["optimizer"])
    if scheduler is not None and "scheduler" in meta:
        scheduler.load_state_dict(meta["scheduler"])
    if restore_rng:
        _set_rng_state(tensors, meta.get("rng", {}))
    return model, meta
