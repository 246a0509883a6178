"""Segmentation on its own: the object's mask in a picture (alpha, GrabCut from
the border or a user box, line drawings filled to their outline) and the crops
the pose stage describes."""

import numpy as np
import pytest
from pictures import look_picture as _look_picture
from pictures import render as _render

from rotationnet.core.views import camera_matrices
from rotationnet.core.views import direction as _dir

pytestmark = pytest.mark.usefixtures("gpu_ok")


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    from render.procedural import write_library

    tmp = tmp_path_factory.mktemp("segment")
    return tmp, write_library(tmp / "lib", instances=1, test=0, seed=4, categories=("chair", "mug", "car"))


def test_segmentation_of_a_picture_on_a_plain_background(library):
    """GrabCut seeded from the border finds a rendered object on white (the
    alpha channel removed) close to its true silhouette."""
    from rotationnet.app.segment import foreground

    _, lib = library
    c = _dir(40.0, 25.0)
    rgba = _render(next((lib / "chair").rglob("*.ply")), [c], [camera_matrices(c)[:, 1]], background="transparent")[0]
    white = (rgba[..., :3] * (rgba[..., 3:] / 255.0) + 255 * (1 - rgba[..., 3:] / 255.0)).astype(np.uint8)
    m = foreground(white) > 0.5
    truth = rgba[..., 3] > 127
    iou = (m & truth).sum() / (m | truth).sum()
    assert iou >= 0.9, iou
    # a crop box works too
    ys, xs = np.nonzero(truth)
    box = (xs.min() - 5, ys.min() - 5, xs.max() - xs.min() + 10, ys.max() - ys.min() + 10)
    m2 = foreground(white, box) > 0.5
    assert (m2 & truth).sum() / (m2 | truth).sum() >= 0.9


def test_a_sketch_is_segmented_to_the_outline_its_strokes_enclose(library):
    """GrabCut keeps only the strokes of a line drawing; the object is what they enclose."""
    from rotationnet.app.segment import foreground

    _, lib = library
    img, truth = _look_picture(next((lib / "car").rglob("*.ply")), "sketch", _dir(30.0, 20.0))
    m = foreground(img) > 0.5
    iou = (m & truth).sum() / (m | truth).sum()
    assert iou >= 0.75, iou
    # a photo-like picture of the same object is not filled that way (solid already)
    img2, truth2 = _look_picture(next((lib / "car").rglob("*.ply")), "randomised", _dir(30.0, 20.0), seed=3)
    m2 = foreground(img2) > 0.5
    assert (m2 & truth2).sum() / (m2 | truth2).sum() >= 0.75


def test_a_small_object_in_a_box_is_segmented(library):
    """A 40-pixel object on a textured background, with the user's box: GrabCut at a
    working size keeps it (at its own size GrabCut's smoothness erased such objects)."""
    import cv2

    from rotationnet.app.segment import foreground

    _, lib = library
    img, truth = _look_picture(next((lib / "mug").rglob("*.ply")), "randomised", _dir(60.0, 25.0), seed=1)
    rng = np.random.default_rng(0)
    small = cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA)
    t = cv2.resize(truth.astype(np.uint8), (48, 48), interpolation=cv2.INTER_NEAREST).astype(bool)
    canvas = (rng.uniform(0, 255, (96, 96, 3))).astype(np.uint8)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 3)
    ys, xs = np.nonzero(t)
    pad = canvas.copy()
    pad[24:72, 24:72][t] = small[t]
    full = np.zeros((96, 96), bool)
    full[24:72, 24:72] = t
    box = (24 + xs.min(), 24 + ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    m = foreground(pad, box) > 0.5
    assert (m & full).sum() / (m | full).sum() >= 0.7


def test_alpha_is_the_mask_and_bad_pictures_are_named():
    from rotationnet.app.segment import foreground, picture
    from rotationnet.core.errors import DataError

    img = np.zeros((40, 50, 4), np.uint8)
    img[10:30, 5:25] = (200, 100, 50, 255)
    p = picture(img, name="a.png")
    assert p.rgb.shape == (40, 50, 3) and p.name == "a.png"
    np.testing.assert_array_equal(p.mask > 0.5, img[..., 3] > 0)
    # a box keeps only what lies inside it
    assert foreground(img, (0, 0, 15, 40)).sum() == 20 * 10
    with pytest.raises(DataError, match="b.png: the alpha channel holds no object"):
        foreground(np.zeros((8, 8, 4), np.uint8), name="b.png")
    with pytest.raises(DataError, match="c.png: the image is blank"):
        foreground(np.full((8, 8, 3), 7, np.uint8), name="c.png")


def test_render_crops_frame_the_silhouette_at_one_brightness():
    from rotationnet.app.segment import BRIGHT, GREY, render_crops

    rgba = np.zeros((2, 64, 64, 4), np.uint8)
    rgba[0, 20:40, 10:30] = (60, 60, 60, 255)  # a dim square
    crops, masks = render_crops(rgba, 32)  # the second render is empty
    assert crops.shape == (2, 32, 32, 3) and masks.shape == (2, 32, 32)
    assert np.all(crops[1] == GREY) and masks[1].sum() == 0
    m = masks[0] > 0.5
    ys, xs = np.nonzero(m)
    # square around the object with a 10 % margin each side: the object spans 1/1.2 of the crop
    assert abs((xs.max() - xs.min() + 1) - 32 / 1.2) <= 2 and abs((ys.max() - ys.min() + 1) - 32 / 1.2) <= 2
    assert abs((xs.min() + xs.max()) / 2 - 15.5) <= 1 and abs((ys.min() + ys.max()) / 2 - 15.5) <= 1
    # brightness normalised: the dim object's bright end sits at BRIGHT
    assert crops[0][m].max() == pytest.approx(BRIGHT, abs=0.02)
    assert np.allclose(crops[0][~(masks[0] > 0)], GREY)
