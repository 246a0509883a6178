"""RotationNet (Kanezaki, Matsushita, Nishida, CVPR 2018) in PyTorch.

Light to import: ``rotationnet.views`` and ``rotationnet.manifest`` need only
numpy; the torch parts (``assign``, ``model``, ``data``, ``train``,
``evaluate``, ``predict``) load on use.
"""

__version__ = "0.1.0"
