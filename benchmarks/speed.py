"""Training and inference speed per backbone and input size, prediction latency, peak memory.

    python benchmarks/speed.py [--quick]

Each configuration runs in its own process (so its peak memory is its own):
a RotationNet training step on batches of 2 objects × 12 views (24 images,
channels-last, frozen BatchNorm, SGD), backbone feature extraction (the
frozen-head phase), and the ``Predictor`` latency for 1 and 12 images.  Epoch
time is given for the PSB benchmark's training set (384 objects × 12 views).
Rendering and assignment speed have their own scripts (render_speed.py,
assign_speed.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, write_result  # noqa: E402

CHILD = r'''
import json, resource, sys, tempfile, time
import torch
from rotationnet.nn.model import RotationNet
from rotationnet.nn.assign import rotationnet_loss
backbone, size = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
model = RotationNet(backbone, 40, "ring12", pretrained=False, input_size=size).to(memory_format=torch.channels_last)
x = torch.randn(24, 3, size, size).contiguous(memory_format=torch.channels_last)
y = torch.randint(0, 40, (2,))
opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
def step():
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
    loss, _ = rotationnet_loss(model(x), y, model.candidates)
    opt.zero_grad(); loss.backward(); opt.step()
step()
n = int(sys.argv[3])
t0 = time.perf_counter()
for _ in range(n):
    step()
train_ips = 24 * n / (time.perf_counter() - t0)
model.eval()
with torch.no_grad():
    model.features(x)
    t0 = time.perf_counter()
    for _ in range(n):
        model.features(x)
    feat_ips = 24 * n / (time.perf_counter() - t0)
# Predictor latency for 1 and 12 images (image decoding included)
from rotationnet.nn.checkpoint import save_checkpoint
from rotationnet.nn.predict import Predictor
import numpy as np
from PIL import Image
tmp = tempfile.mkdtemp()
save_checkpoint(f"{tmp}/best", model, {"classes": [f"c{i}" for i in range(40)]})
pred = Predictor.from_run(tmp)
paths = []
for i in range(12):
    p = f"{tmp}/img{i}.png"
    Image.fromarray((np.random.default_rng(i).random((size, size, 3)) * 255).astype(np.uint8)).save(p)
    paths.append(p)
lat = {}
for k in (1, 12):
    pred.predict(paths[:k])
    ts = []
    for _ in range(5):
        t0 = time.perf_counter(); pred.predict(paths[:k]); ts.append(time.perf_counter() - t0)
    lat[k] = sorted(ts)[len(ts) // 2]
print(json.dumps({"train_ips": train_ips, "feature_ips": feat_ips, "latency_1": lat[1], "latency_12": lat[12],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        configs = [("efficientnet_lite0", 112), ("efficientnet_lite0", 224)]
        steps = 3
    else:
        configs = [(b, s) for b in ("efficientnet_lite0", "resnet18", "timm:mobilenetv3_large_100")
                   for s in (112, 160, 224)]
        steps = 6
    rows = []
    for backbone, size in configs:
        r = subprocess.run([sys.executable, "-c", CHILD, backbone, str(size), str(steps)],
                           capture_output=True, text=True)
        if r.returncode:
            sys.exit(r.stderr[-3000:])
        d = json.loads(r.stdout.strip().splitlines()[-1])
        row = {"backbone": backbone, "size": size, "train_img_s": d["train_ips"],
               "epoch_s_psb": 384 * 12 / d["train_ips"], "features_img_s": d["feature_ips"],
               "predict_1_ms": d["latency_1"] * 1e3, "predict_12_ms": d["latency_12"] * 1e3,
               "peak_rss_mb": d["peak_rss_mb"]}
        rows.append(row)
        print_table([row], list(row))
    print()
    print_table(rows, list(rows[0]))
    path = write_result("speed" + ("_quick" if args.quick else ""), rows)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
