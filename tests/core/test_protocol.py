"""The worker protocol (rotationnet.core.protocol): one schema, clear refusals."""

import json

import pytest

from rotationnet.core import protocol as P


def test_valid_requests_pass_and_round_trip():
    line = P.make_request(3, "classify", images=["/x/a.png", "/x/b.png"], top_k=5, thumbs="/tmp/t")
    req = P.parse_request(line.encode())
    assert req == {"id": 3, "cmd": "classify", "images": ["/x/a.png", "/x/b.png"], "top_k": 5, "thumbs": "/tmp/t"}
    assert P.parse_request('{"id": "a", "cmd": "ping"}') == {"id": "a", "cmd": "ping"}
    assert P.parse_request(P.make_request(None, "configure", run="", library="/lib", cache="/c"))["run"] == ""


@pytest.mark.parametrize("line, message", [
    (b"[1, 2]", "must be a JSON object, got a list"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"{nope", "not JSON"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    (b'{"cmd": "classify", "images": "a.png"}', "'classify' field 'images' must be a list of file paths, got a string"),
    (b'{"cmd": "classify", "images": []}', "must hold 1 to 64 paths, got 0"),
    (b'{"cmd": "classify"}', "'classify' needs the field 'images'"),
    (b'{"cmd": "classify", "images": [3]}', "'classify' field 'images'[0] must be a path string, got an integer"),
    (b'{"cmd": "classify", "images": ["a"], "top_k": true}', "'top_k' must be an integer, got a boolean"),
    (b'{"cmd": "classify", "images": ["a"], "top_k": 0}', "'top_k' must be 1..100, got 0"),
    (b'{"cmd": "configure", "run": "a\\u0000b"}', "contains a NUL character"),
    (b'{"cmd": "configure", "which": "worst"}', "must be one of ['best', 'last']"),
    (b'{"cmd": "ping", "extra": 1}', "'ping' takes no field 'extra'"),
    (b'{"cmd": "format_disk"}', "unknown command 'format_disk'"),
    (b'{"cmd": ["ping"]}', "unknown command ['ping']"),
    (b'{"id": [1], "cmd": "ping"}', "'id' must be an integer, a string or null, got a list"),
])
def test_bad_requests_are_refused_with_a_clear_message(line, message):
    with pytest.raises(P.ProtocolError) as e:
        P.parse_request(line)
    assert message in str(e.value)


def test_request_id_is_recovered_for_the_error_reply():
    assert P.request_id(b'{"id": 7, "cmd": "classify", "images": "a.png"}') == 7
    assert P.request_id(b"[1]") is None and P.request_id(b"\xff") is None and P.request_id(b'{"id": {}}') is None


def test_make_request_refuses_what_the_worker_would_refuse():
    with pytest.raises(P.ProtocolError, match="must be a list"):
        P.make_request(1, "classify", images="a.png")


def test_ready_line_version_check():
    P.check_ready(P.ready_reply(123))
    old = json.loads(json.dumps({**P.ready_reply(1), "protocol": 1}))
    with pytest.raises(P.ProtocolError, match=f"speaks worker protocol 1, this add-on protocol {P.PROTOCOL}"):
        P.check_ready(old, "the worker (/usr/bin/python3)")


def _asset(**kw):
    a = {"id": "chair/c1.glb", "label": "chair", "score": 0.8, "source": "/lib/chair/c1.glb", "kind": "mesh",
         "object": None, "format": "glb", "center": [0, 1.5, 2], "scale": 0.25, "up_axis": "Y"}
    a.update(kw)
    return a


def test_asset_fields_checked():
    a = P.check_asset(_asset())
    assert a["center"] == [0.0, 1.5, 2.0] and a["scale"] == 0.25
    b = P.check_asset(_asset(kind="blend", format="blend", source="/lib/props.blend", object="Chair",
                             id="props.blend::Chair", label=None))
    assert b["object"] == "Chair"
    assert set(P.ASSET_FIELDS) == set(a)
    assert "mesh" not in P.ASSET_FIELDS  # never a path into the worker's cache


@pytest.mark.parametrize("asset, message", [
    ([1], "must be an object, got a list"),
    ({k: v for k, v in _asset().items() if k != "up_axis"}, "has no field 'up_axis'"),
    (_asset(mesh="/cache/x.npz"), "unknown field 'mesh'"),
    (_asset(source=""), "'source' is empty"),
    (_asset(score="high"), "'score' must be a finite number"),
    (_asset(kind="cad"), "'kind' must be one of"),
    (_asset(format="fbx", source="/lib/a.fbx"), "'format' of a 'mesh' asset must be one of"),
    (_asset(format="obj"), "does not match the source file"),
    (_asset(object="Chair"), "'object' must be null for a mesh file"),
    (_asset(kind="blend", format="blend", source="/l/p.blend", object=""), "must name the object"),
    (_asset(center=[0, 1]), "'center' must be a list of 3 numbers"),
    (_asset(center=[0, float("nan"), 1]), "'center'[1] must be a finite number"),
    (_asset(scale=0), "'scale' must be above 0"),
    (_asset(scale=True), "'scale' must be a finite number"),
    (_asset(up_axis="X"), "'up_axis' must be 'Z' or 'Y'"),
    (_asset(label=3), "'label' must be a string or null"),
])
def test_bad_assets_are_refused_naming_the_field(asset, message):
    with pytest.raises(P.ProtocolError) as e:
        P.check_asset(asset)
    assert message in str(e.value)
