"""The pose stage through the worker (Service): the asset's own renders decide
how it is turned.  Real renders of procedural props from viewpoints between the
templates, a mirrored picture, libraries of classes a model does not know, no
model at all, the reply's fields against each other, and bad pictures."""

import json
import math

import numpy as np
import pytest
import trimesh
from pictures import look_picture as _look_picture
from pictures import render as _render

from rotationnet.core import protocol
from rotationnet.core.views import camera_matrices, geodesic_deg, quaternion_to_matrix, rolled_up
from rotationnet.core.views import direction as _dir

pytestmark = pytest.mark.usefixtures("gpu_ok")


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    from render.procedural import make_prop, write_library

    tmp = tmp_path_factory.mktemp("pose")
    lib = write_library(tmp / "lib", instances=1, test=0, seed=4, categories=("chair", "mug", "car"))
    # an asymmetric prop: a chair with a box on one side and a post on its back-left corner
    rng = np.random.default_rng(9)
    chair = make_prop("chair", rng)
    box = trimesh.creation.box((0.25, 0.1, 0.2))
    box.apply_translation(chair.bounds.mean(axis=0) + [0.15, chair.extents[1] / 2 + 0.05, 0.1])
    post = trimesh.creation.box((0.05, 0.05, 0.5))
    post.apply_translation([chair.bounds[0, 0], chair.bounds[0, 1], chair.bounds[1, 2] + 0.2])
    (lib / "oddity").mkdir()
    trimesh.util.concatenate([chair, box, post]).export(lib / "oddity" / "odd_chair.ply")
    return tmp, lib


@pytest.fixture(scope="module")
def service(library):
    from rotationnet.app.service import Service

    tmp, lib = library
    svc = Service(lambda m: None)
    info = svc.configure({"library": str(lib), "cache": str(tmp / "cache")})
    assert info["model"] is False and info["assets"] == 4
    assert svc.index_({"id": 1})["failed"] == []
    return svc


def _classify(svc, tmp, images, name, **req):
    from PIL import Image

    paths = []
    for k, im in enumerate(images):
        p = tmp / f"{name}_{k}.png"
        Image.fromarray(im).save(p)
        paths.append(str(p))
    return svc.classify({"images": paths, "thumbs": str(tmp / "thumbs"), **req})


@pytest.mark.parametrize("az, el, roll", [(123.0, 27.0, 8.0), (247.0, 52.0, -6.0), (14.0, -8.0, 3.0)])
def test_asymmetric_prop_from_between_the_templates_within_5_degrees(service, library, az, el, roll):
    tmp, lib = library
    c = _dir(az, el)
    u = rolled_up(c, roll)
    res = _classify(service, tmp, _render(lib / "oddity" / "odd_chair.ply", [c], [u]), f"odd{az:.0f}")
    assert res["asset"]["id"] == "oddity/odd_chair.ply" and res["class"] == "oddity"
    im = res["images"][0]
    err = float(geodesic_deg(camera_matrices(np.array(im["asset_view_direction"]), np.array(im["asset_view_up"])),
                             camera_matrices(c, u)))
    assert err <= 5.0, (err, im)
    assert 0.0 <= im["confidence"] <= 1.0


def test_mirrored_picture_of_a_mug_is_seen_from_the_mirrored_side(service, library):
    """A mug with its handle on +X is symmetric about the XZ plane: the
    horizontally flipped view from azimuth θ is the view from −θ (pooled
    ImageNet features cannot tell the two apart)."""
    tmp, lib = library
    mug = next((lib / "mug").rglob("*.ply"))
    theta, el = 60.0, 20.0
    c = _dir(theta, el)
    view = _render(mug, [c], [camera_matrices(c)[:, 1]])[0]
    res = _classify(service, tmp, [view[:, ::-1].copy()], "mug_flipped")
    assert res["asset"]["id"].startswith("mug/")
    az = res["images"][0]["azimuth_deg"]
    assert abs((az - (360.0 - theta) + 180.0) % 360.0 - 180.0) <= 15.0, az
    # the unflipped picture goes to θ
    res = _classify(service, tmp, [view], "mug")
    az = res["images"][0]["azimuth_deg"]
    assert abs((az - theta + 180.0) % 360.0 - 180.0) <= 15.0, az


def test_reply_fields_agree_with_each_other(service, library):
    tmp, lib = library
    car = next((lib / "car").rglob("*.ply"))
    c1, c2 = _dir(200.0, 35.0), _dir(330.0, 10.0)
    res = _classify(service, tmp, _render(car, [c1, c2], [camera_matrices(c1)[:, 1], camera_matrices(c2)[:, 1]]),
                    "car")
    json.dumps(res)  # plain JSON
    assert res["asset"]["id"].startswith("car/") and len(res["images"]) == 2
    for im in res["images"]:
        assert set(protocol.CLASSIFY_IMAGE_FIELDS) - {"view_slot"} <= set(im)
        for pose in [im, *im["alternatives"]]:
            assert set(protocol.POSE_FIELDS) <= set(pose) and 0.0 <= pose["confidence"] <= 1.0
            d, u = np.array(pose["asset_view_direction"]), np.array(pose["asset_view_up"])
            assert abs(np.linalg.norm(d) - 1) < 1e-6 and abs(np.linalg.norm(u) - 1) < 1e-6 and abs(d @ u) < 1e-6
            np.testing.assert_allclose(_dir(pose["azimuth_deg"], pose["elevation_deg"]), d, atol=1e-6)
            r = quaternion_to_matrix(pose["rotation_wxyz"])  # asset frame → camera frame (-Z forward, +Y up)
            np.testing.assert_allclose(r @ d, [0, 0, 1], atol=1e-6)
            np.testing.assert_allclose(r @ u, [0, 1, 0], atol=1e-6)
        assert im["alternatives"], "the next best poses are reported"
        assert sum(a["confidence"] for a in im["alternatives"]) + im["confidence"] <= 1.0 + 1e-6
        assert im["thumbnail"].endswith(".png")
    for im, c in zip(res["images"], (c1, c2)):
        assert math.degrees(math.acos(np.clip(np.array(im["asset_view_direction"]) @ c, -1, 1))) <= 15.0


def _untrained_run(path, classes):
    from rotationnet.nn.checkpoint import save_checkpoint
    from rotationnet.nn.model import RotationNet

    model = RotationNet("timm:test_efficientnet", len(classes), "ring12", pretrained=False, input_size=48)
    save_checkpoint(path / "best", model, {"classes": list(classes)})
    return path


def test_class_prior_is_soft_and_neutral_for_unknown_classes():
    from rotationnet.app.pose import PRIOR_WEIGHT, class_prior

    probs = {"car": 0.7, "mug": 0.2, "sofa": 0.1}
    pr = class_prior({"car/a": "car", "mug/b": "mug", "lamp/c": "lamp"}, probs)
    assert pr["car/a"] > pr["mug/b"] and pr["car/a"] == pytest.approx(PRIOR_WEIGHT * math.log(0.7))
    assert pr["lamp/c"] == pytest.approx(PRIOR_WEIGHT * math.log(1 / 3))  # unknown: a uniform guess
    # soft: a tenfold less likely class costs less than a clear difference in the picture's match
    assert pr["car/a"] - class_prior({"x": "sofa"}, probs)["x"] < 0.05
    assert class_prior({"car/a": "car"}, {}) == {}


def test_view_prior_only_costs_cameras_below_the_horizon():
    from rotationnet.app.pose import BELOW_PENALTY, view_prior

    els = np.radians([80.0, 10.0, 0.0, -10.0, -40.0])
    dirs = np.stack([np.cos(els), np.zeros_like(els), np.sin(els)], axis=1)
    p = view_prior(dirs)
    assert p.shape == (5,) and np.all(p[:3] == 0.0)
    assert 0.0 > p[3] > p[4] and p[4] == pytest.approx(-BELOW_PENALTY * math.sin(math.radians(40.0)))
    # soft: a camera 10° below costs less than a clear difference in the picture's match
    assert -p[3] < 0.06
    assert np.all(view_prior(dirs, weight=0.0) == 0.0)


def test_library_of_classes_the_model_does_not_know(library, tmp_path):
    """A model of other classes never stops the search: every asset of a class
    it does not know is a candidate (it used to end in "no asset of class X")."""
    from rotationnet.app.service import Service

    tmp, lib = library
    run = _untrained_run(tmp_path, ["sofa", "bookshelf"])
    svc = Service(lambda m: None)
    assert svc.configure({"run": str(run), "library": str(lib), "cache": str(tmp / "cache")})["model"] is True
    car = next((lib / "car").rglob("*.ply"))
    c = _dir(100.0, 30.0)
    res = _classify(svc, tmp, _render(car, [c], [camera_matrices(c)[:, 1]]), "car_unknown")
    # the answer's class is the placed asset's; the model's own answer is kept beside it
    assert res["class"] == "car" and res["asset"]["id"].startswith("car/")
    assert res["model_class"] in ("sofa", "bookshelf") and res["ranking"][0]["class"] == res["model_class"]
    assert "view_slot" in res["images"][0] and "asset_view_direction" in res["images"][0]
    # a model that knows "mug" (and not car): mugs of the top classes plus every unknown-class asset
    assert set(svc._candidates({"mug"})) == {"mug/" + next((lib / "mug").rglob("*.ply")).name,
                                           *(i for i in svc.index.entries if not i.startswith("mug/"))}
    run2 = _untrained_run(tmp_path / "known", ["car", "chair", "mug", "oddity"])
    svc.configure({"run": str(run2), "library": str(lib), "cache": str(tmp / "cache")})
    assert svc._candidates({"mug"}) == ["mug/" + next((lib / "mug").rglob("*.ply")).name]


@pytest.mark.parametrize("kind, message", [
    ("blank", "the image is blank"),
    ("transparent", "the alpha channel holds no object"),
])
def test_bad_pictures_give_a_clear_message(service, library, kind, message):
    from rotationnet.core.errors import DataError

    tmp, _ = library
    img = np.full((64, 64, 3), 255, np.uint8) if kind == "blank" else np.zeros((64, 64, 4), np.uint8)
    with pytest.raises(DataError, match=message) as e:
        _classify(service, tmp, [img], kind)
    assert f"{kind}_0.png" in str(e.value)


@pytest.mark.parametrize("look", ["randomised", "sketch"])
def test_looks_find_the_asset_and_its_pose(service, library, look):
    """A photo-like picture and a sketch of a library prop (render/looks.py) find the
    prop and a view within 30° through the worker's classify."""
    tmp, lib = library
    mesh = next((lib / "chair").rglob("*.ply"))
    c = _dir(140.0, 25.0)
    img, _ = _look_picture(mesh, look, c, seed=2)
    res = _classify(service, tmp, [img], f"look_{look}")
    assert res["asset"]["source"].endswith(mesh.name) and "chair" in res["asset"]["id"]
    d = np.asarray(res["images"][0]["asset_view_direction"])
    assert math.degrees(math.acos(np.clip(d @ c, -1, 1))) <= 30.0


# -- the pose stage's parts on their own ------------------------------------------

@pytest.fixture(scope="module")
def odd(library):
    """The asymmetric chair's normalised mesh, a renderer, the descriptor and its templates."""
    from render.engine import Renderer, RenderSettings
    from render.meshes import load_normalized
    from rotationnet.app.descriptor import Descriptor
    from rotationnet.app.pose import TemplateSpec, build_templates

    _, lib = library
    vn, f, _, _ = load_normalized(lib / "oddity" / "odd_chair.ply")
    spec = TemplateSpec()
    desc = Descriptor()
    r = Renderer(RenderSettings(size=spec.render_size, background="transparent"))
    render = (lambda d, u: r.render(vn, f, cameras=d, up=u)[0])
    yield {"mesh": lib / "oddity" / "odd_chair.ply", "render": render, "desc": desc, "spec": spec,
           "templates": build_templates(render, desc, spec)}
    r.close()


@pytest.mark.parametrize("roll", [-20.0, 0.0, 20.0])
def test_coarse_match_finds_the_template_and_the_pictures_roll(odd, roll):
    """A picture taken exactly from a template camera, turned by ``roll``: the
    best hypothesis is that template, with the picture's up vector (the turn
    found among the ±30° searched; the sign matters)."""
    from rotationnet.app.pose import DEFAULT_ROLLS, coarse_match, describe_picture
    from rotationnet.app.segment import picture
    from rotationnet.core.views import angle_deg

    t = odd["templates"]
    i = 36 * 3 + 7  # elevation 25°, azimuth 70°
    c = t.directions[i].astype(float)
    u = rolled_up(c, roll)
    img = _render(odd["mesh"], [c], [u])[0]
    q = describe_picture(odd["desc"], picture(img), odd["spec"].crop, DEFAULT_ROLLS)
    hyps = coarse_match(q, t, "odd", top=3)
    assert angle_deg(hyps[0].direction, c) < 1e-6
    assert angle_deg(hyps[0].up, u) < 1e-4
    # the others are other regions of the view sphere, worse
    assert all(angle_deg(h.direction, hyps[0].direction) >= 30.0 for h in hyps[1:])
    assert all(h.score <= hyps[0].score for h in hyps[1:])


@pytest.mark.parametrize("az, el, roll", [(137.0, 31.0, 4.0), (293.0, 3.0, -7.0)])
def test_refine_walks_from_the_coarse_match_to_the_pictures_camera(odd, az, el, roll):
    """A picture between the template cameras (up to 5° in azimuth, 7.5° in
    elevation and 5° in roll from the nearest template and turn): render-and-compare
    from the best coarse hypotheses ends within 5° of the true camera (closer than the
    coarse error), with a higher score."""
    from rotationnet.app.pose import DEFAULT_ROLLS, coarse_match, describe_picture, refine
    from rotationnet.app.segment import picture

    c = _dir(az, el)
    u = rolled_up(c, roll)
    q = describe_picture(odd["desc"], picture(_render(odd["mesh"], [c], [u])[0]), odd["spec"].crop, DEFAULT_ROLLS)
    hyps = coarse_match(q, odd["templates"], "odd", top=2)
    coarse_err = float(geodesic_deg(camera_matrices(hyps[0].direction, hyps[0].up), camera_matrices(c, u)))
    out = refine(hyps, [q.unturned] * 2, odd["render"], odd["desc"], odd["spec"].crop)
    best = max(out, key=lambda h: h.score)
    err = float(geodesic_deg(camera_matrices(best.direction, best.up), camera_matrices(c, u)))
    assert err <= 5.0 and err < coarse_err, (err, coarse_err)
    assert best.score > hyps[0].score


def test_distinct_keeps_the_best_of_each_region_per_asset():
    from rotationnet.app.pose import Hypothesis, distinct

    up = np.array([0.0, 0.0, 1.0])
    hs = [Hypothesis("a", _dir(0, 0), up, 0.9), Hypothesis("a", _dir(10, 0), up, 0.95),
          Hypothesis("a", _dir(90, 0), up, 0.5), Hypothesis("b", _dir(5, 0), up, 0.7),
          Hypothesis("a", _dir(180, 0), up, 0.6)]
    out = distinct(hs, 30.0, limit=3)
    assert [(h.asset, h.score) for h in out] == [("a", 0.95), ("b", 0.7), ("a", 0.6)]
    assert len(distinct(hs, 30.0, limit=10)) == 4  # the 0° one is within 30° of the better 10° one


def test_confidences_share_one():
    from rotationnet.app.pose import Hypothesis, _with_confidences

    up = np.array([0.0, 0.0, 1.0])
    best = Hypothesis("a", _dir(0, 10), up, 1.0)
    others = [Hypothesis("a", _dir(180, 10), up, 0.9), Hypothesis("a", _dir(90, 10), up, 0.7)]
    margin, alts = _with_confidences(best, others)
    assert margin == pytest.approx(0.1)
    assert 0.0 < best.confidence < 1.0 and alts[0].confidence > alts[1].confidence > 0.0
    assert best.confidence + sum(a.confidence for a in alts) == pytest.approx(1.0)
