"""The learning code: RotationNet in PyTorch.

* :mod:`~rotationnet.nn.assign` — latent view assignment, loss and inference as batched tensor functions;
* :mod:`~rotationnet.nn.model` — :class:`~rotationnet.nn.model.RotationNet` and the backbone registry;
* :mod:`~rotationnet.nn.data` — multi-view datasets, image loading, the object sampler;
* :mod:`~rotationnet.nn.checkpoint` — safetensors + JSON checkpoints (no pickles);
* :mod:`~rotationnet.nn.distributed` — the torchrun process group, devices;
* :mod:`~rotationnet.nn.train`, :mod:`~rotationnet.nn.evaluate`, :mod:`~rotationnet.nn.predict` —
  training, evaluation and prediction as library functions taking a config dataclass;
* :mod:`~rotationnet.nn.stats` — paired comparisons with bootstrap intervals;
* :mod:`~rotationnet.nn.cli` — their command-line arguments.

Imports :mod:`rotationnet.core` and never ``render`` or :mod:`rotationnet.app`.
"""
