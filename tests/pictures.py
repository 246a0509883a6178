"""Pictures of meshes for the application tests (test_pose, test_segment): the
fast engine's renders from given cameras, and the looks of render/looks.py."""

import numpy as np


def render(mesh, cams, ups, size=224, background="white"):
    """``mesh`` (a file) seen from cameras ``cams`` (N, 3) with up vectors ``ups``: (N, S, S, C) uint8."""
    from render.engine import Renderer, RenderSettings
    from render.meshes import load_normalized

    vn, f, _, _ = load_normalized(mesh)
    with Renderer(RenderSettings(size=size, supersample=2, background=background)) as r:
        images, _ = r.render(vn, f, cameras=np.asarray(cams, float), up=np.asarray(ups, float))
    return images


def look_picture(mesh, look, c, seed=0, size=224):
    """One picture of ``mesh`` from direction ``c`` (upright) in a look of
    render/looks.py, and the object's true silhouette (H, W) bool."""
    from render.engine import Renderer, RenderSettings
    from render.looks import look_rng, render_look
    from render.meshes import load_normalized

    vn, f, col, _ = load_normalized(mesh, colored=True)
    with Renderer(RenderSettings(size=size, supersample=2)) as r:
        img, _ = render_look(r, look, vn, f, look_rng(seed, mesh.name), col, jitter=False, cameras=c[None],
                             up=np.array([[0.0, 0.0, 1.0]]))
        rgba, _ = r.render_layers(vn, f, cameras=c[None], up=np.array([[0.0, 0.0, 1.0]]))
    return img[0], rgba[0, ..., 3] > 127
