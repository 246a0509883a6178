"""The vectorized latent view assignment against a naive loop written here."""

import numpy as np
import pytest
import torch

from rotationnet.nn import assign

from rotationnet.core import views


def naive_view_targets(logits, labels, vcand):
    """Deliberately plain re-implementation of the reference training step:
    loops over objects, candidates, views; float64; first maximum wins."""
    logits = np.asarray(logits, dtype=np.float64)
    nv, vc = logits.shape
    k_count, v = vcand.shape
    c1 = vc // v
    c = c1 - 1
    n = nv // v
    targets = np.zeros(n * v * v, dtype=np.int64)
    chosen = np.zeros(n, dtype=np.int64)
    for obj in range(n):
        s = np.zeros((v, v, c))
        for i in range(v):
            for k in range(v):
                row = logits[obj * v + i, k * c1:(k + 1) * c1]
                m = row.max()
                lse = m + np.log(np.sum(np.exp(row - m)))
                lp = row - lse
                for cc in range(c):
                    s[i, k, cc] = lp[cc] - lp[c]
        best, best_j = -np.inf, 0
        for j in range(k_count):
            tot = 0.0
            for k in range(v):
                tot += s[vcand[j][k], k, labels[obj]]
            if tot > best:
                best, best_j = tot, j
        chosen[obj] = best_j
        for i in range(v):
            for k in range(v):
                targets[(obj * v + i) * v + k] = c
        for k in range(v):
            targets[(obj * v + vcand[best_j][k]) * v + k] = labels[obj]
    return targets, chosen


@pytest.mark.parametrize("spec,n,c", [("ring12", 6, 5), ("dodeca20", 4, 7)])
def test_matches_naive_loop(spec, n, c):
    rig = views.get_rig(spec)
    v = rig.num_views
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(n * v, v * (c + 1), generator=g, dtype=torch.float64) * 3
    labels = torch.randint(0, c, (n,), generator=g)
    cand = torch.tensor(rig.candidates)
    t, ch = assign.view_targets(logits, labels, cand)
    t_ref, ch_ref = naive_view_targets(logits.numpy(), labels.numpy(), rig.candidates)
    np.testing.assert_array_equal(ch.numpy(), ch_ref)
    np.testing.assert_array_equal(t.numpy(), t_ref)
    # exactly V targets per object carry the label
    assert int((t != c).sum()) == n * v


def test_ties_choose_lowest_candidate():
    rig = views.dodecahedron()
    v, c = rig.num_views, 3
    cand = torch.tensor(rig.candidates)
    g = torch.Generator().manual_seed(1)
    # object 0: all logits equal; object 1: every image identical, so every
    # candidate gathers the same values in the same slot order -> exact ties
    obj0 = torch.zeros(v, v * (c + 1))
    obj1 = torch.randn(1, v * (c + 1), generator=g).expand(v, -1)
    obj2 = torch.randn(v, v * (c + 1), generator=g)
    logits = torch.cat([obj0, obj1, obj2])
    labels = torch.tensor([0, 2, 1])
    t, ch = assign.view_targets(logits, labels, cand)
    t_ref, ch_ref = naive_view_targets(logits.numpy(), labels.numpy(), rig.candidates)
    assert ch[0] == 0 and ch[1] == 0
    np.testing.assert_array_equal(ch.numpy(), ch_ref)
    np.testing.assert_array_equal(t.numpy(), t_ref)


def test_loss_backpropagates_and_targets_follow_the_planted_candidate():
    rig = views.ring()
    v, c, n = 12, 4, 5
    cand = torch.tensor(rig.candidates)
    planted = torch.tensor([0, 3, 7, 11, 5])
    labels = torch.tensor([0, 1, 2, 3, 1])
    logits = torch.zeros(n, v, v, c + 1)
    for o in range(n):  # strong evidence for planted candidate and label
        logits[o, cand[planted[o]], torch.arange(v), labels[o]] = 8.0
    logits = logits.reshape(n * v, v * (c + 1)).requires_grad_()
    loss, chosen = assign.rotationnet_loss(logits, labels, cand)
    assert torch.equal(chosen, planted)
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    scores = assign.candidate_scores(assign.view_log_ratios(logits.detach(), v), cand)
    cls, cj, _ = assign.joint_argmax(scores)
    assert torch.equal(cls, labels) and torch.equal(cj, planted)


def test_bad_shapes_raise():
    cand = torch.tensor(views.ring().candidates)
    with pytest.raises(ValueError):
        assign.view_targets(torch.zeros(13, 12 * 5), torch.zeros(1, dtype=torch.long), cand)
    with pytest.raises(ValueError):
        assign.view_targets(torch.zeros(12, 12 * 5), torch.zeros(2, dtype=torch.long), cand)
    with pytest.raises(ValueError):
        assign.view_targets(torch.zeros(12, 12 * 5), torch.tensor([4]), cand)


@pytest.mark.parametrize("v,c", [(12, 5), (20, 3), (4, 1)])
def test_single_image_class_marginal_matches_softmax_of_the_logits(v, c):
    """image_class_log_probs sees only the log-ratios; the reference takes the
    (C+1)-way softmax of every slot's raw logits and averages over slots."""
    g = torch.Generator().manual_seed(v * 10 + c)
    logits = torch.randn(7, v * (c + 1), generator=g, dtype=torch.float64) * 6
    got = assign.image_class_log_probs(assign.image_log_ratios(logits, v)).exp().numpy()
    ref = np.zeros((7, c))
    for m in range(7):
        for k in range(v):
            row = logits[m, k * (c + 1):(k + 1) * (c + 1)].numpy()
            p = np.exp(row - row.max())
            ref[m] += (p / p.sum())[:c] / v
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    assert np.all(got.sum(axis=1) <= 1 + 1e-9)
    with pytest.raises(ValueError):
        assign.image_class_log_probs(torch.zeros(5))


def test_label_smoothing_changes_the_loss_not_the_targets():
    rig = views.ring(4)
    cand = torch.tensor(rig.candidates)
    logits = torch.randn(2 * 4, 4 * 3, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1])
    plain, ch0 = assign.rotationnet_loss(logits, labels, cand)
    smooth, ch1 = assign.rotationnet_loss(logits, labels, cand, label_smoothing=0.1)
    targets, _ = assign.view_targets(logits, labels, cand)
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), targets, label_smoothing=0.1)
    assert torch.equal(ch0, ch1) and not torch.isclose(plain, smooth)
    torch.testing.assert_close(smooth, ref)
