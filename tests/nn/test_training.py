"""Real short training runs through the command line: train, eval, predict,
resume, and checkpoint safety."""

import csv
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from rotationnet import cli
from rotationnet.nn.checkpoint import load_checkpoint, read_metadata
from rotationnet.core.errors import CheckpointError
from rotationnet.nn.predict import Predictor
from rotationnet.core.views import get_rig

from conftest import shared

SIZE = "64"


@pytest.fixture(scope="module")
def trained_run(synth_layout, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    code = cli.main(["train", str(synth_layout), "--rig", "ring12", "--out", str(run), "--image-size", SIZE,
                     "--head-epochs", "150", "--epochs", "1", "--batch-objects", "6", "--seed", "0"])
    assert code == 0
    return run


def test_training_writes_checkpoints_and_logs(trained_run):
    for name in ("best.json", "last.json", "log.csv", "train.log"):
        assert (trained_run / name).is_file(), name
    for which in ("best", "last"):  # exactly one tensor file per checkpoint, named by its content
        files = list(trained_run.glob(f"{which}.*.safetensors"))
        assert [f.name for f in files] == [json.loads((trained_run / f"{which}.json").read_text())["tensors_file"]]
    assert any((trained_run / "tb").iterdir())
    rows = (trained_run / "log.csv").read_text().splitlines()
    assert len(rows) == 1 + 151 and rows[-1].split(",")[1] == "finetune"
    meta = read_metadata(trained_run / "last")
    assert meta["classes"] == ["car", "chair", "desk_lamp", "mug"]
    assert meta["model"]["preprocess"]["input_size"] == 64
    assert meta["model"]["rig"]["spec"] == "ring12"
    assert {k: meta["state"][k] for k in ("phase", "phase_epoch", "epoch")} == \
        {"phase": "finetune", "phase_epoch": 1, "epoch": 151}
    assert 0 <= meta["state"]["best_val"] <= 1
    # validation never includes test objects
    assert not any(i.startswith("test/") for i in meta["dataset"]["val_ids"])
    # the loss went down during the head phase
    losses = [float(r.split(",")[3]) for r in rows[1:151]]
    assert losses[-1] < 0.5 * losses[0]


def test_eval_on_held_out_objects(trained_run, synth_layout, capsys):
    assert cli.main(["eval", str(trained_run), str(synth_layout), "--split", "test", "--class-pose"]) == 0
    res = json.loads((trained_run / "eval_test.json").read_text())
    assert res["objects"] == 8
    assert res["object_acc_all"] >= 0.75  # chance 0.25
    assert res["image_acc"] >= 0.6
    assert res["object_acc_k"]["1"] >= 0.6 and set(res["object_acc_k"]) == {"1", "2", "4", "8"}
    # pose from one image, mapped through the object's own alignment: chance is 1/12
    assert res["asset_pose"]["exact_view_rate"] >= 0.3
    assert res["asset_pose"]["view_angle_median_deg"] <= 60
    assert "class_pose" in res
    assert np.array(res["confusion"]).sum() == 8
    assert (trained_run / "eval_test_confusion.png").stat().st_size > 1000
    # the per-image table agrees with the summary: one row per image, same accuracy and exact-view rate
    with open(trained_run / "eval_test_images.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 * 12 and "image_pred_class" not in res
    assert np.mean([int(r["correct"]) for r in rows]) == pytest.approx(res["image_acc"])
    assert all(int(r["correct"]) == (r["pred_class"] == r["true_class"]) for r in rows)
    assert np.mean([r["pred_view"] == r["view"] for r in rows]) == pytest.approx(res["asset_pose"]["exact_view_rate"])
    objects = sorted({r["object"] for r in rows})
    assert len(objects) == 8 and all(o.startswith("test/") or "/test/" in o for o in objects), objects
    assert all(sorted(int(r["view"]) for r in rows if r["object"] == o) == list(range(12)) for o in objects)


def test_predict_cli_and_api(trained_run, synth_layout, capsys):
    views = sorted((synth_layout / "test" / "desk_lamp").glob("desk_lamp_0000_*.png"))
    assert cli.main(["predict", str(trained_run), str(views[2]), str(views[9])]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "unordered" and len(out["images"]) == 2
    assert out["images"][0]["view_slot"] != out["images"][1]["view_slot"]
    assert abs(sum(r["probability"] for r in out["ranking"]) - 1) < 1e-6
    R = np.array(out["rotation"]["matrix"])
    rig = get_rig("ring12")
    np.testing.assert_allclose(R @ rig.cameras[out["images"][0]["view_slot"]], rig.cameras[0], atol=1e-6)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-6)

    p = Predictor.from_run(trained_run)
    full = p.predict(views, positions=list(range(12)))
    assert full["class"] == "desk_lamp" and full["mode"] == "ordered"
    # shifting the images by s around the ring shifts the chosen candidate by -s
    j = full["candidate"]
    for s in (1, 5):
        shifted = [views[(i + s) % 12] for i in range(12)]
        assert p.predict(shifted, positions=list(range(12)))["candidate"] == (j - s) % 12
    # fewer images at known positions: unobserved slots neutral
    part = p.predict([views[0], views[6]], positions=[0, 6])
    assert part["mode"] == "ordered" and len(part["images"]) == 2


def test_predict_bad_input_is_a_clear_error(trained_run, tmp_path, capsys):
    bad = tmp_path / "x.png"
    bad.write_text("hello")
    assert cli.main(["predict", str(trained_run), str(bad)]) == 2
    assert "x.png" in capsys.readouterr().err
    assert cli.main(["predict", str(tmp_path / "norun"), str(bad)]) == 2
    assert "not found" in capsys.readouterr().err


def _head(run, which="last"):
    model, _ = load_checkpoint(run / which)
    return model.head[1].weight.detach().clone()


def test_resume_reaches_the_same_weights(synth_layout, tmp_path):
    """Stopped within the head phase, and again right at its end (the RNG state
    must carry over into fine-tuning's dropout), the resumed run ends where an
    uninterrupted one does."""
    base = ["train", str(synth_layout), "--rig", "ring12", "--image-size", "48", "--batch-objects", "6", "--seed", "3",
            "--head-epochs", "12", "--epochs", "1"]
    assert cli.main(base + ["--out", str(tmp_path / "a")]) == 0
    assert cli.main(base + ["--out", str(tmp_path / "b"), "--stop-after", "5"]) == 0
    assert len((tmp_path / "b" / "log.csv").read_text().splitlines()) == 6
    assert cli.main(base + ["--out", str(tmp_path / "b"), "--resume", "--stop-after", "7"]) == 0
    assert read_metadata(tmp_path / "b" / "last")["state"]["phase_epoch"] == 12  # the head phase's end
    assert cli.main(base + ["--out", str(tmp_path / "b"), "--resume"]) == 0
    torch.testing.assert_close(_head(tmp_path / "a"), _head(tmp_path / "b"), rtol=1e-5, atol=1e-6)
    assert len((tmp_path / "b" / "log.csv").read_text().splitlines()) == 14


def test_checkpoint_tampering_and_pickles_are_refused(trained_run, tmp_path, synth_layout):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    # tampered metadata: class count no longer fits
    meta = json.loads((run / "best.json").read_text())
    meta["classes"] = meta["classes"][:3]
    (run / "best.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="3 classes"):
        load_checkpoint(run / "best")
    # truncated tensors
    tensors = run / json.loads((run / "last.json").read_text())["tensors_file"]
    data = tensors.read_bytes()
    tensors.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, replaced or tampered"):
        load_checkpoint(run / "last")
    # a pickle that would run code is never executed
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        pickle.dump({"state_dict": Evil()}, f)
    code = cli.main(["train", str(synth_layout), "--rig", "ring12", "--out", str(tmp_path / "r2"),
                     "--backbone", "resnet18", "--weights", str(evil), "--head-epochs", "1"])
    assert code == 2 and not marker.exists()


def test_model_does_not_fit_other_data(trained_run, tmp_path):
    import synth

    other = synth.build_dataset(tmp_path / "d", get_rig("ring:6:30"), per_class=(1, 1), size=32,
                                classes=("mug", "car"))
    assert cli.main(["eval", str(trained_run), str(other), "--rig", "ring:6:30"]) == 2


def test_real_photos_identity_from_coil(tmp_path):
    """Turntable photos (COIL-100): train on the 12 views 30° apart of 8 objects,
    test on the ring offset by 15°."""
    root = shared("coil100")
    from rotationnet.core.manifest import Manifest, photo_sets

    for n in range(1, 9):
        (tmp_path / f"obj{n}").symlink_to(root / f"obj{n}")
    rig = get_rig("ring12")
    tr = photo_sets(tmp_path, rig, "train", "0::6")
    te = photo_sets(tmp_path, rig, "test", "3::6")
    for o in te.objects:
        o.id += "@15deg"
    Manifest(root=tmp_path, rig=rig, classes=tr.classes, objects=tr.objects + te.objects).save()
    run = tmp_path / "run"
    assert cli.main(["train", str(tmp_path), "--out", str(run), "--image-size", "64", "--val-fraction", "0",
                     "--head-epochs", "120"]) == 0
    assert cli.main(["eval", str(run), str(tmp_path), "--class-pose", "--k", "1,3"]) == 0
    res = json.loads((run / "eval_test.json").read_text())
    assert res["image_acc"] >= 0.9  # chance 1/8
    assert res["object_acc_k"]["3"] >= 0.9
    # test views lie 15° between training views: the best possible error is 15°
    assert res["class_pose"]["geodesic_mean_deg"] <= 45


def test_cli_entry_point_installed():
    out = subprocess.run([sys.executable, "-m", "rotationnet.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "train" in out.stdout and "predict" in out.stdout


def test_hidden_head_with_label_smoothing_trains_and_predicts(synth_layout, tmp_path, capsys):
    """The PSB recipe's head (one hidden layer, label smoothing, all training
    objects, no validation) on real renders: it learns, and eval / predict
    rebuild it from the checkpoint alone."""
    run = tmp_path / "run"
    assert cli.main(["train", str(synth_layout), "--rig", "ring12", "--out", str(run), "--image-size", SIZE,
                     "--head-epochs", "40", "--head-hidden", "64", "--label-smoothing", "0.1",
                     "--val-fraction", "0", "--batch-objects", "6", "--seed", "0"]) == 0
    meta = read_metadata(run / "best")
    assert meta["model"]["head_hidden"] == 64 and meta["config"]["label_smoothing"] == 0.1
    assert meta["dataset"]["num_val"] == 0 and meta["state"]["epoch"] == 40
    assert cli.main(["eval", str(run), str(synth_layout), "--split", "test"]) == 0
    res = json.loads((run / "eval_test.json").read_text())
    assert res["object_acc_all"] >= 0.75 and res["image_acc"] >= 0.6  # chance 0.25
    p = Predictor.from_run(run)
    assert p.model.head[1].out_features == 64
    view = sorted((synth_layout / "test" / "mug").glob("mug_*.png"))[3]
    out = p.predict([view])
    assert out["mode"] == "unordered" and abs(sum(r["probability"] for r in out["ranking"][:4]) - 1) < 1e-6
