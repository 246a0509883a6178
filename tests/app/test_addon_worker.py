"""The add-on's side of the worker (blender_addon/worker.py), with Blender as a
module in this process: which interpreter it runs, and a worker of another
protocol version refused with a message naming both versions."""

import importlib.util
import stat
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def worker(blender):
    spec = importlib.util.spec_from_file_location("rotationnet_addon_worker", ROOT / "blender_addon" / "worker.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod
    mod.shutdown(kill=True)


def _script(path: Path, body: str) -> str:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_worker_of_another_protocol_is_refused(worker, tmp_path):
    old = _script(tmp_path / "old_python", "import json, sys, time\n"
                  "print(json.dumps({'id': None, 'ready': True, 'protocol': 1}), flush=True)\n"
                  "time.sleep(60)\n")
    replies = []
    worker.request(old, "ping", replies.append)
    assert worker.wait_idle(30)
    assert len(replies) == 1 and replies[0]["ok"] is False
    from rotationnet.core.protocol import PROTOCOL

    assert f"speaks worker protocol 1, this add-on protocol {PROTOCOL}" in replies[0]["error"]
    assert old in replies[0]["error"]
    assert not worker.is_alive()


def test_the_real_worker_answers(worker):
    replies = []
    worker.request(sys.executable, "ping", replies.append)
    assert worker.wait_idle(120)
    assert replies and replies[0]["ok"] is True
    worker.shutdown()


def test_bad_request_is_refused_before_it_is_sent(worker):
    with pytest.raises(worker.WorkerError, match="must be a list of file paths"):
        worker.request(sys.executable, "classify", lambda m: None, images="a.png")


def test_interpreter_resolution(worker, tmp_path):
    # the preference wins; a missing one says so
    with pytest.raises(worker.WorkerError, match="Worker Python not found"):
        worker.resolve_python(str(tmp_path / "nope" / "python"))
    # a python that cannot import the worker is refused with what to do
    bad = _script(tmp_path / "bad_python", "import sys\nsys.exit(1)\n")
    with pytest.raises(worker.WorkerError, match="cannot import rotationnet and torch"):
        worker.resolve_python(bad)
    assert worker.resolve_python(sys.executable) == sys.executable
    # empty: the project's .venv above the model run folder
    project = tmp_path / "project"
    run = project / "runs" / "demo" / "run"
    run.mkdir(parents=True)
    (project / ".venv" / "bin").mkdir(parents=True)
    venv_python = project / ".venv" / "bin" / "python"
    venv_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # stands for the project's interpreter
    venv_python.chmod(0o755)
    assert worker.resolve_python("", str(run)) == str(project / ".venv" / "bin" / "python")
    # nothing found: the message says exactly what to set
    with pytest.raises(worker.WorkerError, match="Set Edit > Preferences > Add-ons > RotationNet > 'Worker Python'"):
        worker.resolve_python("", str(tmp_path / "elsewhere"))
