import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
# torchvision imports torch._dynamo, which loads triton; loading triton after
# Blender's libraries are in the process (tests that import bpy) segfaults.
# Import it first, so any subset of tests runs in any order.
import torchvision  # noqa: E402,F401
# keep test workers from fighting over the two cores
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# `import bpy` writes to ~/.config/blender unless told otherwise
if "BLENDER_USER_RESOURCES" not in os.environ:
    import tempfile

    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="rotationnet-test-blender-")

# ../shared/data beside the checkout (CI too); ROTATIONNET_SHARED_DATA overrides
SHARED_DATA = Path(os.environ.get("ROTATIONNET_SHARED_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def ring12():
    from rotationnet.core.views import get_rig

    return get_rig("ring12")


@pytest.fixture(scope="session")
def synth_layout(tmp_path_factory, ring12):
    """Plain-layout 4-class ring-12 dataset: 6 train + 2 test objects per class."""
    import synth

    return synth.build_dataset(tmp_path_factory.mktemp("synth"), ring12, per_class=(6, 2), size=96, seed=0)


def shared(*parts) -> Path:
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not present: {p}")
    return p


@pytest.fixture(scope="session")
def blender():
    """Skip when bpy is not installed."""
    return pytest.importorskip("bpy")


@pytest.fixture(scope="session")
def gpu_ok(blender):
    """Skip when Blender cannot open an OpenGL context here (no Mesa EGL)."""
    from render.engine import probe_gpu

    ok, reason = probe_gpu()
    if not ok:
        pytest.skip(f"no OpenGL for Blender here: {reason}")
    return True
