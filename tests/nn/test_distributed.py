"""Multi-process training with torchrun (DistributedDataParallel, gloo on CPU)
gives what one process gives with the same global batch."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rotationnet.nn.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]


def _metrics(run):
    with open(run / "log.csv", newline="") as f:
        return [{k: (v if k == "phase" else float(v)) for k, v in r.items() if k not in ("seconds", "lr")}
                for r in csv.DictReader(f)]


def test_two_processes_equal_one_with_the_same_global_batch(synth_layout, tmp_path):
    args = ["train", str(synth_layout), "--rig", "ring12", "--image-size", "32", "--batch-objects", "4",
            "--dropout", "0", "--head-epochs", "3", "--epochs", "2", "--seed", "1"]
    one, two = tmp_path / "one", tmp_path / "two"
    r = subprocess.run([sys.executable, "-m", "rotationnet.cli", *args, "--out", str(one)], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                        "-m", "rotationnet.cli", *args, "--out", str(two)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-5000:]
    meta = json.loads((two / "last.json").read_text())
    assert meta["world_size"] == 2
    log = (two / "train.log").read_text()
    assert log.count("epoch   1 head") == 1  # only rank 0 logs
    assert "2 processes × 2 objects per batch" in log
    a, b = _metrics(one), _metrics(two)
    assert [r["phase"] for r in a] == [r["phase"] for r in b] == ["head"] * 3 + ["finetune"] * 2
    for x, y in zip(a, b):
        for k in x:
            if k != "phase":
                assert x[k] == pytest.approx(y[k], rel=1e-3, abs=1e-5), (k, x, y)
    # the same weights: each tensor's relative norm difference is tiny.  Float
    # reduction order differs between 1 and 2 processes, so single elements may
    # drift (e.g. a depthwise conv's) while whole tensors agree; a rank training
    # on other objects or a skipped gradient all-reduce moves them by >> 1e-3
    wa = load_checkpoint(one / "last")[0].state_dict()
    wb = load_checkpoint(two / "last")[0].state_dict()
    assert wa.keys() == wb.keys()
    for k in wa:
        if not wa[k].is_floating_point():
            assert torch.equal(wa[k], wb[k]), k
            continue
        diff = float((wa[k].double() - wb[k].double()).norm())
        assert diff <= 1e-3 * float(wa[k].double().norm()) + 1e-6, (k, diff, float(wa[k].double().norm()))
    # equal because both learned the same thing, not because nothing was learned
    assert a[2]["train_loss"] < 0.8 * a[0]["train_loss"]


def test_global_batch_must_split_over_processes(synth_layout, tmp_path):
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                        "-m", "rotationnet.cli", "train", str(synth_layout), "--rig", "ring12", "--image-size", "32",
                        "--batch-objects", "3", "--head-epochs", "1", "--out", str(tmp_path / "r")],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode != 0
    assert "--batch-objects 3 (the global batch) must be a multiple of the 2 processes" in r.stderr
