"""What a training or evaluation run is asked to do, as plain dataclasses.

Library functions take these (``train(TrainConfig(data=..., out=...))``);
the command line builds them with :meth:`Config.from_args` and takes its
defaults from them, so every default is defined once, here.  Checkpoints
store :meth:`Config.to_dict` under ``"config"`` (checkpoints written before
0.2 stored the same fields under ``"args"``: :func:`stored_config` reads both).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["Config", "TrainConfig", "EvalConfig", "stored_config"]


class Config:
    """Shared behaviour of the config dataclasses."""

    @classmethod
    def from_args(cls, args: Any, **overrides):
        """Build from any object with the fields as attributes (e.g. an
        ``argparse.Namespace``); attributes that are not fields are ignored."""
        kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
        kw.update(overrides)
        return cls(**kw)

    @classmethod
    def defaults(cls) -> dict:
        """``{field: default}`` of the fields that have one."""
        return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclass
class TrainConfig(Config):
    """``rotationnet train``: see :mod:`rotationnet.nn.train` and ``rotationnet train --help``."""

    data: str
    out: str
    rig: str | None = None
    backbone: str = "efficientnet_lite0"
    weights: str | None = None
    no_pretrained: bool = False
    image_size: int | None = None
    head_epochs: int = 200
    epochs: int = 0
    batch_objects: int = 8
    lr: float = 0.01
    head_lr: float = 3e-3
    backbone_lr_scale: float = 0.1
    bn: str = "frozen"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    dropout: float = 0.2
    head_hidden: int = 0
    label_smoothing: float = 0.0
    val_fraction: float = 0.15
    no_augment: bool = False
    workers: int = 0
    seed: int = 0
    resume: bool = False
    stop_after: int | None = None
    checkpoint_every: int = 0
    checkpoint_minutes: float = 10.0
    device: str | None = None

    def __post_init__(self):
        self.data, self.out = str(self.data), str(self.out)
        if self.bn not in ("frozen", "train"):
            raise ValueError(f"bn must be 'frozen' or 'train', got {self.bn!r}")


@dataclass
class EvalConfig(Config):
    """``rotationnet eval``: see :mod:`rotationnet.nn.evaluate` and ``rotationnet eval --help``."""

    run: str
    data: str
    split: str = "test"
    which: str = "best"
    rig: str | None = None
    ks: tuple[int, ...] | None = None  # view counts of the k-view accuracy (default 1, 2, 4, ... < V)
    trials: int = 3
    class_pose: bool = False
    out: str | None = None
    batch_objects: int = 8
    seed: int = 0
    device: str | None = None

    def __post_init__(self):
        self.run, self.data = str(self.run), str(self.data)
        if self.out is not None:
            self.out = str(self.out)
        if self.which not in ("best", "last"):
            raise ValueError(f"which must be 'best' or 'last', got {self.which!r}")


def stored_config(meta: dict) -> dict:
    """The training config a checkpoint's metadata records (``"config"``, or
    ``"args"`` in checkpoints written before 0.2)."""
    return dict(meta.get("config") or meta.get("args") or {})
