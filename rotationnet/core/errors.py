"""Error types for user-facing failures: the command line prints their message
(which names the file and the problem) without a traceback."""


class RotationNetError(Exception):
    """Base class of errors caused by the user's input, not by a bug."""


class DataError(RotationNetError, ValueError):
    """A dataset, manifest, image or mesh is missing, unreadable or inconsistent."""


class CheckpointError(RotationNetError, ValueError):
    """A checkpoint is missing, truncated, tampered with or does not fit the data."""


class OutputError(RotationNetError, OSError):
    """An output cannot be written (read-only folder, full disk); what was
    written before stays whole."""
