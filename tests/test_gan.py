"The GAN family end to end: `genlearn train gan`, then `sample` and `evaluate` on its run, as a user runs them."
import json

import numpy as np
import pytest

from genlearn.cli import main


@pytest.fixture(scope='module')
def gan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp('gan')/'run'
    assert main(['train', 'gan', '--epochs', '2', '--hidden', '64,128', '--out', str(run)]) == 0
    return run


def test_train_gan_writes_run(gan_run):
    assert {p.name for p in gan_run.iterdir()} == {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'samples.png'}
    config, m = (json.loads((gan_run/f).read_text()) for f in ('config.json', 'metrics.json'))
    assert config['kind'] == 'gan' and config['options']['noise_size'] == 30 and config['options']['hidden'] == [64, 128]
    assert len(m['history']) == 2 and 0 <= m['acc_real'] <= 1 and 0 <= m['acc_fake'] <= 1 and m['gen_loss'] > 0


def test_sample_and_evaluate_gan_run(gan_run, tmp_path, capsys):
    assert main(['sample', str(gan_run), '--n', '16', '--out', str(tmp_path/'x.npy')]) == 0
    x = np.load(tmp_path/'x.npy')
    assert x.shape == (16, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert main(['evaluate', str(gan_run), '--n', '300']) == 0
    first = json.loads((gan_run/'eval.json').read_text())
    assert first['n'] == 300
    assert main(['evaluate', str(gan_run), '--n', '300']) == 0
    assert json.loads((gan_run/'eval.json').read_text())['fid'] == first['fid']  # the samples are seeded: same run, same score


def test_same_seed_same_gan(tmp_path):
    for name in 'ab': assert main(['train', 'gan', '--dataset', 'digits', '--epochs', '1', '--out', str(tmp_path/name)]) == 0
    assert (tmp_path/'a'/'model.pt').read_bytes() == (tmp_path/'b'/'model.pt').read_bytes()


def test_an_epoch_too_short_for_both_phases_is_refused_clearly(tmp_path, capsys):
    # 1,437 training digits in one batch: the critic's phase takes it, and the generator never trains
    assert main(['train', 'gan', '--dataset', 'digits', '--epochs', '1', '--bs', '1437', '--out', str(tmp_path/'run')]) == 2
    err = capsys.readouterr().err
    assert 'recorded no gen_loss' in err and 'use a smaller --bs' in err and 'Traceback' not in err
    assert not (tmp_path/'run').exists()


def test_collapse_detector_alerts_once_after_warmup_and_leaves_unchecked_epochs_blank():
    "A generator that always draws the same real digit: coverage 0.1, one alert after the warmup, NaN between checks."
    import math, torch
    from torch import nn
    from genlearn.core import unit_to_signed
    from genlearn.data import load_images
    from genlearn.gan import GAN, CollapseDetector, dense_critic, gan_dls, gan_learner
    from genlearn.learner import history

    class OneDigit(nn.Module):
        def __init__(self, digit): super().__init__(); self.digit = nn.Parameter(digit.clone())
        def forward(self, z): return self.digit.expand(len(z), *self.digit.shape)

    x = unit_to_signed(load_images('mnist5k')[0][:256])
    detector = CollapseDetector(n=100, every=2, warmup=1)
    learn = gan_learner(gan_dls(x, x[:64], bs=64), GAN(OneDigit(x[0]), dense_critic(), 30), lr=1e-6, cbs=detector)
    learn.fit_quiet(3)
    h = history(learn)
    assert detector.alerts == [2]  # epoch 1 is not checked (every=2), epoch 2 alerts, epoch 3 (the last) is still low
    assert [math.isnan(v) for v in h.coverage] == [True, False, False]
    assert h.coverage.iloc[-1] == 0.1 and h.entropy.iloc[-1] < 0.01
    assert 'coverage' not in [m.name for m in learn.metrics]  # the columns leave with the fit


def test_collapse_detector_with_a_custom_classifier():
    "On 2-D points, `classify` decides the classes: a generator stuck on one ring mode covers 1/8; samples of no class cover 0."
    import torch
    from torch import nn
    import torch.nn.functional as F
    from genlearn.gan import GAN, CollapseDetector, dense_critic, gan_dls, gan_learner, ring_centres, ring_of_gaussians

    class OnePoint(nn.Module):
        def __init__(self, point): super().__init__(); self.point = nn.Parameter(point.clone())
        def forward(self, z): return self.point.expand(len(z), 2)

    def nearest(points):  # one-hot nearest mode of the points within 0.06 of a centre; the others are dropped
        d, mode = torch.cdist(points, ring_centres()).min(1)
        return F.one_hot(mode[d < 0.06], 8).float()

    ring = ring_of_gaussians(512)
    for point, coverage in ((ring_centres()[3], 1 / 8), (torch.zeros(2), 0.)):
        detector = CollapseDetector(n=100, classify=nearest, verbose=False)
        gan = GAN(OnePoint(point), dense_critic((2,), 8), noise_size=2, images=False)
        gan_learner(gan_dls(ring, ring[:64], noise_size=2, bs=64), gan, lr=1e-6, cbs=detector).fit_quiet(2)
        assert detector.coverage == coverage and detector.entropy == 0 and detector.alerts == [1]


def test_fastai_gan_learner_warns_nothing():
    "fastai's own GANTrainer copies the model's networks onto itself; genlearn filters exactly that shadowing warning."
    import warnings
    import torch
    from torch import nn
    import genlearn  # noqa: F401  (its warning filters)
    from fastai.vision.gan import GANLearner, gan_loss_from_func
    from genlearn.gan import dense_critic, dense_generator, gan_dls

    x = torch.rand(64, 1, 4, 4) * 2 - 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('default')
        import importlib; importlib.reload(genlearn)  # re-install genlearn's filters over the reset
        learn = GANLearner(gan_dls(x, x[:32], noise_size=4, bs=32), dense_generator(4, 8, (1, 4, 4)), dense_critic((1, 4, 4), 8),
                           *gan_loss_from_func(lambda o, t: o.new_zeros(()), nn.BCEWithLogitsLoss()))
        with learn.no_bar(), learn.no_logging(): learn.fit(1)
    assert not [w for w in caught if 'shadowing' in str(w.message)]
