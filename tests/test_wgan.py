"Wasserstein GANs (lesson 34): the losses' signs, weight clipping, the gradient penalty against exact values, `genlearn train wgan-gp`."
import json

import numpy as np
import pytest
import torch
from torch import nn

from genlearn.cli import load_run, main
from genlearn.gan import GAN, dense_critic, gan_dls, ring_of_gaussians
from genlearn.wgan import (GradientPenalty, WassersteinLoss, WeightClipping, build_wgan, clip_weights, clipped_share,
                           critic_grad_norms, gradient_penalty, wasserstein_estimate, wgan_learner)


def linear_critic(w):
    "f(x) = w·x on flattened x (plus a bias, which the gradient does not see)."
    net = nn.Sequential(nn.Flatten(), nn.Linear(w.numel(), 1), nn.Flatten(0))
    with torch.no_grad(): net[1].weight.copy_(w.reshape(1, -1)); net[1].bias.fill_(0.7)
    return net


@pytest.mark.parametrize('shape', [(2,), (5,), (1, 4, 4), (3, 2, 2)])
def test_gradient_penalty_is_exact_on_a_linear_critic(shape):
    torch.manual_seed(0)
    w = torch.randn(shape) * 0.8
    critic, norm = linear_critic(w), w.norm().item()
    real, fake = torch.randn(32, *shape), torch.randn(32, *shape) * 3 + 1
    assert torch.allclose(critic_grad_norms(critic, real), torch.full((32,), norm), rtol=1e-5)
    for weight in (10., 1.):
        gp = gradient_penalty(critic, real, fake, weight=weight)
        assert gp.item() == pytest.approx(weight * (norm - 1) ** 2, rel=1e-5)
    gp.backward()  # weight 1: d/dw (‖w‖ − 1)² = 2(‖w‖ − 1) w/‖w‖
    assert torch.allclose(critic[1].weight.grad, (2 * (norm - 1) * w / norm).reshape(1, -1), rtol=1e-4, atol=1e-6)
    assert critic[1].bias.grad is None or critic[1].bias.grad.abs().max() < 1e-6  # the bias does not reach the gradient


def test_gradient_penalty_is_zero_for_a_unit_gradient_and_draws_one_epsilon_per_example():
    critic = linear_critic(torch.tensor([0.6, 0.8]))
    assert gradient_penalty(critic, torch.randn(8, 2), torch.randn(8, 2)).item() == pytest.approx(0, abs=1e-10)
    square = lambda x: (x ** 2).sum(1)  # gradient 2x: on x̂ = ε·(1, 1) its norm is 2√2·ε
    torch.manual_seed(0)
    gp = gradient_penalty(square, torch.ones(20000, 2), torch.zeros(20000, 2), weight=1.)
    assert gp.item() == pytest.approx(8 / 3 - 2 * 2 ** 0.5 + 1, abs=0.02)  # E(2√2ε − 1)² for ε ~ U(0, 1), one per example
    with pytest.raises(ValueError, match='same shape'): gradient_penalty(critic, torch.randn(8, 2), torch.randn(4, 2))


def test_loss_signs_on_a_stand_in_critic():
    "f(x) = x₁ + x₂: reals at (1, 1) score 2, fakes at (−1, −1) score −2."
    critic = linear_critic(torch.ones(2))
    with torch.no_grad(): critic[1].bias.zero_()
    gan = GAN(nn.Identity(), critic, noise_size=2, images=False)
    loss, real, fake = WassersteinLoss(gan), torch.ones(4, 2), -torch.ones(4, 2)
    assert wasserstein_estimate(critic, real, fake).item() == 4
    gan.switch(gen_mode=False)
    crit = loss(gan(real), fake)
    assert crit.item() == -4 and loss.crit_loss is crit and torch.equal(loss.fakes, fake)
    crit.backward()
    assert torch.equal(critic[1].weight.grad, torch.tensor([[-2., -2.]]))  # descent: towards real − fake
    gan.switch(gen_mode=True)
    assert loss(gan(fake), real).item() == 2 and loss.gen_loss.item() == 2  # the generator wants higher scores on its fakes
    seen = []
    loss.replay = lambda f: (seen.append(f) or f * 0,)  # lesson 33's hook: the critic judges what the replay gives it
    gan.switch(gen_mode=False)
    assert loss(gan(real), fake).item() == -2 and torch.equal(loss.fakes, torch.zeros(4, 2)) and torch.equal(seen[0], fake)


class MaxAfterStep(WeightClipping):
    "Records, after every optimizer step, the largest critic and generator parameter and the phase (runs after the clipping)."
    order = WeightClipping.order + 1
    def before_fit(self): self.steps = []
    def after_step(self):
        big = lambda net: max(p.abs().max().item() for p in net.parameters())
        self.steps.append((self.learn.model.gen_mode, big(self.learn.model.critic), big(self.learn.model.generator)))


def test_weight_clipping_bounds_the_critic_after_every_step_and_leaves_the_generator_alone():
    torch.manual_seed(0)
    pts = ring_of_gaussians(320)
    gen = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    with torch.no_grad(): gen[0].weight.mul_(10)
    gan = GAN(gen, dense_critic((2,), 16), noise_size=2, images=False)
    first = [p.detach().clone() for p in gan.generator.parameters()]
    probe = MaxAfterStep(0.03)
    learn = wgan_learner(gan_dls(pts, pts[:64], noise_size=2, bs=32), gan, lr=1e-3, cbs=[WeightClipping(0.03), probe])
    learn.fit_quiet(1)
    assert [g for g, _, _ in probe.steps] == [False] * 5 + [True] + [False] * 4  # n_critic = 5
    assert all(c <= 0.03 + 1e-7 for _, c, _ in probe.steps)
    assert clipped_share(gan.critic, 0.03) > 0.1  # many weights sit at the bound
    gen_now = list(gan.generator.parameters())
    assert max(p.abs().max().item() for p in gen_now) > 1  # far outside ±0.03: never clipped
    assert any(not torch.equal(a, b) for a, b in zip(first, gen_now))  # but trained


def test_clip_weights_and_share():
    net = nn.Linear(4, 1)
    with torch.no_grad(): net.weight.copy_(torch.tensor([[1., -1., 0.001, -0.002]])); net.bias.fill_(-5.)
    clip_weights(net, 0.01)
    assert net.weight.tolist()[0] == pytest.approx([0.01, -0.01, 0.001, -0.002]) and net.bias.item() == pytest.approx(-0.01)
    assert clipped_share(net, 0.01) == pytest.approx(3 / 5)


def test_gradient_penalty_callback_adds_the_penalty_to_critic_steps_only():
    torch.manual_seed(0)
    pts = ring_of_gaussians(192)
    gan = GAN(nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)), dense_critic((2,), 8), noise_size=2, images=False)
    gp = GradientPenalty(1000.)
    learn = wgan_learner(gan_dls(pts, pts[:64], noise_size=2, bs=32), gan, cbs=gp)
    learn.fit_quiet(1)
    crit, gen = learn.gan_trainer.phase_losses[False], learn.gan_trainer.phase_losses[True]
    assert len(crit) == 5 and len(gen) == 1
    assert gp.penalty.item() > 0 and crit[-1] > learn.loss_func.crit_loss.item()  # the logged critic loss includes the penalty
    bn = GAN(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 1), nn.Flatten(0)), noise_size=2, images=False)
    with pytest.raises(ValueError, match='batch norm'):
        wgan_learner(gan_dls(pts, pts[:64], noise_size=2, bs=32), bn, cbs=GradientPenalty()).fit_quiet(1)


@pytest.fixture(scope='module')
def wgan_gp_run(tmp_path_factory):
    run = tmp_path_factory.mktemp('wgan')/'run'
    assert main(['train', 'wgan-gp', '--epochs', '1', '--channels', '16,8', '--noise-size', '20', '--n-critic', '3', '--out', str(run)]) == 0
    return run


def test_train_wgan_gp_writes_a_run_that_sample_and_evaluate_accept(wgan_gp_run, tmp_path):
    assert {p.name for p in wgan_gp_run.iterdir()} == {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'samples.png'}
    config, m = (json.loads((wgan_gp_run/f).read_text()) for f in ('config.json', 'metrics.json'))
    assert config['kind'] == 'wgan' and {k: config['options'][k] for k in ('noise_size', 'channels', 'n_critic', 'gp_weight')} == {'noise_size': 20, 'channels': [16, 8], 'n_critic': 3, 'gp_weight': 10.0}
    assert config['lr'] == 1e-4 and len(m['history']) == 1 and np.isfinite(m['w_estimate']) and 'clipped_share' not in m
    model, _ = load_run(wgan_gp_run)
    assert not any(isinstance(x, nn.BatchNorm2d) for x in model.critic.modules())
    assert main(['sample', str(wgan_gp_run), '--n', '16', '--out', str(tmp_path/'x.npy')]) == 0
    x = np.load(tmp_path/'x.npy')
    assert x.shape == (16, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert main(['evaluate', str(wgan_gp_run), '--n', '200']) == 0
    assert json.loads((wgan_gp_run/'eval.json').read_text())['n'] == 200


def test_train_wgan_clips_and_reports_the_share(tmp_path):
    run = tmp_path/'run'
    assert main(['train', 'wgan', '--dataset', 'digits', '--epochs', '1', '--channels', '8,4', '--clip', '0.02', '--out', str(run)]) == 0
    config, m = (json.loads((run/f).read_text()) for f in ('config.json', 'metrics.json'))
    assert config['options']['clip'] == 0.02 and config['lr'] == 5e-5 and 0 < m['clipped_share'] < 1
    model, _ = load_run(run)
    assert max(p.abs().max().item() for p in model.critic.parameters()) <= 0.02 + 1e-7
    assert m['clipped_share'] == clipped_share(model.critic, 0.02)


@pytest.mark.parametrize('args, reason', [
    (['wgan', '--clip', '0'], 'must be a positive finite number'),
    (['wgan', '--clip', '-0.01'], 'must be a positive finite number'),
    (['wgan', '--clip', 'inf'], 'must be a finite number'),
    (['wgan', '--n-critic', '0'], 'must be positive'),
    (['wgan-gp', '--n-critic', '2.5'], 'must be a whole number'),
    (['wgan-gp', '--gp-weight', 'nan'], 'must be a finite number'),
    (['wgan-gp', '--gp-weight', '-10'], 'must be a positive finite number'),
    (['wgan-gp', '--clip', '0.01'], "model 'wgan-gp' has no option --clip"),
    (['wgan', '--gp-weight', '10'], "model 'wgan' has no option --gp-weight"),
])
def test_bad_option_values_are_refused(tmp_path, capsys, args, reason):
    with pytest.raises(SystemExit) as e: main(['train', *args, '--epochs', '1', '--out', str(tmp_path/'r')])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert reason in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path/'r').exists()


def test_library_refuses_bad_settings():
    with pytest.raises(ValueError, match='c must be a positive number'): WeightClipping(0)
    with pytest.raises(ValueError, match='weight must be a positive number'): GradientPenalty(float('nan'))
    gan = build_wgan((1, 8, 8), noise_size=4, channels=(4, 2))
    x = torch.rand(64, 1, 8, 8)
    with pytest.raises(ValueError, match='n_critic must be'): wgan_learner(gan_dls(x, x[:32], noise_size=4, bs=32), gan, n_critic=0)
