"""RotationNet (Kanezaki, Matsushita, Nishida, CVPR 2018) in PyTorch, and the
toolkit around it: picture → class → the matching asset → its pose.

Levels (imports only go down): :mod:`rotationnet.core` (numpy and the standard
library: rigs, manifest, errors, file I/O, the worker protocol) ← ``render``
and :mod:`rotationnet.nn` (the learning code) ← :mod:`rotationnet.app` (asset
index, worker, demo, report) ← the ``cli`` modules.  Importing this package
loads nothing: the Blender extension bundles only it and ``core``.
"""

__version__ = "0.1.0"
