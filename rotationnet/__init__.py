"""RotationNet (Kanezaki, Matsushita, Nishida, CVPR 2018) in PyTorch.

Light to import: ``rotationnet.core.views`` and ``rotationnet.core.manifest`` need only
numpy; the torch parts (``assign``, ``model``, ``data``, ``train``,
``evaluate``, ``predict``) load on use.
"""

__version__ = "0.1.0"
