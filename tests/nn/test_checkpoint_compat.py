"""Checkpoints written before the restructure (0.1.0: training arguments under
"args", modules at rotationnet.*) still load, predict the same, and report
their training config."""

from pathlib import Path

import numpy as np
import torch

from rotationnet.nn.checkpoint import load_checkpoint
from rotationnet.nn.config import TrainConfig, stored_config
from rotationnet.nn.predict import Predictor

OLD = Path(__file__).resolve().parents[1] / "data" / "checkpoint_v010"


def test_checkpoint_written_by_0_1_0_loads_with_identical_outputs():
    model, meta = load_checkpoint(OLD / "best")
    assert "config" not in meta and meta["args"]["backbone"] == "timm:test_efficientnet"
    model.eval()
    x = torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        y = model(x).numpy()
    np.testing.assert_allclose(y, np.load(OLD / "expected_logits.npy"), rtol=1e-5, atol=1e-5)
    cfg = stored_config(meta)
    assert cfg["head_hidden"] == 8 and cfg["label_smoothing"] == 0.1
    # its arguments are exactly the config's fields (plus argparse's subcommand name)
    assert set(cfg) - {"command"} == set(TrainConfig.__dataclass_fields__)
    TrainConfig.from_args(type("Args", (), cfg))  # and rebuild a config


def test_old_run_folder_predicts():
    p = Predictor.from_run(OLD)
    rng = np.random.default_rng(0)
    res = p.predict([rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(2)], top_k=2)
    assert res["class"] in ["car", "chair", "desk_lamp", "mug"] and len(res["images"]) == 2
