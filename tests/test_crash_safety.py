"""Crash safety: SIGKILL a bulk render or a training run, run it again, and get
what an uninterrupted run gives; unwritable output folders are refused up
front with a clear message."""

import csv
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from render.procedural import write_library

REPO = Path(__file__).resolve().parents[1]


def _cli(*args):
    return [sys.executable, "-m", "rotationnet.cli", *map(str, args)]


def _kill_when(cmd, ready, timeout=300.0):
    """Start ``cmd`` in its own process group, SIGKILL the whole group (workers
    included) as soon as ``ready()`` holds; returns True if it was killed
    before finishing."""
    p = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    t0 = time.time()
    try:
        while p.poll() is None and time.time() - t0 < timeout:
            if ready():
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                return True
            time.sleep(0.02)
        return False
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _tree(root: Path, skip=("render.log", "render-workers.log")) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in skip}


def test_killed_bulk_render_reruns_to_identical_output(gpu_ok, tmp_path):
    lib = write_library(tmp_path / "lib", instances=6, test=2, seed=1, categories=["chair", "mug", "car", "bottle"])
    args = ["--rig", "ring12", "--size", "48", "--workers", "2"]
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert subprocess.run(_cli("render", lib, ref, *args), cwd=REPO, capture_output=True).returncode == 0
    total = len(list((ref / ".records").rglob("*.json")))

    def some_done():
        rec = out / ".records"
        return rec.is_dir() and len(list(rec.rglob("*.json"))) >= 3

    assert _kill_when(_cli("render", lib, out, *args), some_done), "render finished before it could be killed"
    assert len(list((out / ".records").rglob("*.json"))) < total
    r = subprocess.run(_cli("render", lib, out, *args), cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "skipped" in r.stdout and "skipped 0" not in r.stdout  # the finished objects were kept
    a, b = _tree(ref), _tree(out)
    assert sorted(a) == sorted(b)  # same files, no partial leftovers
    assert [k for k in a if a[k] != b[k]] == []  # byte-identical
    assert not [k for k in b if ".tmp" in k]


def _rows(run):
    with open(run / "log.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


def test_killed_training_resumes_to_the_same_metrics(synth_layout, tmp_path):
    base = ["train", synth_layout, "--rig", "ring12", "--image-size", "48", "--batch-objects", "4", "--seed", "5",
            "--head-epochs", "4", "--epochs", "2", "--checkpoint-every", "1"]
    ref, run = tmp_path / "ref", tmp_path / "run"
    r = subprocess.run(_cli(*base, "--out", ref), cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]

    def mid_finetune():
        try:
            st = json.loads((run / "last.json").read_text())["state"]
        except (OSError, ValueError, KeyError):
            return False
        return st["phase"] == "finetune" and st["phase_epoch"] == 1 and st["batch"] >= 2

    assert _kill_when(_cli(*base, "--out", run), mid_finetune), "training finished before it could be killed"
    state = json.loads((run / "last.json").read_text())["state"]
    assert state["phase"] == "finetune" and state["batch"] >= 2  # killed in the middle of an epoch
    other = [a if a != "4" else "8" for a in base]  # --batch-objects 8: the stored position would be wrong
    r = subprocess.run(_cli(*other, "--out", run, "--resume"), cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2 and "resume with the same value" in r.stderr, r.stderr[-2000:]
    r = subprocess.run(_cli(*base, "--out", run, "--resume"), cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"batch {state['batch']}" in (run / "train.log").read_text()
    ra, rb = _rows(ref), _rows(run)
    assert [r["epoch"] for r in rb] == [str(i) for i in range(1, 7)]
    for x, y in zip(ra, rb):
        for k in x:
            if k == "phase":
                assert x[k] == y[k]
            else:
                assert float(x[k]) == pytest.approx(float(y[k]), rel=1e-4, abs=1e-6), (k, x, y)
    from rotationnet.nn.checkpoint import load_checkpoint

    import torch

    wa = load_checkpoint(ref / "last")[0].state_dict()
    wb = load_checkpoint(run / "last")[0].state_dict()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=1e-5, msg=k)
    assert not [p for p in run.iterdir() if ".tmp" in p.name or ".new." in p.name]


def _without_root_override():
    """preexec_fn: root ignores file modes through CAP_DAC_OVERRIDE; drop it
    (and DAC_READ_SEARCH) from the bounding set so the child honours them."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_read_only_output_folder_is_refused_before_work(tmp_path, synth_layout):
    import tempfile

    ro = Path(tempfile.mkdtemp(prefix="rotationnet-ro-"))  # under /tmp: reachable for any user
    ro.chmod(0o555)
    cmds = [_cli("train", synth_layout, "--rig", "ring12", "--out", ro / "run", "--head-epochs", "1"),
            _cli("render", REPO / "tests", ro / "renders")]
    for cmd in cmds:
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, preexec_fn=_without_root_override)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        assert str(ro) in r.stderr and ("Permission denied" in r.stderr or "Read-only" in r.stderr), r.stderr


def _limit_file_size(limit):
    def fn():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return fn


def test_full_disk_is_a_clear_error_and_keeps_the_last_checkpoint(synth_layout, tmp_path):
    """A disk that fills up mid-run (simulated with a file-size limit: the
    tensor file no longer fits, the probe and logs still do) ends the run
    with a message naming the file, and the previous checkpoint stays whole."""
    run = tmp_path / "run"
    base = ["train", synth_layout, "--rig", "ring12", "--image-size", "32", "--head-epochs", "2", "--out", run]
    assert subprocess.run(_cli(*base), cwd=REPO, capture_output=True).returncode == 0
    before = (run / "last.json").read_bytes()
    r = subprocess.run(_cli(*base[:-4], "--head-epochs", "4", "--out", run, "--resume"), cwd=REPO,
                       capture_output=True, text=True, preexec_fn=_limit_file_size(1_000_000))
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert "cannot write" in r.stderr and str(run) in r.stderr
    assert (run / "last.json").read_bytes() == before
    from rotationnet.nn.checkpoint import load_checkpoint

    load_checkpoint(run / "last")  # still whole
    assert not [p for p in run.iterdir() if ".tmp" in p.name]
