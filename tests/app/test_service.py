"""The inference worker (``python -m rotationnet.app.service``) answers every
request line with a reply and stays up, whatever the line holds."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rotationnet.app.client import WorkerClient
from rotationnet.core import protocol as P


class Worker(WorkerClient):
    """The worker as a real subprocess; ``send`` is one raw line."""

    def send(self, line: bytes) -> dict:
        return self.send_line(line)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def worker():
    w = Worker(timeout=120)
    yield w
    w.kill()


def _ping(w, rid):
    r = w.send(json.dumps({"id": rid, "cmd": "ping"}).encode())
    assert r == {"id": rid, "ok": True, "result": {"protocol": P.PROTOCOL, "pid": w.proc.pid}}


def test_ready_line(worker):
    assert worker.ready[P.READY] is True and worker.ready[P.VERSION] == P.PROTOCOL


@pytest.mark.parametrize("line, message", [
    (b"[1,2]", "must be a JSON object"),
    (b'{"id": 4, "cmd": "classify", "images": "a.png"}', "must be a list of file paths, got a string"),
    (b'{"id": 5, "cmd": "classify", "images": []}', "must hold 1 to 64 paths"),
    (b"\x80\x81 not utf-8", "not UTF-8"),
    (b"[" * 50000 + b"]" * 50000, "nested too deeply"),
    (b'{"id": 6, "cmd": "classify", "images": ["/nonexistent/a.png"]}', "not configured: set an asset library"),
    (b'{"id": 7, "cmd": "configure", "run": "/nonexistent/run"}', "/nonexistent/run"),
    (b'{"id": 8, "cmd": "index"}', "no asset library configured"),
])
def test_bad_requests_get_an_error_and_the_worker_stays_up(worker, line, message):
    r = worker.send(line)
    assert r[P.OK] is False and message in r[P.ERROR], r
    rid = P.request_id(line)
    assert r[P.ID] == rid
    _ping(worker, 99)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=20)
_missing = st.text(alphabet="abcxyz/._- ", max_size=30).map(lambda s: "/nonexistent-rotationnet/" + s)
_field_value = _json | _missing | st.lists(_missing, max_size=3)
_request = st.fixed_dictionaries(
    {"cmd": st.sampled_from(sorted(set(P.COMMANDS) - {"shutdown"}) + ["", "Ping", "shutdown "])},
    optional={"id": _json, **{f: _field_value for f in ("run", "which", "library", "cache", "images", "top_k",
                                                          "thumbs", "extra")}})
_line = (st.binary(min_size=1, max_size=200)
         | _json.map(lambda v: json.dumps(v).encode())
         | _request.map(lambda v: json.dumps(v).encode()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=_line)
def test_any_line_gets_one_answer_and_the_worker_still_answers_ping(worker, line):
    line = line.replace(b"\n", b" ").replace(b"\r", b" ")
    if not line.strip():  # blank lines are not requests
        return
    r = worker.send(line)
    assert set(r) == {P.ID, P.OK, P.ERROR} or set(r) == {P.ID, P.OK, P.RESULT}, r
    if r[P.OK] is False:
        assert isinstance(r[P.ERROR], str) and r[P.ERROR]
    _ping(worker, "after")


def test_shutdown_ends_the_worker():
    w = Worker(timeout=120)
    try:
        r = w.send(b'{"id": 1, "cmd": "shutdown"}')
        assert r == {"id": 1, "ok": True, "result": None}
        assert w.proc.wait(timeout=30) == 0
    finally:
        w.kill()
