"Progressive growing (lesson 35): equalized layers, fade-in at both ends, the schedule and the optimizer's groups, `genlearn train progan`."
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genlearn.cli import load_run, main
from genlearn.core import unit_to_signed
from genlearn.data import load_images
from genlearn.dcgan import build_dcgan
from genlearn.gan import gan_dls, gan_learner
from genlearn.progan import (EqualizedConv2d, EqualizedLinear, ProgressiveCritic, ProgressiveGenerator, ProgressiveGrowing,
                             build_progan, growth_stage, progan_adam)


@pytest.mark.parametrize('ni,ks', [(1, 1), (16, 3), (64, 3), (7, 5)])
def test_equalized_scale_is_he_constant_and_the_layer_is_the_scaled_convolution(ni, ks):
    torch.manual_seed(0)
    conv = EqualizedConv2d(ni, 4, ks)
    assert conv.scale == pytest.approx((2 / (ni * ks * ks)) ** 0.5)
    with torch.no_grad(): conv.bias.normal_()
    x = torch.randn(2, ni, 9, 9)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight * conv.scale, conv.bias, padding=ks // 2), atol=1e-6)
    lin = EqualizedLinear(ni * 3, 5, gain=1.)
    assert lin.scale == pytest.approx(1 / (ni * 3) ** 0.5)


def _paths(g, z):
    "The generator's 7×7 path and its 14×14 path, both upsampled to 28×28."
    h = g.first(z)
    return (F.interpolate(g.to_image[0](h), scale_factor=4), F.interpolate(g.to_image[1](g.blocks[0](h)), scale_factor=2))


@torch.no_grad()
def test_fade_in_ends_are_the_old_path_upsampled_and_the_new_path():
    torch.manual_seed(1)
    g, c = ProgressiveGenerator(12, (16, 8, 4)), ProgressiveCritic((1, 28, 28), (16, 8, 4))
    z, x = torch.randn(5, 12), torch.rand(5, 1, 28, 28)
    old, new = _paths(g, z)
    g.grow(1, 0.); assert torch.allclose(g(z), old, atol=1e-6)
    g.grow(1, 1.); assert torch.allclose(g(z), new, atol=1e-6)
    # the critic at stage 2: α = 0 is the 14×14 critic on the input pooled to 14×14, α = 1 the new 28×28 block
    c.grow(1); at_14 = c(F.avg_pool2d(x, 2).repeat_interleave(2, 2).repeat_interleave(2, 3))
    c.grow(2, 0.); assert torch.allclose(c(x), at_14, atol=1e-5)
    c.grow(2, 1.); assert torch.allclose(c(x), c.last(c.blocks[0](c.blocks[1](c.from_image[2](x)))), atol=1e-5)


def test_schedule_covers_every_stage_in_order():
    points = [growth_stage(i / 600, 3) for i in range(601)]
    stages = [s for s, _ in points]
    assert stages == sorted(stages) and set(stages) == {0, 1, 2}
    assert all(a == 1 for s, a in points if s == 0)
    for s in (1, 2):  # α climbs from 0 to 1 over the first half of the stage, then stays at 1
        alphas = [a for t, a in points if t == s]
        assert alphas[0] == 0 and alphas == sorted(alphas) and alphas[-1] == 1 and alphas.count(1.) >= len(alphas) // 2 - 1


def test_growing_refuses_a_gan_that_cannot_grow():
    xs = unit_to_signed(load_images('mnist5k')[0][:64])
    learn = gan_learner(gan_dls(xs, xs[:32], noise_size=100, bs=32), build_dcgan((1, 28, 28)), opt_func=progan_adam, cbs=ProgressiveGrowing())
    with pytest.raises(ValueError, match='progressive generator and critic'): learn.fit_quiet(1)


@pytest.fixture(scope='module')
def progan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp('runs')/'progan'
    assert main(['train', 'progan', '--epochs', '1', '--channels', '16,8,4', '--noise-size', '12', '--fade', '0.25', '--out', str(run)]) == 0
    return run


def test_train_progan_writes_a_grown_run(progan_run):
    assert {p.name for p in progan_run.iterdir()} == {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'samples.png', 'resolutions.png'}
    config, m = (json.loads((progan_run/f).read_text()) for f in ('config.json', 'metrics.json'))
    assert config['options'] == {'noise_size': 12, 'channels': [16, 8, 4], 'fade': 0.25}
    assert len(m['history']) == 1 and 0 <= m['acc_real'] <= 1
    model, _ = load_run(progan_run)
    assert (model.generator.stage, model.generator.alpha, model.critic.stage) == (2, 1., 2)


def test_sample_a_progan_run(progan_run, tmp_path):
    assert main(['sample', str(progan_run), '--n', '12', '--out', str(tmp_path/'x.npy')]) == 0
    x = np.load(tmp_path/'x.npy')
    model, _ = load_run(progan_run)
    assert x.shape == (12, 1, 28, 28) and np.allclose(x, model.sample(12, seed=0).numpy())


def test_cli_refuses_channels_that_do_not_halve_to_a_whole_size(tmp_path, capsys):
    assert main(['train', 'progan', '--epochs', '1', '--channels', '8,8,8,8', '--out', str(tmp_path/'r')]) == 2
    assert 'divides by 8' in capsys.readouterr().err
    assert not (tmp_path/'r').exists()


def test_cli_refuses_a_fade_that_is_not_a_share(tmp_path, capsys):
    with pytest.raises(SystemExit) as e: main(['train', 'progan', '--epochs', '1', '--fade', '1', '--out', str(tmp_path/'r')])
    assert e.value.code == 2 and 'between 0 and 1' in capsys.readouterr().err
