"""Dataset formats (manifest, plain layout, photo sets), images, sampler and bad data."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from rotationnet.nn import data

from rotationnet.core import manifest
from rotationnet.core.errors import DataError
from rotationnet.core.views import get_rig

from conftest import shared


def test_plain_layout_and_manifest_roundtrip(synth_layout, ring12, tmp_path):
    m = data.load_dataset(synth_layout, rig="ring12")
    assert m.classes == ["car", "chair", "desk_lamp", "mug"]
    assert len(m.split("train")) == 24 and len(m.split("test")) == 8
    o = m.split("train")[0]
    assert [p.rsplit("_", 1)[1] for p in o.views] == [f"{v:03d}.png" for v in range(12)]
    # write a manifest next to the images and read it back through load_dataset
    dst = tmp_path / "ds"
    shutil.copytree(synth_layout, dst)
    m.root = dst
    path = m.save()
    back = data.load_dataset(dst)
    assert back.to_dict() == m.to_dict()
    assert json.loads(path.read_text())["rig"]["spec"] == "ring12"
    with pytest.raises(DataError, match="rig"):
        data.load_dataset(dst, rig="dodeca20")


def test_dataset_items_are_whole_objects(synth_layout):
    m = data.load_dataset(synth_layout, rig="ring12")
    ds = data.MultiViewDataset(m, m.split("train"), image_size=64)
    x, y = ds[3]
    assert x.shape == (12, 3, 64, 64) and x.dtype == torch.float32
    assert y == m.class_index(m.split("train")[3].label)
    assert -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    # augmentation is deterministic per (seed, epoch, object) and changes with the epoch
    aug = data.MultiViewDataset(m, m.split("train"), image_size=64, augment=True, seed=1)
    a1 = aug[3][0]
    assert torch.equal(a1, aug[3][0])
    aug.set_epoch(1)
    assert not torch.equal(a1, aug[3][0])


def test_object_sampler_shuffles_whole_objects_and_shards():
    s = data.ObjectSampler(10, seed=3)
    s.set_epoch(0)
    e0 = list(s)
    s.set_epoch(1)
    e1 = list(s)
    assert sorted(e0) == list(range(10)) and e0 != e1
    s.set_epoch(0)
    assert list(s) == e0  # reproducible from (seed, epoch)
    ranks = [data.ObjectSampler(10, seed=3, rank=r, world_size=3) for r in range(3)]
    for r in ranks:
        r.set_epoch(0)
    parts = [list(r) for r in ranks]
    assert all(len(p) == 4 for p in parts)
    assert set().union(*map(set, parts)) == set(range(10))
    s.set_epoch(0, start=4)
    assert list(s) == e0[4:]


def test_loader_batches_keep_views_together(synth_layout):
    m = data.load_dataset(synth_layout, rig="ring12")
    ds = data.MultiViewDataset(m, m.split("train"), image_size=32)
    loader = torch.utils.data.DataLoader(ds, batch_size=5, sampler=data.ObjectSampler(len(ds)))
    x, y = next(iter(loader))
    assert x.shape == (5, 12, 3, 32, 32) and y.shape == (5,)


def test_split_validation_is_stratified_and_seeded(synth_layout):
    m = data.load_dataset(synth_layout, rig="ring12")
    tr, va = data.split_validation(m.split("train"), 0.34, seed=0)
    assert len(va) == 8 and len(tr) == 16
    assert {o.label for o in va} == set(m.classes)
    assert [o.id for o in data.split_validation(m.split("train"), 0.34, seed=0)[1]] == [o.id for o in va]


def test_photo_sets_natural_order_and_selection(tmp_path):
    rig = get_rig("ring:4:0")
    for obj in ("obj1", "obj2"):
        (tmp_path / obj).mkdir()
        for a in range(0, 360, 45):
            Image.new("RGB", (8, 8), (a % 255, 0, 0)).save(tmp_path / obj / f"{obj}__{a}.png")
    m = data.load_dataset(tmp_path, rig=rig, photo_views="0::2")
    assert m.classes == ["obj1", "obj2"]
    assert [p.split("__")[1] for p in m.objects[0].views] == ["0.png", "90.png", "180.png", "270.png"]
    with pytest.raises(DataError, match="obj1.*8 photos selected"):
        data.load_dataset(tmp_path, rig=rig)


# ---------------------------------------------------------------- bad data ----

def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_missing_view_is_named(synth_layout, tmp_path):
    d = _copy(synth_layout, tmp_path / "d")
    (d / "train" / "mug" / "mug_0002_005.png").unlink()
    with pytest.raises(DataError, match=r"mug_0002.*11 views"):
        data.load_dataset(d, rig="ring12")


def test_mixed_sizes_are_named(synth_layout, tmp_path):
    d = _copy(synth_layout, tmp_path / "d")
    bad = d / "train" / "car" / "car_0001_003.png"
    Image.open(bad).resize((50, 50)).save(bad)
    m = data.load_dataset(d, rig="ring12")
    with pytest.raises(DataError, match=r"car_0001_003.png.*mixed image sizes"):
        data.MultiViewDataset(m, m.split("train"), image_size=32)


def test_unreadable_image_is_named(synth_layout, tmp_path):
    d = _copy(synth_layout, tmp_path / "d")
    bad = d / "test" / "desk_lamp" / "desk_lamp_0000_007.png"
    bad.write_bytes(bad.read_bytes()[:100])  # truncated PNG
    m = data.load_dataset(d, rig="ring12")
    with pytest.raises(DataError, match="desk_lamp_0000_007.png"):
        ds = data.MultiViewDataset(m, m.split("test"), image_size=32, check_sizes=False)
        for i in range(len(ds)):
            ds[i]
    (d / "test" / "desk_lamp" / "desk_lamp_0000_008.png").write_text("not an image")
    with pytest.raises(DataError, match="desk_lamp_0000_008.png"):
        data.MultiViewDataset(m, m.split("test"), image_size=32)


def test_class_mismatch_is_named(synth_layout, tmp_path):
    d = _copy(synth_layout, tmp_path / "d")
    shutil.move(d / "train" / "desk_lamp", tmp_path / "desk_lamp")
    with pytest.raises(DataError, match="desk_lamp.*absent"):
        data.load_dataset(d, rig="ring12")


def _manifest_dict(tmp_path, views):
    return {"format": "rotationnet-dataset", "version": 1, "rig": get_rig("ring:3:0").to_dict(),
            "classes": ["a"], "objects": [{"id": "o", "split": "train", "class": "a", "views": views}]}


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d["objects"][0].update(views=["a.png", "b.png"]), "2 views.*missing"),
    (lambda d: d["objects"][0].update(views=["../x.png", "b.png", "c.png"]), "outside the dataset folder"),
    (lambda d: d["objects"][0].update(views=["/etc/passwd", "b.png", "c.png"]), "outside the dataset folder"),
    (lambda d: d["objects"][0].update({"class": "zzz"}), "class 'zzz'"),
    (lambda d: d.update(format="something"), "not a rotationnet dataset"),
    (lambda d: d["rig"].update(cameras=[[1, 0, 0]]), "bad rig"),
    (lambda d: d.update(classes=["a", "a"]), "duplicate class"),
])
def test_bad_manifests_are_refused(tmp_path, mutate, match):
    d = _manifest_dict(tmp_path, ["a.png", "b.png", "c.png"])
    mutate(d)
    p = tmp_path / "manifest.json"
    p.write_text(json.dumps(d))
    with pytest.raises(DataError, match=match) as e:
        manifest.Manifest.load(p)
    assert str(p) in str(e.value)


def test_invalid_json_is_named(tmp_path):
    p = tmp_path / "manifest.json"
    p.write_text("{not json")
    with pytest.raises(DataError, match="invalid JSON"):
        data.load_dataset(p)


def test_load_image_modes(tmp_path):
    rgba = Image.new("RGBA", (10, 20), (255, 0, 0, 0))
    rgba.save(tmp_path / "t.png")
    a = data.load_image(tmp_path / "t.png", 16)
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8
    assert tuple(a[8, 8]) == (255, 255, 255)  # transparent → white background
    Image.new("I;16", (8, 8), 1000).save(tmp_path / "d.png")
    assert data.load_image(tmp_path / "d.png").shape == (8, 8, 3)
    Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(tmp_path / "c.jpg")
    assert data.load_image(tmp_path / "c.jpg").shape == (8, 8, 3)


def test_real_coil_photo_sets_load(tmp_path):
    root = shared("coil100")
    with pytest.raises(DataError, match="obj11.*71 photos.*missing views"):
        data.load_dataset(root, rig="ring12", photo_views="0::6")
    for n in (1, 2, 3, 100):  # complete objects only, linked, not copied
        if (root / f"obj{n}").is_dir():
            (tmp_path / f"obj{n}").symlink_to(root / f"obj{n}")
    m = data.load_dataset(tmp_path, rig="ring12", photo_views="0::6")
    assert m.classes == ["obj1", "obj2", "obj3"]
    # obj1 views 0, 30, ..., 330 in that order
    assert [v.split("__")[1] for v in m.objects[0].views][:3] == ["0.png", "30.png", "60.png"]
    ds = data.MultiViewDataset(m, m.objects[:2], image_size=64)
    assert ds[1][0].shape == (12, 3, 64, 64)


def test_validation_keeps_copies_of_a_mesh_together():
    from rotationnet.core.manifest import ObjectEntry

    objs = [ObjectEntry(id=f"train/a/m{i}{suffix}", split="train", label="a", views=[],
                        source={"path": f"/lib/a/m{i}.ply"}) for i in range(6) for suffix in ("", "__r1", "__r2")]
    tr, va = data.split_validation(objs, 0.34, seed=0)
    assert len(va) == 6 and len(tr) == 12
    assert not {o.source["path"] for o in va} & {o.source["path"] for o in tr}


def test_object_sampler_with_more_ranks_than_objects():
    """3 objects on 8 ranks: every rank still gets one whole object (wrapping
    round the permutation), so no rank waits in a collective with no batch."""
    shares = [list(data.ObjectSampler(3, seed=1, rank=r, world_size=8)) for r in range(8)]
    assert all(len(s) == 1 for s in shares)
    assert {i for s in shares for i in s} == {0, 1, 2}
