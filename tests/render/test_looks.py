"""Looks (render/looks.py): randomised and sketch renders, seeded and recorded,
and the mixed-look training set of ``rotationnet render --look a,b,c``."""

import json

import numpy as np
import pytest
import trimesh

from conftest import shared


def _renderer(**kw):
    from render.engine import Renderer, RenderSettings

    return Renderer(RenderSettings(**kw))


def _unit(mesh):
    from render.meshes import normalize

    v, _ = normalize(np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces))
    return v, np.asarray(mesh.faces)


def test_settings_reject_bad_looks_and_plain_keeps_its_hash(tmp_path):
    from render.bulk import render_library
    from render.engine import RenderSettings
    from rotationnet.core.errors import DataError

    # the look's name is checked where looks are drawn (the engine does not know them)
    with pytest.raises(DataError, match="look must be one of"):
        render_library(tmp_path / "meshes", tmp_path / "out", RenderSettings(look="watercolour"), progress=False)
    with pytest.raises(ValueError, match="needs the fast engine"):
        RenderSettings(look="sketch", engine="workbench")
    with pytest.raises(ValueError, match="plain look"):
        RenderSettings(look="randomised", depth=True)
    plain = RenderSettings().pixel_settings()
    assert "look" not in plain and "look_seed" not in plain  # renders made before looks keep their hash
    rnd = RenderSettings(look="randomised", look_seed=3).pixel_settings()
    assert rnd["look"] == "randomised" and rnd["look_seed"] == 3


def test_randomised_look_is_seeded_per_object_and_varies(gpu_ok):
    from render.looks import look_rng, render_look

    v, f = _unit(trimesh.creation.box(extents=(1.0, 0.6, 0.4)))
    with _renderer(size=64) as r:
        a, pa = render_look(r, "randomised", v, f, look_rng(1, "train/box/a"))
        b, pb = render_look(r, "randomised", v, f, look_rng(1, "train/box/a"))
        c, _ = render_look(r, "randomised", v, f, look_rng(2, "train/box/a"))
        plain, _ = r.render(v, f)
    assert np.array_equal(a, b) and pa == pb
    assert not np.array_equal(a, c)
    assert a.shape == plain.shape and a.dtype == np.uint8
    # backgrounds differ from view to view and from the plain white
    corners = a[:, :4, :4].reshape(12, -1).mean(1)
    assert np.ptp(corners) > 10 and not np.allclose(a[:, 0, 0], 255)
    assert len(pa["views"]) == 12 and {"roll_deg", "scale", "background"} <= set(pa["views"][0])
    json.dumps(pa)  # recordable


def test_sketch_lines_trace_silhouette_and_creases(gpu_ok):
    """A box shows crease lines inside its silhouette; a smooth sphere hardly any."""
    from render.looks import sketch_lines

    box_v, box_f = _unit(trimesh.creation.box(extents=(1.0, 1.0, 1.0)))
    sph_v, sph_f = _unit(trimesh.creation.icosphere(subdivisions=5))
    with _renderer(size=96) as r:
        out = {}
        for name, (v, f) in {"box": (box_v, box_f), "sphere": (sph_v, sph_f)}.items():
            nrm, depth = r.render_layers(v, f, normals=True, depth=True)
            view = 1  # ring12 camera at 30° azimuth, 30° elevation: three faces of the box
            lines = sketch_lines(nrm[view, ..., 3], nrm[view, ..., :3], depth[view])
            mask = nrm[view, ..., 3] > 127
            import cv2

            interior = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            out[name] = (lines[interior].sum(), lines.sum(), mask)
    box_inner, box_all, mask = out["box"]
    sph_inner, sph_all, _ = out["sphere"]
    assert box_inner > 40  # the Y of three visible edges
    assert sph_inner < 0.1 * box_inner
    # the silhouette is traced: nearly every boundary pixel of the mask is a line pixel
    assert box_all > box_inner and sph_all > 100


def test_sketch_look_is_a_drawing_on_paper(gpu_ok):
    from render.looks import look_rng, render_look

    v, f = _unit(trimesh.creation.box(extents=(1.0, 0.6, 0.4)))
    with _renderer(size=96) as r:
        img, prm = render_look(r, "sketch", v, f, look_rng(0, "sketchy"))
    lum = img.astype(float).mean(-1)
    paper = np.mean(prm["paper"]) * 255
    # mostly paper, some dark ink
    assert np.mean(np.abs(lum - paper) < 20) > 0.7
    assert (lum < paper - 80).sum() > 12 * 50
    assert 0 < prm["line_px"] and prm["views"][0]["roll_deg"] != 0


def test_cli_renders_mixed_looks_resumably(gpu_ok, tmp_path, capsys):
    """``rotationnet render --look plain,randomised,sketch`` on real meshes: one
    folder per look, one mixed training set that loads, and a rerun skips all."""
    from rotationnet.cli import main
    from rotationnet.core.manifest import load_dataset

    lib = shared("meshes", "psb24")
    out = tmp_path / "mixed"
    args = ["render", str(lib), str(out), "--look", "plain,randomised,sketch", "--size", "64", "--limit", "2",
            "--seed", "4"]
    assert main(args) == 0
    m = load_dataset(out)
    assert len(m.objects) == 6 and {o.id.split("@")[1] for o in m.objects} == {"plain", "randomised", "sketch"}
    assert all(p.is_file() for o in m.objects for p in m.view_paths(o))
    assert m.info["mixed_looks"]["sketch"]["look"] == "sketch"
    rec = next((out / "randomised" / ".records").rglob("*.json"))
    assert json.loads(rec.read_text())["look"]["look"] == "randomised"
    first = {p: p.read_bytes() for p in (out / "sketch").rglob("*.png")}
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().out.count("rendered 0, skipped 2") == 3
    assert {p: p.read_bytes() for p in (out / "sketch").rglob("*.png")} == first
    assert main(["render", str(lib), str(out), "--look", "plain,oil"]) != 0
    assert "--look must be one or more of" in capsys.readouterr().err


def test_background_photos_folder_is_checked(gpu_ok, tmp_path):
    from render.looks import photo_backgrounds

    with pytest.raises(ValueError, match="does not exist"):
        photo_backgrounds(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no image"):
        photo_backgrounds(tmp_path / "empty")
