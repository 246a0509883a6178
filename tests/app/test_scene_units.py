"""The scene stage's pieces without Blender: region suppression, rectified
crops, degraded crops and the small-object flag, the verifier, the floor."""

import numpy as np
import pytest


def test_nms_keeps_the_best_and_drops_overlaps_and_nested_parts():
    from rotationnet.app.scene import nms

    boxes = np.array([[0, 0, 100, 100], [5, 5, 100, 100], [10, 10, 20, 20], [300, 300, 50, 50]], float)
    scores = np.array([0.9, 0.8, 0.95, 0.5])
    # the small part (index 2) scores best: the whole object it lies in goes, the far box stays
    assert nms(boxes, scores) == [2, 3]
    # with the whole object ranked first, its part and its near copy go
    assert nms(boxes, np.array([0.95, 0.8, 0.9, 0.5])) == [0, 3]


def test_rectified_region_is_seen_straight_on():
    """A bright disc near a wide picture's corner: the rectified crop has it in
    the middle; at the principal point the warp is a plain crop."""
    import cv2

    from rotationnet.app.scene import Detection, rectified
    from rotationnet.core.camera import Intrinsics

    intr = Intrinsics.from_fov(90.0, 640, 480)
    for cx, cy in ((560.0, 80.0), (320.0, 240.0)):
        img = np.zeros((480, 640, 3), np.uint8)
        cv2.circle(img, (int(cx), int(cy)), 20, (255, 255, 255), -1)
        mask = (img[..., 0] > 127).astype(np.float32)
        det = Detection((cx - 20, cy - 20, 40, 40), mask, [("a", 1.0)], 1.0)
        pic = rectified(img, det, intr)
        assert pic.rgb.shape == (80, 80, 3) and pic.mask.shape == (80, 80)
        ys, xs = np.nonzero(pic.mask > 0.5)
        assert abs(xs.mean() - 39.5) < 2.0 and abs(ys.mean() - 39.5) < 2.0
        if cx == 320.0:  # the optical axis: a crop of the picture itself
            np.testing.assert_allclose(pic.mask, mask[200:280, 280:360], atol=1e-3)


def test_degraded_crops_lose_detail_and_small_pictures_are_flagged():
    from rotationnet.app.pose import SMALL_SIDE, describe_picture
    from rotationnet.app.segment import Picture, degrade

    rng = np.random.default_rng(0)
    crops = rng.uniform(0, 1, (2, 96, 96, 3)).astype(np.float32)
    masks = np.ones((2, 96, 96), np.float32)
    c, m = degrade(crops, masks, 48)
    assert c.shape == crops.shape and np.allclose(m, 1.0, atol=1e-5)
    assert c.std() < 0.6 * crops.std()  # fine texture gone, as in a crop upsampled from few pixels
    np.testing.assert_allclose(c.mean(), crops.mean(), atol=0.01)

    class FakeDescriptor:
        def __call__(self, crops, masks):
            from rotationnet.app.descriptor import Features

            n = len(crops)
            return Features(np.ones((n, 6, 6, 4), np.float16), np.ones((n, 6, 6), np.float16),
                            np.ones((n, 32, 32), np.float16))

    for side, small in ((SMALL_SIDE - 8, True), (SMALL_SIDE + 40, False)):
        mask = np.zeros((200, 200), np.float32)
        mask[50:50 + side, 60:60 + side] = 1.0
        q = describe_picture(FakeDescriptor(), Picture(np.zeros((200, 200, 3), np.uint8), mask, "x"), 96, (0.0,))
        assert q.small is small


def test_templates_keep_their_small_descriptors_through_a_cache_file(tmp_path):
    from rotationnet.app.descriptor import Features
    from rotationnet.app.pose import Templates

    rng = np.random.default_rng(1)

    def feats():
        return Features(rng.normal(size=(3, 6, 6, 4)).astype(np.float16), rng.uniform(size=(3, 6, 6)).astype(np.float16),
                        rng.uniform(size=(3, 32, 32)).astype(np.float16))

    f, fs = feats(), feats()
    t = Templates(rng.normal(size=(3, 3)).astype(np.float32), rng.normal(size=(3, 3)).astype(np.float32), f, f.pooled(),
                  fs, fs.pooled())
    np.savez(tmp_path / "t.npz", **t.arrays())
    with np.load(tmp_path / "t.npz") as z:
        back = Templates.from_arrays(z)
    assert np.array_equal(back.for_size(True).feat, fs.feat) and np.array_equal(back.for_size(False).feat, f.feat)
    assert np.array_equal(back.pooled_small, fs.pooled())


def test_confidence_grows_with_each_piece_of_evidence():
    from rotationnet.app.scene import confidence_of

    base = {"score": 0.9, "match": 0.7, "objectness": 0.5, "outline_edges": 0.7, "mask_iou": 0.5}
    c0 = confidence_of(base)
    assert 0.0 < c0 < 1.0
    for k in ("score", "match", "objectness", "outline_edges"):
        assert confidence_of({**base, k: base[k] + 0.2}) > c0


@pytest.mark.parametrize("tilt", [0.0, 20.0])
def test_floor_from_objects_standing_on_one_plane(tilt):
    """Two boxes standing on a plane seen by a tilted camera: the floor's normal
    is the plane's, its offset puts their feet on it."""
    from types import SimpleNamespace

    from rotationnet.app.scene import PlacedObject, fit_floor

    t = np.radians(tilt)
    tilt_x = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    world_to_cam = tilt_x @ np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # world +Z up → camera +Y, +Y → -Z
    cube = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (0.0, 1.0)])  # feet at z = 0
    entry = SimpleNamespace(mesh=SimpleNamespace(vertices=cube - [0, 0, 0.5]), scale=1.0, center=np.array([0, 0, 0.5]))
    objs = [PlacedObject("a", world_to_cam, world_to_cam @ np.asarray(at), np.zeros(4), 1.0, 1.0, None, None)
            for at in ([-1.0, 6.0, -1.5], [1.5, 8.0, -1.5])]  # in front of the camera, feet on z = -1.5
    floor = fit_floor(objs, {"a": entry})
    up = objs[0].rotation @ [0, 0, 1]
    np.testing.assert_allclose(floor["normal"], up, atol=1e-9)
    for o in objs:
        feet = (cube @ o.rotation.T + o.location) @ floor["normal"] + floor["offset"]
        assert abs(feet.min()) < 1e-9
