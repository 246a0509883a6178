"""The bad-input corpus: meshes, images, datasets and checkpoints a user may
throw at the tools.  Each gets a clear error naming the file and the problem
(no traceback: the command line returns 2), or loads when it is odd but valid;
in a bulk render or an evaluation one bad item never stops the others."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import badinput
from render.meshes import MeshError, load_mesh, normalize
from rotationnet import cli
from rotationnet.nn.data import load_dataset, load_image
from rotationnet.core.errors import DataError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return {"mesh": badinput.mesh_cases(root / "meshes"), "image": badinput.image_cases(root / "images")}


def _ids(kind):
    """Case names for parametrisation (the files are rebuilt in the fixture)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return [c[0] for c in getattr(badinput, f"{kind}_cases")(Path(tmp))]


MESH_IDS, IMAGE_IDS = _ids("mesh"), _ids("image")


def _case(corpus, kind, name):
    return next(c for c in corpus[kind] if c[0] == name)


@pytest.mark.parametrize("name", MESH_IDS)
def test_mesh_corpus(corpus, name):
    _, path, expect = _case(corpus, "mesh", name)
    if expect is None:
        v, f = load_mesh(path)
        nv, _ = normalize(v, f)
        assert np.all(np.isfinite(nv)) and 0.99 < np.linalg.norm(nv[f.ravel()], axis=1).max() <= 1.0 + 1e-5
        return
    with pytest.raises(MeshError) as e:
        load_mesh(path)
    assert str(path) in str(e.value)
    assert re.search(expect, str(e.value)), str(e.value)


@pytest.mark.parametrize("name", IMAGE_IDS)
def test_image_corpus(corpus, name):
    _, path, expect = _case(corpus, "image", name)
    if expect is None:
        a = load_image(path, 32)
        assert a.shape == (32, 32, 3) and a.dtype == np.uint8
        return
    with pytest.raises(DataError) as e:
        load_image(path, 32)
    assert str(path) in str(e.value)
    assert re.search(expect, str(e.value)), str(e.value)


def test_image_modes_keep_their_content(corpus):
    """The odd-but-valid images decode to what they show, not to noise."""
    g16 = load_image(_case(corpus, "image", "16-bit PNG")[1])
    assert g16[0, 0, 0] == 0 and g16[-1, -1, 0] == 255 and np.all(np.diff(g16[:, :, 0].ravel().astype(int)) >= 0)
    for name in ("palette PNG", "CMYK JPEG"):
        a = load_image(_case(corpus, "image", name)[1]).astype(int)
        assert abs(a[20, 20] - [200, 60, 20]).max() <= 24 and a[2, 2].max() <= 24, name
    rgba = load_image(_case(corpus, "image", "RGBA PNG")[1]).astype(int)
    assert abs(rgba[2, 2] - 128).max() <= 2  # half-transparent black over white


def test_huge_image_is_refused_before_decoding(corpus):
    """Decoding 20000×20000 RGB needs 1.2 GB; the refusal must stay far below."""
    path = _case(corpus, "image", "20000×20000 PNG")[1]
    code = ("import resource, sys; from rotationnet.nn.data import load_image; from rotationnet.core.errors import DataError\n"
            "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            f"try:\n    load_image({str(path)!r}, 64)\nexcept DataError as e:\n    print('refused', e)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert "refused" in out and str(path) in out
    assert int(out.split()[-1]) < 100_000  # kB of extra peak memory


# ---------------------------------------------------------------------------
# bulk rendering: bad meshes fail alone, a 2M-face mesh renders in bounded memory
# ---------------------------------------------------------------------------

def test_bulk_render_reports_every_bad_mesh_and_renders_the_rest(gpu_ok, corpus, tmp_path):
    lib = tmp_path / "lib" / "things" / "train"
    lib.mkdir(parents=True)
    for _, path, _ in corpus["mesh"]:
        shutil.copy(path, lib / path.name)
    # the glTF case must keep pointing at a buffer that does not exist
    (lib / "good.obj").write_text(badinput.obj_text(badinput.CUBE_V, badinput.CUBE_F))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "rotationnet.cli", "render", str(tmp_path / "lib"), str(out),
                        "--rig", "ring:4:30", "--size", "32", "--workers", "2"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    m = json.loads((out / "manifest.json").read_text())
    rendered = {Path(o["source"]["path"]).name for o in m["objects"]}
    valid = {p.name for _, p, e in corpus["mesh"] if e is None} | {"good.obj"}
    assert rendered == valid
    report = r.stdout + r.stderr
    for name, path, expect in corpus["mesh"]:
        if expect is not None and path.suffix in (".obj", ".off", ".ply", ".stl", ".glb", ".gltf"):
            line = next((ln for ln in report.splitlines() if path.name in ln), None)
            assert line is not None, f"{name}: {path.name} not reported"
    assert "model.fbx" not in report  # not a mesh extension: not part of the library at all
    assert not list(out.rglob("*.tmp*"))


def test_two_million_face_mesh_renders_in_bounded_memory(gpu_ok, tmp_path):
    v, f = badinput.grid_mesh(2_000_000)
    assert len(f) >= 2_000_000
    lib = tmp_path / "lib" / "terrain" / "train"
    lib.mkdir(parents=True)
    (lib / "big.ply").write_bytes(badinput.ply_binary(v, f))
    out = tmp_path / "out"
    code = ("import resource, subprocess, sys\n"
            f"r = subprocess.run([sys.executable, '-m', 'rotationnet.cli', 'render', {str(tmp_path / 'lib')!r}, "
            f"{str(out)!r}, '--rig', 'ring12', '--size', '64', '--workers', '1'])\n"
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    rc, peak_kb = map(int, res.stdout.split()[-2:])
    assert rc == 0, res.stderr[-2000:]
    assert peak_kb < 2_500_000, f"peak {peak_kb / 1e6:.2f} GB"
    img = np.asarray(Image.open(out / "train" / "terrain" / "big_000.png"))
    assert (img < 250).mean() > 0.05  # the surface is visible


# ---------------------------------------------------------------------------
# datasets and checkpoints through the command line
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_run(synth_layout, tmp_path_factory):
    run = tmp_path_factory.mktemp("badrun")
    assert cli.main(["train", str(synth_layout), "--rig", "ring12", "--out", str(run), "--image-size", "32",
                     "--head-epochs", "3", "--batch-objects", "8"]) == 0
    return run


def _user_error(capsys, argv, *must_name):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    line = next((ln for ln in err.splitlines() if re.match(r"rotationnet \w+: error: ", ln)), None)
    assert line is not None and "Traceback" not in err, err
    for s in must_name:
        assert re.search(s, line), line
    return err


def _manifest_copy(synth_layout, tmp_path):
    d = tmp_path / "d"
    shutil.copytree(synth_layout, d)
    m = load_dataset(d, rig="ring12")
    m.save()
    return d, json.loads((d / "manifest.json").read_text())


def test_dataset_object_with_a_missing_view(synth_layout, tmp_path, capsys):
    d = tmp_path / "d"
    shutil.copytree(synth_layout, d)
    (d / "train" / "mug" / "mug_0003_007.png").unlink()
    _user_error(capsys, ["train", str(d), "--rig", "ring12", "--out", str(tmp_path / "r")], r"mug_0003.*11 views")
    # in a manifest: the listed file is gone
    d2, man = _manifest_copy(synth_layout, tmp_path / "m")
    gone = d2 / man["objects"][5]["views"][3]
    gone.unlink()
    _user_error(capsys, ["train", str(d2), "--out", str(tmp_path / "r2")], re.escape(str(gone)), "not found")


def test_dataset_with_mixed_image_sizes(synth_layout, tmp_path, capsys):
    d = tmp_path / "d"
    shutil.copytree(synth_layout, d)
    odd = d / "train" / "car" / "car_0002_004.png"
    Image.open(odd).resize((70, 70)).save(odd)
    _user_error(capsys, ["train", str(d), "--rig", "ring12", "--out", str(tmp_path / "r")],
                "car_0002_004.png", "mixed image sizes")


@pytest.mark.parametrize("path", ["../outside.png", "/etc/hostname", "train/../../x.png"])
def test_manifest_pointing_outside_its_folder(synth_layout, tmp_path, capsys, path):
    d, man = _manifest_copy(synth_layout, tmp_path)
    man["objects"][0]["views"][0] = path
    (d / "manifest.json").write_text(json.dumps(man))
    _user_error(capsys, ["train", str(d), "--out", str(tmp_path / "r")], "manifest.json",
                re.escape(path), "outside the dataset folder")


def test_class_in_test_absent_from_train(synth_layout, tmp_path, capsys):
    d, man = _manifest_copy(synth_layout, tmp_path)
    man["objects"] = [o for o in man["objects"] if not (o["split"] == "train" and o["class"] == "mug")]
    (d / "manifest.json").write_text(json.dumps(man))
    _user_error(capsys, ["train", str(d), "--out", str(tmp_path / "r")], "class 'mug'", "no train objects")


def test_evaluation_goes_on_past_a_bad_object(small_run, synth_layout, tmp_path, capsys):
    d = tmp_path / "d"
    shutil.copytree(synth_layout, d)
    bad = d / "test" / "chair" / "chair_0001_002.png"
    bad.write_bytes(bad.read_bytes()[:200])
    assert cli.main(["eval", str(small_run), str(d), "--rig", "ring12", "--out", str(tmp_path / "e")]) == 0
    res = json.loads((tmp_path / "e" / "eval_test.json").read_text())
    assert res["objects"] == 7
    assert [s["id"] for s in res["skipped"]] == ["test/chair/chair_0001"]
    assert "chair_0001_002.png" in res["skipped"][0]["error"]
    assert "chair_0001_002.png" in capsys.readouterr().err


def test_checkpoint_for_other_classes_or_views(small_run, tmp_path, capsys):
    import synth
    from rotationnet.core.views import get_rig

    other = synth.build_dataset(tmp_path / "o", get_rig("ring12"), per_class=(1, 1), size=32,
                                classes=("mug", "table"))
    _user_error(capsys, ["eval", str(small_run), str(other)], "unknown to the model")
    six = synth.build_dataset(tmp_path / "s", get_rig("ring:6:30"), per_class=(1, 1), size=32, classes=("mug",))
    _user_error(capsys, ["eval", str(small_run), str(six), "--rig", "ring:6:30"], "best", "rig")


def _tamper(run, tmp_path, fn):
    r = tmp_path / "run"
    shutil.copytree(run, r)
    fn(r)
    return r


@pytest.mark.parametrize("what,edit,expect", [
    ("class list shortened", lambda m: m.update(classes=m["classes"][:2]), r"2 classes"),
    ("rig swapped", lambda m: m["model"].update(rig={**m["model"]["rig"], "spec": "ring:6:30",
                                                    "cameras": m["model"]["rig"]["cameras"][:6]}), r"rig|weights|fit"),
    ("checksum edited", lambda m: m.update(tensors_sha256="0" * 64), r"tampered"),
    ("format changed", lambda m: m.update(format="other"), r"not a rotationnet checkpoint"),
    ("backbone renamed", lambda m: m["model"].update(backbone="resnet18"), r"weights do not fit"),
])
def test_tampered_checkpoint_metadata(small_run, synth_layout, tmp_path, capsys, what, edit, expect):
    def fn(r):
        m = json.loads((r / "best.json").read_text())
        edit(m)
        (r / "best.json").write_text(json.dumps(m))
    r = _tamper(small_run, tmp_path, fn)
    _user_error(capsys, ["eval", str(r), str(synth_layout), "--rig", "ring12"], re.escape(str(r / "best")), expect)


def test_truncated_or_garbage_checkpoint_files(small_run, synth_layout, tmp_path, capsys):
    def cut(r):
        t = r / json.loads((r / "best.json").read_text())["tensors_file"]
        t.write_bytes(t.read_bytes()[:1000])
    r = _tamper(small_run, tmp_path, cut)
    _user_error(capsys, ["eval", str(r), str(synth_layout), "--rig", "ring12"], r"best\.[0-9a-f]{12}\.safetensors",
                "truncated")
    (r / "best.json").write_text('{"format": "rotationnet-checkp')
    _user_error(capsys, ["eval", str(r), str(synth_layout), "--rig", "ring12"], "best.json", "unreadable")


def test_pickle_with_code_is_never_executed(synth_layout, tmp_path, capsys):
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for name in ("model.pth", "model.pt"):
        evil = tmp_path / name
        evil.write_bytes(pickle.dumps({"state_dict": Evil()}))
        # as a run/checkpoint for prediction, and as backbone weights for training
        _user_error(capsys, ["predict", str(evil), str(synth_layout / "test" / "mug" / "mug_0000_000.png")], name)
        _user_error(capsys, ["train", str(synth_layout), "--rig", "ring12", "--out", str(tmp_path / "r"),
                             "--backbone", "resnet18", "--weights", str(evil), "--head-epochs", "1"], name)
    assert not marker.exists()
