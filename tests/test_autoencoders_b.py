"Recurrent, denoising, sparse autoencoders and anomaly scores: cross-checks, bad input, and the CLI end to end."
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, kl_divergence

from genlearn.data import reconstruction_dls
from genlearn.learner import FastLearner, adam, build_model, training_callbacks
from genlearn.denoising import psnr, GaussianNoise, DropoutNoise, check_noise_level
from genlearn.sparse import kl_sparsity, l1_activity, SparsityPenalty
from genlearn.recurrent import RecurrentAE
from genlearn.anomaly import reconstruction_errors, error_threshold
from cli_runner import genlearn


# --- PSNR -------------------------------------------------------------------------------------------------

def test_psnr_closed_form():
    ref = torch.full((3, 1, 5, 5), 0.25)
    for d in (0.1, 0.01, 0.3):
        np.testing.assert_allclose(psnr(ref + d, ref).numpy(), np.full(3, 10 * math.log10(1 / d**2)), rtol=1e-5)
    np.testing.assert_allclose(psnr(ref * 255 + 2, ref * 255, peak=255).numpy(), np.full(3, 10 * math.log10(255**2 / 4)), rtol=1e-5)
    assert torch.isinf(psnr(ref, ref)).all()
    with pytest.raises(ValueError, match='must match'): psnr(ref, ref[:2])


# --- noise callbacks: inputs only, training only ---------------------------------------------------------------

class _Spy(nn.Module):
    def __init__(self):
        super().__init__(); self.w = nn.Parameter(torch.zeros(())); self.seen = []
    def forward(self, x):
        self.seen.append((x.detach().clone(), self.training)); return x + self.w


def _fit_with(cb):
    torch.manual_seed(0)
    xt, xv = torch.rand(16, 1, 4, 4), torch.rand(8, 1, 4, 4)
    xt0, xv0 = xt.clone(), xv.clone()
    targets = []
    from fastai.callback.core import Callback
    class _T(Callback):
        def after_loss(self): targets.append((self.yb[0].clone(), self.training))
    spy = _Spy()
    learn = FastLearner(reconstruction_dls(xt, xv, bs=8), spy, loss_func=F.mse_loss, opt_func=adam, cbs=[cb, _T()])
    learn.fit(1, 0)
    return xt0, xv0, xt, xv, spy.seen, targets


@pytest.mark.parametrize('cb', [GaussianNoise(0.3), DropoutNoise(0.3)], ids=['gaussian', 'dropout'])
def test_noise_corrupts_training_inputs_only(cb):
    xt0, xv0, xt, xv, seen, targets = _fit_with(cb)
    torch.testing.assert_close(xt, xt0); torch.testing.assert_close(xv, xv0)   # data never modified in place
    train_in = torch.cat([x for x, t in seen if t])
    train_tg = torch.cat([y for y, t in targets if t])
    # targets are exactly the clean training images (in shuffled order); inputs are not
    torch.testing.assert_close(train_tg.flatten().sort().values, xt0.flatten().sort().values)
    assert not torch.allclose(train_in.flatten().sort().values, xt0.flatten().sort().values)
    # validation: inputs and targets are the clean validation images, in order
    torch.testing.assert_close(torch.cat([x for x, t in seen if not t]), xv0)
    torch.testing.assert_close(torch.cat([y for y, t in targets if not t]), xv0)


def test_bad_noise_levels():
    with pytest.raises(ValueError, match='std must be'): GaussianNoise(-0.5)
    with pytest.raises(ValueError, match='std must be'): GaussianNoise(float('nan'))
    with pytest.raises(ValueError, match=r'rate must be in \[0, 1\)'): DropoutNoise(1.0)
    with pytest.raises(ValueError, match=r'rate must be in \[0, 1\)'): DropoutNoise(-0.1)
    with pytest.raises(ValueError, match='unknown noise'): check_noise_level('pepper', 0.1)
    with pytest.raises(ValueError, match='rate must be'): training_callbacks('denoising-ae', noise='dropout', noise_level=1.2)
    assert isinstance(training_callbacks('denoising-ae', noise='gaussian', noise_level=0.4)[0], GaussianNoise)


# --- sparsity ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('target', [0.01, 0.1, 0.5, 0.9])
def test_kl_penalty_matches_torch_distributions(target):
    torch.manual_seed(1)
    a = torch.rand(32, 50) ** 2
    ref = kl_divergence(Bernoulli(probs=torch.full((50,), target)), Bernoulli(probs=a.mean(0))).sum()
    torch.testing.assert_close(kl_sparsity(a, target), ref, rtol=1e-5, atol=1e-6)
    per_unit = kl_divergence(Bernoulli(probs=torch.tensor(target)), Bernoulli(probs=a[:, 3].mean()))
    torch.testing.assert_close(kl_sparsity(a[:, 3:4], target), per_unit, rtol=1e-5, atol=1e-6)


def test_penalty_values_and_bad_options():
    torch.testing.assert_close(l1_activity(torch.tensor([[0.2, 0.4], [0.0, 0.6]])), torch.tensor(0.3))
    assert SparsityPenalty('kl', weight=0).penalty(torch.rand(4, 3)) == 0
    for t in (0, 1, 1.5, -0.2):
        with pytest.raises(ValueError, match='strictly between 0 and 1'): SparsityPenalty('kl', target=t)
    with pytest.raises(ValueError, match='weight must be'): SparsityPenalty('l1', weight=-0.1)
    with pytest.raises(ValueError, match='unknown sparsity'): SparsityPenalty('l0')
    with pytest.raises(ValueError, match='between 0 and 1'): build_model('sparse-ae', (1, 28, 28), target=1.5)


# --- recurrent shapes ------------------------------------------------------------------------------------------

def test_recurrent_shapes_and_errors():
    ae = RecurrentAE((1, 28, 28), hidden=16, codings=4)
    assert ae(torch.rand(3, 1, 28, 28)).shape == (3, 1, 28, 28)
    assert ae.encoder(torch.rand(3, 1, 28, 28)).shape == (3, 4)
    with pytest.raises(ValueError, match='28 rows of 28 values'): ae(torch.rand(3, 784))
    with pytest.raises(ValueError, match='28 rows of 28 values'): ae(torch.rand(3, 1, 28, 20))
    with pytest.raises(ValueError, match='28 rows of 28 values'): ae(torch.rand(3, 28, 28))
    with pytest.raises(ValueError, match='codings of shape N×4'): ae.decoder(torch.rand(3, 5))


# --- anomaly scores --------------------------------------------------------------------------------------------

def test_reconstruction_errors_and_threshold():
    class _Half(nn.Module):
        def __init__(self): super().__init__(); self.k = nn.Parameter(torch.tensor(0.5))
        def forward(self, x): return x * self.k
    x = torch.rand(5, 1, 3, 3)
    torch.testing.assert_close(reconstruction_errors(_Half(), x), (0.5 * x).pow(2).flatten(1).mean(1))
    assert error_threshold(np.arange(11.), 90) == pytest.approx(9.0)
    with pytest.raises(ValueError, match='percentile'): error_threshold([1.0], -1)


# --- CLI end to end --------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp('runs_b')


@pytest.mark.parametrize('args', [
    ('denoising-ae', '--noise', 'dropout', '--noise-level', 0.3),
    ('sparse-ae', '--sparsity', 'kl', '--target', 0.1, '--weight', 0.01),
    ('recurrent-ae',),
], ids=['denoising', 'sparse', 'recurrent'])
def test_cli_train(args, runs):
    out = runs/args[0]
    r = genlearn('train', *args, '--epochs', 1, '--out', out)
    assert r.returncode == 0, r.stderr
    assert {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'reconstructions.png'} <= {p.name for p in out.iterdir()}
    assert 'valid loss' in r.stdout


def test_cli_encode_sparse(runs, tmp_path):
    out = runs/'sparse-ae'
    if not (out/'model.pt').exists():
        r = genlearn('train', 'sparse-ae', '--sparsity', 'kl', '--target', 0.1, '--weight', 0.01, '--epochs', 1, '--out', out)
        assert r.returncode == 0, r.stderr
    r = genlearn('encode', out, '--out', tmp_path/'z.npy')
    assert r.returncode == 0, r.stderr
    z = np.load(tmp_path/'z.npy')
    assert z.shape == (1000, 300) and z.min() >= 0 and z.max() <= 1


def test_cli_bad_target(tmp_path):
    r = genlearn('train', 'sparse-ae', '--target', 1.5, '--epochs', 1, '--out', tmp_path/'bad')
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and 'target' in lines[0] and '1.5' in lines[0], r.stderr
    assert not (tmp_path/'bad'/'model.pt').exists()
