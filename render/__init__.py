"""Headless multi-view rendering of mesh libraries with Blender (``bpy``).

* :mod:`render.meshes` — finding, loading and normalising meshes (no Blender);
* :mod:`render.engine` — :class:`~render.engine.Renderer`: one mesh → (V, S, S, C) images;
* :mod:`render.bulk` — whole libraries → datasets (workers, resume, shards);
* :mod:`render.sheet` — contact sheets;
* :mod:`render.blend` — assets inside ``.blend`` files;
* :mod:`render.procedural` — the demo's procedural prop library.

Camera rigs and the dataset manifest come from :mod:`rotationnet.core.views` and
:mod:`rotationnet.core.manifest`; nothing is defined twice.
"""


def render_mesh(path, **settings):
    """Render one mesh file from every camera of a rig, in memory.

    ``settings`` are :class:`render.engine.RenderSettings` fields (``rig``,
    ``size``, ``engine``, ...).  Returns (images (V, S, S, C) uint8, depth
    (V, S, S) float32 or None, normalisation).  Starts Blender in this process.
    """
    from .engine import Renderer, RenderSettings

    with Renderer(RenderSettings(**settings)) as r:
        return r.render_file(path)
