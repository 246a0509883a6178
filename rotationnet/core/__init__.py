"""The foundations every level shares, with numpy and the standard library only.

* :mod:`~rotationnet.core.views` — camera rigs and their rotation candidates;
* :mod:`~rotationnet.core.manifest` — the dataset manifest and the plain layouts;
* :mod:`~rotationnet.core.errors` — the user-facing error types;
* :mod:`~rotationnet.core.fileio` — atomic writes, stale temporaries, hashing;
* :mod:`~rotationnet.core.protocol` — the worker's request and reply schema;
* :mod:`~rotationnet.core.offmesh` — the one OFF mesh reader (the add-on has no other).

The Blender extension bundles exactly this package (and ``rotationnet/__init__``),
so nothing here may import torch, bpy, trimesh, PIL or the levels above.
"""
