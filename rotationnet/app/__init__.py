"""The application level, where the renderer and the learning code meet.

* :mod:`~rotationnet.app.assetindex` — the asset library and its index (renders, alignments, descriptors);
* :mod:`~rotationnet.app.service` — the inference worker behind the Blender add-on
  (``python -m rotationnet.app.service``);
* :mod:`~rotationnet.app.demo` — ``rotationnet demo`` (``make demo``), end to end on procedural props;
* :mod:`~rotationnet.app.report` — the HTML report, prediction sheets and training curves;
* :mod:`~rotationnet.app.cli` — the ``demo`` command's arguments.
"""
