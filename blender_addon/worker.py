"""The inference worker process, seen from Blender.

Torch never loads inside Blender: ``python -m rotationnet.app.service`` runs in a
separate interpreter — the "Worker Python" preference, or, when that is empty,
the ``.venv`` of the rotationnet project the model run belongs to — and stays
up between clicks.  Requests go out as JSON lines on its stdin, built and
checked by :mod:`rotationnet.core.protocol` (the definition the worker uses
too); a reader thread queues the replies; :func:`pump` — called from a
``bpy.app.timers`` callback, so the UI never blocks — hands them to the
callbacks given with each request.  A worker whose ready line reports another
protocol version is refused.  Cancelling ends the process; the next request
starts a new one.
"""

import json
import os
import queue
import subprocess
import tempfile
import threading
import time

import bpy
from rotationnet.core import protocol

_proc = None
_reader = None
_replies = queue.Queue()
_pending = {}  # request id -> (on_progress, on_done)
_next_id = 1
_stderr_path = None
_python = None  # the interpreter of the running worker
_checked_python = {}
WORKER_MODULE = "rotationnet.app.service"


class WorkerError(Exception):
    pass


def _can_run_worker(python):
    if python in _checked_python:
        return _checked_python[python]
    try:
        r = subprocess.run([python, "-c", "import rotationnet.app.service, torch"], capture_output=True, timeout=120)
        ok = r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    _checked_python[python] = ok
    return ok


def _venv_pythons(start):
    """``.venv`` interpreters in ``start`` and the folders above it (a run folder
    usually sits inside the rotationnet project that trained it)."""
    d = os.path.abspath(start)
    while True:
        for rel in (("bin", "python"), ("Scripts", "python.exe")):
            cand = os.path.join(d, ".venv", *rel)
            if os.path.isfile(cand):
                yield cand
        parent = os.path.dirname(d)
        if parent == d:
            return
        d = parent


def resolve_python(pref_path, run_dir=""):
    """The interpreter to run the worker with, or raise WorkerError saying why
    and what to set: the "Worker Python" preference when set, else the
    project's ``.venv`` beside the configured model run."""
    if pref_path:
        path = bpy.path.abspath(pref_path)
        if not os.path.isfile(path):
            raise WorkerError(f"Worker Python not found: {path}")
        if not _can_run_worker(path):
            raise WorkerError(f"{path} cannot import rotationnet and torch; install the project there "
                              "(in its folder: make install) or point 'Worker Python' at the project's .venv/bin/python")
        return path
    if run_dir:
        for cand in _venv_pythons(bpy.path.abspath(run_dir)):
            if _can_run_worker(cand):
                return cand
    where = f" (no .venv with rotationnet above the model folder {bpy.path.abspath(run_dir)})" if run_dir else ""
    raise WorkerError("Set Edit > Preferences > Add-ons > RotationNet > 'Worker Python' to the python of a "
                      "rotationnet install, e.g. /path/to/rotationnet/.venv/bin/python" + where)


def is_alive():
    return _proc is not None and _proc.poll() is None


def busy():
    return bool(_pending)


def _read(proc):
    for line in proc.stdout:
        try:
            _replies.put(json.loads(line))
        except ValueError:
            continue
    _replies.put({"id": None, "died": True, "code": proc.wait(), "pid": proc.pid})


def start(python):
    global _proc, _reader, _stderr_path, _python
    if is_alive():
        if python == _python:
            return
        shutdown()  # the preference changed: the next worker runs in the new interpreter
    fd, _stderr_path = tempfile.mkstemp(prefix="rotationnet-worker-", suffix=".log")
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    _proc = subprocess.Popen([python, "-m", WORKER_MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=fd, text=True, bufsize=1, env=env)
    _python = python
    os.close(fd)
    _reader = threading.Thread(target=_read, args=(_proc,), daemon=True)
    _reader.start()


def request(python, cmd, on_done, on_progress=None, **args):
    """Send a request (starting the worker if needed); returns its id."""
    global _next_id
    try:
        line = protocol.make_request(_next_id, cmd, **args)
    except protocol.ProtocolError as e:
        raise WorkerError(str(e)) from None
    start(python)
    rid = _next_id
    _next_id += 1
    _pending[rid] = (on_progress, on_done)
    try:
        _proc.stdin.write(line)
        _proc.stdin.flush()
    except (BrokenPipeError, OSError) as e:
        _pending.pop(rid, None)
        raise WorkerError(f"worker not reachable: {e}") from None
    if not bpy.app.timers.is_registered(_timer):
        bpy.app.timers.register(_timer, first_interval=0.05)
    return rid


def _stderr_tail():
    try:
        with open(_stderr_path, encoding="utf-8", errors="replace") as f:
            lines = [ln.strip() for ln in f.read().splitlines() if ln.strip() and "EGL" not in ln]
        return lines[-1] if lines else ""
    except (OSError, TypeError):
        return ""


def pump():
    """Deliver queued replies to their callbacks (main thread only)."""
    while True:
        try:
            msg = _replies.get_nowait()
        except queue.Empty:
            return
        if msg.get("died"):
            if _proc is not None and msg.get("pid") != _proc.pid:
                continue  # an older, already replaced worker
            err = f"the worker stopped (exit code {msg.get('code')})"
            tail = _stderr_tail()
            if tail:
                err += f": {tail}"
            for rid, (_p, done) in list(_pending.items()):
                _pending.pop(rid, None)
                done({"ok": False, "error": err})
            continue
        if msg.get(protocol.READY):
            try:
                protocol.check_ready(msg, f"the worker ({_python})")
            except protocol.ProtocolError as e:
                for rid, (_p, done) in list(_pending.items()):
                    _pending.pop(rid, None)
                    done({"ok": False, "error": str(e)})
                shutdown(kill=True)
            continue
        rid = msg.get(protocol.ID)
        if rid not in _pending:
            continue
        on_progress, on_done = _pending[rid]
        if protocol.PROGRESS in msg:
            if on_progress:
                on_progress(msg[protocol.PROGRESS], msg.get(protocol.MESSAGE, ""))
        else:
            _pending.pop(rid, None)
            on_done(msg)


def _timer():
    pump()
    return 0.1 if _pending else None


def wait_idle(timeout=300.0):
    """Pump until no request is pending (for scripts and headless use, where
    Blender runs no event loop to fire timers).  Returns False on timeout."""
    end = time.time() + timeout
    while _pending and time.time() < end:
        pump()
        time.sleep(0.02)
    pump()
    return not _pending


def cancel():
    """Cancel whatever runs: the pending requests end with 'cancelled' and the
    worker process is ended (caches are written atomically, nothing is lost)."""
    for rid, (_p, done) in list(_pending.items()):
        _pending.pop(rid, None)
        done({"ok": False, "error": "cancelled", "cancelled": True})
    shutdown(kill=True)


def shutdown(kill=False):
    """Stop the worker (kill: at once, e.g. to cancel)."""
    global _proc
    if _proc is None:
        return
    try:
        if kill or _proc.poll() is not None:
            _proc.kill()
        else:
            _proc.stdin.write(protocol.make_request(0, "shutdown"))
            _proc.stdin.flush()
            _proc.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        _proc.kill()
    _proc = None
