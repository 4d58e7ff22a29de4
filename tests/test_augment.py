"Data augmentation and finding weaknesses (lesson 62): the few-label draw, shift/rotate augmentation, confident mistakes."
import math

import numpy as np
import pytest
import torch
from torch import nn

from genlearn.augment import augment_shift_rotate, confident_mistakes, few_labels, show_mistakes
from genlearn.data import load_images


@pytest.fixture(scope='module')
def mnist():
    return load_images('mnist5k')


# ---------------------------------------------------------------- few_labels
def test_few_labels_is_stratified_and_deterministic(mnist):
    xt, yt = mnist[0], mnist[1]
    for per_class in (1, 10, 40):
        x, y = few_labels(xt, yt, per_class, seed=3)
        assert torch.bincount(y, minlength=10).tolist() == [per_class] * 10
        assert len(x) == len(y) == 10 * per_class
    x, y = few_labels(xt, yt, 10, seed=3)
    x2, y2 = few_labels(xt, yt, 10, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(few_labels(xt, yt, 10, seed=4)[0], x)


def test_few_labels_returns_real_pairs_of_the_input(mnist):
    "Each returned (image, label) is a training image with its own label, and no image is drawn twice."
    xt, yt = mnist[0], mnist[1]
    x, y = few_labels(xt, yt, 10, seed=0)
    flat = xt.flatten(1)
    rows = [int((flat == xi.flatten()).all(1).nonzero()[0]) for xi in x]
    assert len(set(rows)) == 100
    assert torch.equal(yt[rows], y)


def test_few_labels_takes_numpy_and_rejects_bad_requests():
    x, y = np.random.rand(40, 1, 4, 4), np.repeat([0, 1, 2, 3], 10)
    xs, ys = few_labels(x, y, 3, seed=0)
    assert xs.shape == (12, 1, 4, 4) and torch.bincount(ys).tolist() == [3] * 4
    with pytest.raises(ValueError, match='between 1 and 10'): few_labels(x, y, 11)
    with pytest.raises(ValueError, match='between 1 and 10'): few_labels(x, y, 0)
    with pytest.raises(ValueError, match='one label per input'): few_labels(x, y[:-1], 2)
    with pytest.raises(ValueError, match='not balanced'): few_labels(x[:25], y[:25], 3)  # classes of 10, 10 and 5


# ---------------------------------------------------------------- augment_shift_rotate
def test_augmentation_keeps_shape_and_range_and_is_deterministic(mnist):
    x = mnist[2][:64]
    a = augment_shift_rotate(x, max_shift=3, max_degrees=20, seed=5)
    assert a.shape == x.shape and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, augment_shift_rotate(x, max_shift=3, max_degrees=20, seed=5))
    assert not torch.equal(a, augment_shift_rotate(x, max_shift=3, max_degrees=20, seed=6))
    assert augment_shift_rotate(x[:, 0], seed=5).shape == x.shape  # N×H×W is one channel


def test_no_movement_is_the_identity_and_each_image_moves_on_its_own(mnist):
    x = mnist[2][:32]
    assert torch.allclose(augment_shift_rotate(x, max_shift=0, max_degrees=0), x, atol=1e-5)
    same = x[:1].repeat(32, 1, 1, 1)
    a = augment_shift_rotate(same, seed=0)
    assert len({tuple(im.flatten().tolist()) for im in a}) == 32  # 32 copies of one digit, 32 different results


def _centre(x):
    "Ink-weighted centre (row, column) of each image."
    r = torch.arange(x.shape[2], dtype=torch.float32)
    m = x.sum((1, 2, 3))
    return torch.stack([(x.sum((1, 3)) * r).sum(1) / m, (x.sum((1, 2)) * r).sum(1) / m], 1)


def test_shifts_stay_within_bounds_and_keep_the_ink(mnist):
    "Shifts only: the ink's centre moves by at most max_shift pixels per axis, and (digits away from the border) the ink is kept."
    x = mnist[2][:200]
    a = augment_shift_rotate(x, max_shift=3, max_degrees=0, seed=1)
    moved = _centre(a) - _centre(x)
    assert moved.abs().max() <= 3 + 0.05
    assert moved.abs().max() > 2  # the bound is used, not a much smaller range
    inside = (x[:, 0, :3].sum((1, 2)) + x[:, 0, -3:].sum((1, 2)) + x[:, 0, :, :3].sum((1, 2)) + x[:, 0, :, -3:].sum((1, 2))) == 0
    assert inside.sum() > 100  # most digits have a 3-pixel empty margin, so a shift of at most 3 pixels loses none of their ink
    assert torch.allclose(a[inside].sum((1, 2, 3)), x[inside].sum((1, 2, 3)), rtol=1e-4)


def test_a_rotation_turns_the_ink_about_the_centre():
    "A bar along the middle row, rotated by up to 45°: its ink stays centred and its direction is the rotation angle."
    bar = torch.zeros(1, 1, 29, 29); bar[0, 0, 14, 4:25] = 1
    a = augment_shift_rotate(bar.repeat(50, 1, 1, 1), max_shift=0, max_degrees=45, seed=2)
    assert torch.allclose(_centre(a), torch.tensor([14., 14.]), atol=0.05)
    angles = []
    for im in a[:, 0]:
        rr, cc = torch.nonzero(im > 0.5, as_tuple=True)
        dr, dc = rr.float() - 14, cc.float() - 14
        angles.append(math.degrees(0.5 * math.atan2(2 * (dr * dc).sum(), (dc ** 2 - dr ** 2).sum())))  # principal axis
    angles = torch.tensor(angles)
    assert angles.abs().max() <= 45 + 3 and angles.abs().max() > 30 and angles.min() < 0 < angles.max()


def test_bad_bounds_and_images_are_rejected():
    with pytest.raises(ValueError, match='≥ 0'): augment_shift_rotate(torch.rand(2, 1, 8, 8), max_shift=-1)
    with pytest.raises(ValueError, match=r'\[0, 1\]'): augment_shift_rotate(torch.rand(2, 1, 8, 8) * 255)


# ---------------------------------------------------------------- confident_mistakes
class _Fixed(nn.Module):
    "A classifier whose logits for image i are the given row i (the image's first pixel holds i)."
    def __init__(self, logits):
        super().__init__()
        self.logits = nn.Parameter(torch.as_tensor(logits, dtype=torch.float32), requires_grad=False)
    def forward(self, x): return self.logits[(x[:, 0, 0, 0] * 100).round().long()]


def test_confident_mistakes_on_a_constructed_classifier():
    p = torch.tensor([[0.95, 0.03, 0.02],   # right, confident
                      [0.02, 0.97, 0.01],   # wrong (label 2), confident → a mistake
                      [0.60, 0.30, 0.10],   # wrong (label 1), unsure
                      [0.01, 0.04, 0.95],   # wrong (label 0), confident → a mistake
                      [0.05, 0.91, 0.04]])  # right, confident
    clf = _Fixed(p.log())
    x = (torch.arange(5) / 100.).view(5, 1, 1, 1).expand(5, 1, 2, 2).contiguous()
    idx, pred, conf = confident_mistakes(clf, x, [0, 2, 1, 0, 1], threshold=0.9)
    assert idx.tolist() == [1, 3] and pred.tolist() == [1, 2]
    assert torch.allclose(conf, torch.tensor([0.97, 0.95]))
    assert confident_mistakes(clf, x, [0, 2, 1, 0, 1], threshold=0.5)[0].tolist() == [1, 2, 3]
    assert confident_mistakes(clf, x, [0, 2, 1, 0, 1], threshold=0.96)[0].tolist() == [1]
    assert confident_mistakes(clf, x, [0, 2, 1, 0, 1], bs=2)[0].tolist() == [1, 3]  # batching changes nothing


def test_confident_mistakes_leaves_the_mode_and_checks_its_input():
    clf = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Dropout(0.5))
    clf.train()
    x = torch.rand(6, 1, 2, 2)
    a = confident_mistakes(clf, x, [0] * 6, threshold=0.34)
    assert clf.training  # restored
    b = confident_mistakes(clf, x, [0] * 6, threshold=0.34)
    assert torch.equal(a[0], b[0]) and torch.equal(a[2], b[2])  # evaluated in eval mode: dropout off, so repeatable
    with pytest.raises(ValueError, match='one label per image'): confident_mistakes(clf, x, [0] * 5)
    with pytest.raises(ValueError, match='between 0 and 1'): confident_mistakes(clf, x, [0] * 6, threshold=0)
    with pytest.raises(ValueError, match='NaN'): confident_mistakes(clf, x * float('nan'), [0] * 6)
    idx, pred, conf = confident_mistakes(clf, x[:0], [])  # no images: no mistakes
    assert len(idx) == len(pred) == len(conf) == 0 and idx.dtype == pred.dtype == torch.long


def test_show_mistakes_takes_each_class_in_turn():
    x = torch.rand(5, 1, 4, 4)
    labels, pred, conf = torch.tensor([3, 3, 3, 5, 5]), torch.tensor([1, 1, 1, 2, 2]), torch.tensor([0.91, 0.99, 0.95, 0.92, 0.97])
    fig = show_mistakes(x, labels, pred, conf, n=4)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ['3→1 0.99', '5→2 0.97', '3→1 0.95', '5→2 0.92']
    with pytest.raises(ValueError, match='no mistakes'): show_mistakes(x[:0], labels[:0], pred[:0], conf[:0])
    with pytest.raises(ValueError, match='must match'): show_mistakes(x, labels[:4], pred, conf)
