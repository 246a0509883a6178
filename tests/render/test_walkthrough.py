"""Synthetic walk-throughs (render/scenes.py): the truth's camera track and object
poses put every asset where the frames show it, a seed gives the same frames,
and the frames make a video of the right length and size."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("gpu_ok")

# one saturated colour per asset; the plain look's floor and wall are grey
COLOURS = ((0.9, 0.1, 0.1), (0.1, 0.8, 0.1), (0.15, 0.2, 0.95))


@pytest.fixture(scope="module")
def props():
    from render.procedural import make_prop
    from render.scenes import SceneAsset

    rng = np.random.default_rng(3)
    out = []
    for (cat, scale), col in zip((("chair", 0.9), ("mug", 3.0), ("table", 1.4)), COLOURS):
        m = make_prop(cat, rng)
        v = np.asarray(m.vertices, np.float64) * scale
        out.append(SceneAsset(f"{cat}/{cat}_0.ply", cat, v, np.asarray(m.faces), np.tile(col, (len(v), 1))))
    return out


@pytest.fixture(scope="module")
def plain_walk(props):
    from render.scenes import generate_walkthrough

    return generate_walkthrough(props, np.random.default_rng(5), frames=6, width=320, height=240)


def test_walkthrough_truth_puts_every_asset_where_the_frames_show_it(props, plain_walk):
    import cv2

    from rotationnet.core.camera import Intrinsics
    from rotationnet.core.views import quaternion_to_matrix

    frames, truth = plain_walk
    json.dumps(truth)
    assert len(frames) == len(truth["frames"]) == 6
    assert all(f.shape == (240, 320, 3) and f.dtype == np.uint8 for f in frames)
    cam = truth["camera"]
    intr = Intrinsics(np.array(cam["K"]), cam["width"], cam["height"])
    assert 40.0 <= cam["fov_deg"] <= 75.0 and truth["floor"] == {"normal": [0.0, 0.0, 1.0], "offset": 0.0}
    world = []
    for a, o in zip(props, truth["objects"]):
        assert o["asset"] == a.id and o["size"] == pytest.approx(np.linalg.norm(np.ptp(a.vertices, axis=0)))
        p = a.vertices @ quaternion_to_matrix(o["rotation_wxyz"]).T + np.array(o["location"])
        assert abs(p[:, 2].min()) < 1e-6  # standing on the floor
        world.append(p)
    lo, hi = np.concatenate(world).min(axis=0), np.concatenate(world).max(axis=0)
    centre = (lo + hi) / 2
    azimuths, shown = [], np.zeros(len(props), int)
    for img, fr in zip(frames, truth["frames"]):
        r = quaternion_to_matrix(fr["rotation_wxyz"])  # world → camera
        pos = np.array(fr["position"])
        # what each asset's colour covers in the picture (saturated pixels; the set is grey)
        hi, lo = img.max(axis=2).astype(float), img.min(axis=2).astype(float)
        coloured = (hi > 25) & (hi - lo > 0.5 * hi)
        which = np.argmax(img, axis=2)  # red, green, blue
        union_drawn = np.zeros(img.shape[:2], bool)
        group = []
        for n, (a, p) in enumerate(zip(props, world)):
            q = (p - pos) @ r.T
            assert np.all(q[:, 2] < 0)  # in front of the camera
            uv = intr.project(q)
            group.append(uv)
            drawn = np.zeros(img.shape[:2], np.uint8)
            tris = np.round(uv[a.faces] * 16).astype(np.int32)  # 4 bits of sub-pixel precision
            for tri in tris:  # one by one: fillPoly would cancel where triangles overlap
                cv2.fillConvexPoly(drawn, tri, 1, lineType=cv2.LINE_8, shift=4)
            drawn = cv2.dilate(drawn, np.ones((5, 5), np.uint8)).astype(bool)
            union_drawn |= drawn
            mine = coloured & (which == n)
            # the asset's colour shows only where the truth puts the asset
            assert (mine & ~drawn).sum() <= 0.02 * mine.sum() + 3, (n, mine.sum(), (mine & ~drawn).sum())
            shown[n] += mine.sum() > 20
        # and the assets together cover what the truth says (up to the dilation and shading)
        union_seen = cv2.dilate(coloured.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert (union_drawn & union_seen).sum() >= 0.9 * union_drawn.sum()
        uv = np.concatenate(group)  # the whole group in the frame, filling a good share of it
        assert np.all(uv >= -1e-6) and np.all(uv <= [320 + 1e-6, 240 + 1e-6])
        assert 0.3 <= max(np.ptp(uv[:, 0]) / 320, np.ptp(uv[:, 1]) / 240) <= 0.9
        pitch = np.degrees(np.arcsin(r[2, 2]))  # the camera looks down along −z: r[2] is its +z in the world
        assert 13.0 <= pitch <= 52.0
        back = pos - centre
        azimuths.append(np.arctan2(back[1], back[0]))
    assert np.all(shown >= 3)  # every asset seen (not always hidden by another)
    arc = abs(np.degrees(np.unwrap(azimuths)[-1] - np.unwrap(azimuths)[0]))
    assert 60.0 <= arc <= 320.0  # walked around the group


def test_walkthrough_is_seeded_and_makes_a_video(props, plain_walk, tmp_path):
    import cv2

    from render.scenes import generate_walkthrough, write_video

    frames, truth = plain_walk
    again, truth2 = generate_walkthrough(props, np.random.default_rng(5), frames=6, width=320, height=240)
    assert truth == truth2 and all(np.array_equal(a, b) for a, b in zip(frames, again))
    rand, rtruth = generate_walkthrough(props, np.random.default_rng(5), frames=3, width=160, height=120,
                                        look="randomised")
    assert len(rand) == 3 and rand[0].shape == (120, 160, 3) and rtruth["look"] == "randomised"
    assert not np.array_equal(rand[0], rand[1])  # the camera moves

    path = write_video(frames, tmp_path / "walk.mp4", fps=10)
    cap = cv2.VideoCapture(str(path))
    try:
        assert cap.isOpened()
        read = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            read.append(f)
    finally:
        cap.release()
    assert len(read) == 6 and all(f.shape == (240, 320, 3) for f in read)
    assert np.abs(read[2][..., ::-1].astype(float) - frames[2]).mean() < 20  # the same pictures, lossy
    with pytest.raises(OSError, match="no-such-folder"):
        write_video(frames, tmp_path / "no-such-folder" / "walk.mp4")
