"""Prediction sheets: pictures above, placed asset below, a title a person can read."""

import numpy as np
from PIL import Image

from rotationnet.app.report import prediction_sheet


def _ink_rows(img: np.ndarray, y0: int, y1: int) -> int:
    """Rows between y0 and y1 that hold any non-white pixel."""
    return int((img[y0:y1] < 200).any(axis=(1, 2)).sum())


def test_long_titles_wrap_inside_the_sheet(tmp_path):
    ref = np.zeros((40, 40, 3), np.uint8)
    ref[:, :, 0] = 255  # red references, blue placed views
    placed = np.zeros((40, 40, 3), np.uint8)
    placed[:, :, 2] = 255
    long = "randomised: desk_lamp -> desk_lamp/test/desk_lamp_12.ply | sketch: desk_lamp -> desk_lamp/test/desk_lamp_12.ply"
    short = np.asarray(Image.open(prediction_sheet([ref, ref], [placed, placed], "chair", None, tmp_path / "s.png",
                                                   size=80)))
    wide = np.asarray(Image.open(prediction_sheet([ref, ref], [placed, placed], long, None, tmp_path / "l.png",
                                                  size=80)))
    assert short.shape[1] == wide.shape[1] == 2 * (80 + 8) + 8
    # the long title takes several lines, and none runs past the right edge
    assert wide.shape[0] > short.shape[0] + 20
    head = wide.shape[0] - short.shape[0] + 21
    assert _ink_rows(wide, 0, head) > 2 * _ink_rows(short, 0, 21)
    assert (wide[:head, -6:] > 200).all()
    # the pictures sit below the title: red above, blue below, in every column
    for x in (8 + 40, 8 + 88 + 40):
        col = wide[head:, x]
        red = np.nonzero((col[:, 0] > 200) & (col[:, 2] < 50))[0]
        blue = np.nonzero((col[:, 2] > 200) & (col[:, 0] < 50))[0]
        assert len(red) == 80 and len(blue) == 80 and red.max() < blue.min()
