"""Latent view assignment: vectorized (rotationnet.nn.assign) vs the original code's loop.

    python benchmarks/assign_speed.py [--quick]

The baseline is a transcription of the reference pytorch-rotationnet training
step (numpy per-candidate accumulation, per-object argmax, per-element target
fill).  Both are run on the same random logits and must agree exactly.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, write_result  # noqa: E402

from rotationnet.core import views  # noqa: E402
from rotationnet.nn import assign  # noqa: E402


def original_loop(output: torch.Tensor, target: torch.Tensor, vcand: np.ndarray, nview: int):
    """The reference implementation's target computation, kept as written there."""
    num_classes = int(output.size(1) / nview) - 1
    output = output.view(-1, num_classes + 1)
    nsamp = int(output.size(0) / nview / nview)
    target_ = torch.LongTensor(target.size(0) * nview)
    output_ = torch.nn.functional.log_softmax(output, dim=1)
    output_ = output_[:, :-1] - output_[:, -1:].expand(-1, num_classes)
    output_ = output_.view(-1, nview * nview, num_classes)
    output_ = output_.data.cpu().numpy().transpose(1, 2, 0)
    for j in range(target_.size(0)):
        target_[j] = num_classes
    scores = np.zeros((vcand.shape[0], num_classes, nsamp))
    for j in range(vcand.shape[0]):
        for k in range(vcand.shape[1]):
            scores[j] = scores[j] + output_[vcand[j][k] * nview + k]
    for n in range(nsamp):
        j_max = np.argmax(scores[:, target[n * nview], n])
        for k in range(vcand.shape[1]):
            target_[n * nview * nview + vcand[j_max][k] * nview + k] = target[n * nview]
    return target_


def timeit(fn, repeat: int) -> float:
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--objects", type=int, default=64)
    ap.add_argument("--classes", type=int, default=40)
    args = ap.parse_args()
    repeat = 5 if args.quick else 30
    rows = []
    for spec in ("ring12", "dodeca20"):
        rig = views.get_rig(spec)
        v, n, c = rig.num_views, args.objects, args.classes
        g = torch.Generator().manual_seed(0)
        logits = torch.randn(n * v, v * (c + 1), generator=g)
        labels = torch.randint(0, c, (n,), generator=g)
        cand_t = torch.tensor(rig.candidates)
        per_image = labels.repeat_interleave(v)
        ref = original_loop(logits, per_image, rig.candidates, v)
        new, _ = assign.view_targets(logits, labels, cand_t)
        assert torch.equal(ref, new), "vectorized targets differ from the original loop"
        t_loop = timeit(lambda: original_loop(logits, per_image, rig.candidates, v), repeat)
        t_vec = timeit(lambda: assign.view_targets(logits, labels, cand_t), repeat * 4)
        rows.append({
            "rig": spec, "V": v, "K": rig.num_candidates, "C": c, "objects": n,
            "loop_ms": t_loop * 1e3, "vectorized_ms": t_vec * 1e3, "speedup": t_loop / t_vec,
        })
    print_table(rows, ["rig", "V", "K", "C", "objects", "loop_ms", "vectorized_ms", "speedup"])
    path = write_result("assign_speed", rows, {"goal": "speedup >= 50"})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
