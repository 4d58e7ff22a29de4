"`genlearn.vae`: the KL and the reparameterization against torch.distributions, ELBO ≤ IWAE, numerical safety, and the CLI end to end."
import json, math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from genlearn.data import load_images, reconstruction_dls
from genlearn.learner import build_model
from genlearn.vae import (LOGVAR_RANGE, MLPVAE, ConvVAE, ELBOLoss, KLWarmup, LatentExplorer, build_vae, iwae_bound, kl_std_normal,
                          negative_elbo, recon_nll, reparameterize, vae_learner)
from cli_runner import genlearn


def test_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(16, 5) * 2, torch.randn(16, 5) * 3
    ref = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros(5), torch.ones(5))).sum(1)
    torch.testing.assert_close(kl_std_normal(mu, logvar), ref, rtol=1e-5, atol=1e-5)
    test_mu, test_lv = torch.zeros(1, 3), torch.zeros(1, 3)
    assert kl_std_normal(test_mu, test_lv).item() == 0  # q = p


def test_kl_matches_monte_carlo():
    torch.manual_seed(1)
    mu, logvar = torch.randn(3, 4), torch.randn(3, 4) * 0.5
    q = Normal(mu, torch.exp(0.5 * logvar))
    z = q.sample((400_000,))
    mc = (q.log_prob(z) - Normal(0., 1.).log_prob(z)).sum(-1).mean(0)
    torch.testing.assert_close(kl_std_normal(mu, logvar), mc, rtol=0.02, atol=0.02)


def test_reparameterized_samples_have_requested_moments():
    torch.manual_seed(2)
    mu, logvar = torch.tensor([[1.5, -3.0, 0.0]]), torch.tensor([[math.log(4.0), math.log(0.01), 0.0]])
    z = reparameterize(mu.expand(200_000, 3), logvar.expand(200_000, 3))
    torch.testing.assert_close(z.mean(0), mu[0], atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), logvar[0].exp(), rtol=0.02, atol=1e-4)
    # gradients flow to mu and logvar
    mu_, lv_ = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    reparameterize(mu_, lv_).sum().backward()
    assert torch.equal(mu_.grad, torch.ones_like(mu)) and torch.isfinite(lv_.grad).all()


def test_recon_nll_matches_torch_distributions():
    torch.manual_seed(4)
    logits, x = torch.randn(3, 1, 4, 4), torch.rand(3, 1, 4, 4)
    p = torch.sigmoid(logits)
    bce = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)  # the Bernoulli log-likelihood of grey-level pixels
    torch.testing.assert_close(recon_nll(logits, x, 'bce'), bce, rtol=1e-5, atol=1e-4)
    gauss = -Normal(p, 0.2).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(recon_nll(logits, x, 'mse', sigma=0.2), gauss, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match='unknown loss'): recon_nll(logits, x, 'gaussian')


def test_vae_learner_loss_and_warmup_options():
    torch.manual_seed(5)
    x = torch.rand(64, 1, 8, 8)
    dls = reconstruction_dls(x[:48], x[48:], bs=16)
    for loss in ('bce', 'mse'):
        learn = vae_learner(dls, MLPVAE((1, 8, 8), codings=2, hidden=[16]), loss=loss)
        assert learn.loss_func.loss == loss and math.isfinite(learn.fit_quiet(1)[1])
    assert sum(isinstance(c, KLWarmup) for c in vae_learner(dls, MLPVAE((1, 8, 8), codings=2, hidden=[16])).cbs) == 1
    assert not any(isinstance(c, KLWarmup) for c in vae_learner(dls, MLPVAE((1, 8, 8), codings=2, hidden=[16]), warmup=0).cbs)
    with pytest.raises(ValueError, match='unknown loss'): vae_learner(dls, MLPVAE((1, 8, 8), codings=2, hidden=[16]), loss='l1')


@pytest.mark.parametrize('value', [1e4, -1e4])
def test_extreme_logvar_gives_finite_loss(value):
    torch.manual_seed(3)
    assert torch.isfinite(kl_std_normal(torch.randn(4, 6), torch.full((4, 6), value))).all()
    for model in (MLPVAE((1, 8, 8), codings=3, hidden=[16]), ConvVAE((1, 8, 8), codings=3, channels=(4, 8))):
        with torch.no_grad(): model.encoder.logvar.bias.fill_(value)
        x = torch.rand(5, 1, 8, 8)
        loss_fn = ELBOLoss(model)
        loss = loss_fn(model.train()(x), x)
        assert torch.isfinite(loss)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        _, _, logvar = model.last
        assert LOGVAR_RANGE[0] <= logvar.min() and logvar.max() <= LOGVAR_RANGE[1]
        assert math.isfinite(negative_elbo(model.eval(), x, n_samples=2)['nelbo'])
        assert torch.isfinite(iwae_bound(model, x, k=5)).all()


def test_wrong_number_of_codings_errors():
    model = MLPVAE((1, 8, 8), codings=4, hidden=[16])
    with pytest.raises(ValueError, match='has 4 codings'): model.sample(3, z=torch.randn(3, 5))
    with pytest.raises(ValueError, match='has 4 codings'): model.decoder(torch.randn(3, 2))
    with pytest.raises(ValueError, match='has 4 codings'): LatentExplorer(model, torch.rand(20, 1, 8, 8), n_sliders=5)
    with pytest.raises(ValueError, match='expected 2 slider values'):
        LatentExplorer(model, torch.rand(20, 1, 8, 8), n_sliders=2).coding([1.0])
    with pytest.raises(ValueError, match='expects images of shape'): model(torch.rand(2, 1, 28, 28))


def test_explorer_widget_builds_without_display():
    model = MLPVAE((1, 8, 8), codings=3, hidden=[16])
    ex = LatentExplorer(model, torch.rand(30, 1, 8, 8), directions='dims', n_sliders=3)
    w = ex.widget()
    assert len(w.children) == 6
    assert ex.render([0.5, 0, -1], t=0.3).shape == (1, 8, 8)
    fig = ex.static_grid(steps=(-1, 0, 1), scale=0.5)
    assert len(fig.axes) == 9 and fig.get_size_inches()[0] == pytest.approx(1.5)


def test_elbo_below_iwae_on_trained_model():
    torch.manual_seed(0)
    xt, _, xv, _ = load_images('mnist5k')
    model = MLPVAE(codings=8, hidden=[128])
    learn = vae_learner(reconstruction_dls(xt[:2000], xv, bs=64), model, lr=2e-3)
    learn.fit_quiet(2, 2e-3)
    model.eval()
    torch.manual_seed(1)
    elbo = -negative_elbo(model, xv[:200], n_samples=10)['nelbo']
    iwae = iwae_bound(model, xv[:200], k=100)
    assert torch.isfinite(iwae).all()
    assert elbo <= iwae.mean().item(), (elbo, iwae.mean().item())
    assert elbo < -50  # a real number of nats, not a degenerate bound


def test_cli_default_vae_has_one_hidden_layer_of_512():
    "The `vae` model's option default and `build_vae`'s own default build the same network; the lesson's MLPVAE keeps 512-256."
    shapes = lambda m: [tuple(p.shape) for p in m.parameters()]
    assert shapes(build_model('vae', (1, 28, 28))) == shapes(build_vae((1, 28, 28))) == shapes(MLPVAE((1, 28, 28), hidden=[512]))
    assert shapes(MLPVAE((1, 28, 28))) == shapes(MLPVAE((1, 28, 28), hidden=[512, 256]))


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp('runs')/'vae'
    r = genlearn('train', 'vae', '--epochs', 1, '--codings', 8, '--out', out)
    assert r.returncode == 0, r.stderr
    return out


def test_train_vae_writes_run(run):
    assert {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'samples.png'} <= {p.name for p in run.iterdir()}
    config, m = json.loads((run/'config.json').read_text()), json.loads((run/'metrics.json').read_text())
    assert config['kind'] == 'vae' and config['options'] == {'codings': 8, 'beta': 1.0, 'hidden': [512]}
    assert 50 < m['valid_nelbo'] < 400 and m['codings'] == 8
    for k in ['seconds', 'train_loss', 'valid_loss', 'loss', 'history']: assert k in m
    assert (run/'samples.png').read_bytes()[:4] == b'\x89PNG'


def test_sample_png(run, tmp_path):
    r = genlearn('sample', run, '--n', 16, '--out', tmp_path/'x.png')
    assert r.returncode == 0, r.stderr
    assert (tmp_path/'x.png').read_bytes()[:4] == b'\x89PNG'


def test_sample_npy(run, tmp_path):
    r = genlearn('sample', run, '--n', 16, '--out', tmp_path/'x.npy')
    assert r.returncode == 0, r.stderr
    x = np.load(tmp_path/'x.npy')
    assert x.shape == (16, 1, 28, 28) and x.min() >= 0 and x.max() <= 1


def test_sample_rejects_other_suffix(run, tmp_path):
    r = genlearn('sample', run, '--n', 4, '--out', tmp_path/'x.jpg')
    assert r.returncode == 2 and '.png' in r.stderr


def test_evaluate_vae_run(run):
    r = genlearn('evaluate', run, '--n', 500)
    assert r.returncode == 0, r.stderr
    res = json.loads((run/'eval.json').read_text())
    assert res['n'] == 500 and res['floor']['n'] == 500 and math.isfinite(res['fid'])


def test_train_conv_vae(tmp_path):
    r = genlearn('train', 'conv-vae', '--epochs', 1, '--codings', 4, '--beta', 2, '--out', tmp_path/'c')
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path/'c'/'config.json').read_text())['options'] == {'codings': 4, 'beta': 2.0, 'channels': [32, 64]}
    m = json.loads((tmp_path/'c'/'metrics.json').read_text())
    assert m['valid_neg_iwae_k100'] <= m['valid_nelbo_iwae_images']


def test_train_rejects_foreign_option(tmp_path):
    r = genlearn('train', 'vae', '--epochs', 1, '--channels', '4,8', '--out', tmp_path/'bad')
    assert r.returncode == 2 and "model 'vae' has no option --channels" in r.stderr and not (tmp_path/'bad').exists()
