"""Prediction from 1..V images of one object with unknown viewpoints.

Two ways to read a set of images:

* **unordered** (default; "any order"): where each image was taken from is
  unknown.  For every class the images are assigned to distinct view slots so
  that the summed log-ratios (paper Eq. 5) are largest (an exact linear
  assignment); unobserved slots contribute nothing.  The class is the joint
  argmax over (assignment, class).
* **ordered**: the images are known to be rig images ``positions`` (e.g. all V
  views in rig order).  Joint argmax over (candidate, class) of the summed
  scores, unobserved slots neutral — the reference method.

Pose output.  Each image gets a view slot k: the image shows the object as the
class's canonical frame is seen from rig camera k.  The object rotation is the
rotation ``R`` taking the canonical frame to the object as photographed,
assuming the first image's camera stands where rig camera 0 stands (ordered
mode: where the rig's cameras stand), i.e. ``R @ cameras[k_0] = cameras[0]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .assign import image_class_log_probs, image_log_ratios, ordered_assignment, unordered_assignment
from .data import load_image
from .distributed import default_device
from rotationnet.core.errors import DataError
from rotationnet.core.views import ViewRig, matrix_to_quaternion, rotation_between_views

__all__ = ["Predictor", "softmax"]


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class Predictor:
    """A trained model ready for prediction (the Python API of ``rotationnet predict``).

    Example::

        p = Predictor.from_run("runs/chairs")
        result = p.predict(["ref1.jpg", "ref2.jpg"])
        result["class"], result["images"][0]["view_slot"], result["rotation"]["quaternion_wxyz"]
    """

    def __init__(self, model, metadata: dict, device=None):
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device).eval()
        self.meta = metadata
        self.classes: list[str] = list(metadata["classes"])
        self.rig: ViewRig = model.rig
        pre = model.preprocess
        self.size = int(pre["input_size"])
        self.mean = torch.tensor(pre["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(pre["std"], dtype=torch.float32).view(1, 3, 1, 1)
        self.background = tuple(metadata.get("background", (255, 255, 255)))

    @classmethod
    def from_run(cls, run, which: str = "best", device=None) -> "Predictor":
        """Load ``RUN/best`` (or ``last``, or a checkpoint path)."""
        from .checkpoint import checkpoint_stem, load_checkpoint

        model, meta = load_checkpoint(checkpoint_stem(run, which))
        return cls(model, meta, device)

    # -- inputs ---------------------------------------------------------------
    def to_tensor(self, images) -> torch.Tensor:
        """Paths, PIL images or uint8 (H, W, 3|4) arrays → normalised (M, 3, S, S);
        transparency goes onto the model's background, as for image files."""
        from PIL import Image

        from .data import letterbox

        arrs = []
        for im in images:
            if isinstance(im, (str, Path)):
                a = load_image(im, self.size, self.background)
            elif isinstance(im, Image.Image):
                a = np.asarray(letterbox(im.convert("RGB"), self.size))
            else:
                a = np.asarray(im)
                if a.ndim != 3 or a.shape[2] not in (3, 4) or a.dtype != np.uint8:
                    raise DataError(f"image array must be uint8 (H, W, 3|4), got {a.dtype} {a.shape}")
                rgb = Image.fromarray(np.ascontiguousarray(a[..., :3]))
                if a.shape[2] == 4:  # as load_image composites a file's transparency
                    out = Image.new("RGB", rgb.size, self.background)
                    out.paste(rgb, mask=Image.fromarray(np.ascontiguousarray(a[..., 3])))
                    rgb = out
                a = np.asarray(letterbox(rgb, self.size))
            arrs.append(a)
        x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).float().div_(255.0)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def ratios(self, images, batch_size: int = 32) -> np.ndarray:
        """(M, V, C) log-ratios of images (paths, PIL, arrays or a tensor)."""
        x = images if torch.is_tensor(images) else self.to_tensor(images)
        out = []
        for i in range(0, x.shape[0], batch_size):
            logits = self.model(x[i:i + batch_size].to(self.device))
            out.append(image_log_ratios(logits.float(), self.rig.num_views).cpu())
        return torch.cat(out).numpy()

    @torch.no_grad()
    def ratios_and_features(self, images, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """(M, V, C) log-ratios and (M, D) L2-normalised backbone features."""
        x = images if torch.is_tensor(images) else self.to_tensor(images)
        rs, fs = [], []
        for i in range(0, x.shape[0], batch_size):
            f = self.model.features(x[i:i + batch_size].to(self.device))
            rs.append(image_log_ratios(self.model.head(f).float(), self.rig.num_views).cpu())
            fs.append(torch.nn.functional.normalize(f.float(), dim=1).cpu())
        return torch.cat(rs).numpy(), torch.cat(fs).numpy()

    # -- prediction -----------------------------------------------------------
    def predict(self, images, positions: Sequence[int] | None = None, top_k: int = 5,
                names: Sequence[str] | None = None) -> dict:
        """Class and pose from 1..V images of one object.

        Args:
            images: paths, PIL images or uint8 arrays.
            positions: rig image index of each image if known (ordered mode).
            top_k: how many classes to rank.
            names: labels for the images in the output (default: paths).
        Returns:
            JSON-ready dict: ``class``, ``probability``, ``ranking`` (class,
            probability, score), ``images`` (view slot, its azimuth/elevation,
            the class this image alone predicts), ``rotation`` (matrix and
            quaternion w, x, y, z), ``mode``.
        Raises:
            DataError: no image, more images than views, unreadable image.
        """
        images = list(images)
        v = self.rig.num_views
        if not 1 <= len(images) <= v:
            raise DataError(f"give 1 to {v} images of one object, got {len(images)}")
        r = self.ratios(images)
        return self.predict_from_ratios(r, positions, top_k, names or [
            str(im) if isinstance(im, (str, Path)) else f"image {i}" for i, im in enumerate(images)])

    def predict_from_ratios(self, r: np.ndarray, positions=None, top_k: int = 5, names=None) -> dict:
        rig = self.rig
        if positions is None:
            scores, slots = unordered_assignment(r)
            cls = int(scores.argmax())
            slot = slots[cls]
            rot = rotation_between_views(rig.cameras[slot[0]], rig.up[slot[0]], rig.cameras[0], rig.up[0])
            extra = {"mode": "unordered"}
        else:
            cand_scores = ordered_assignment(r, positions, rig.candidates)  # (K, C)
            scores = cand_scores.max(axis=0)
            cls = int(scores.argmax())
            j = int(cand_scores[:, cls].argmax())
            inv = np.argsort(rig.candidates[j])  # inv[i] = slot holding image i
            slot = inv[np.asarray(positions)]
            rot = rig.candidate_rotations[j].T
            extra = {"mode": "ordered", "candidate": j, "positions": [int(p) for p in positions]}
        prob = softmax(scores)
        order = np.argsort(-scores, kind="stable")[:max(1, top_k)]
        ae = rig.azimuth_elevation_deg()
        alone = image_class_log_probs(torch.as_tensor(r, dtype=torch.float64)).argmax(dim=1)  # (M,)
        per_image = []
        for m in range(r.shape[0]):
            best_c = int(alone[m])
            per_image.append({
                "image": names[m] if names else f"image {m}",
                "view_slot": int(slot[m]),
                "azimuth_deg": round(float(ae[slot[m], 0]), 3),
                "elevation_deg": round(float(ae[slot[m], 1]), 3),
                "class_alone": self.classes[best_c],
            })
        return {
            "class": self.classes[cls],
            "probability": float(prob[cls]),
            "ranking": [{"class": self.classes[i], "probability": float(prob[i]), "score": float(scores[i])}
                        for i in order],
            "images": per_image,
            "rotation": {"matrix": np.round(rot, 9).tolist(),
                         "quaternion_wxyz": np.round(matrix_to_quaternion(rot), 9).tolist()},
            "rig": rig.spec,
            **extra,
        }
