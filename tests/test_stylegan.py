"StyleGAN (lesson 36): the fused modulated convolution against the unfused one, demodulation, noise inputs, truncation, style mixing, growth under `ProgressiveGrowing`, `genlearn train stylegan`, `genlearn sample --truncation` and `genlearn mix`."
import json

import numpy as np
import pytest
import torch
from fastai.callback.core import Callback
from torch import nn

from cli_runner import exit_status
from genlearn.cli import load_run, main
from genlearn.core import set_seed, unit_to_signed
from genlearn.data import load_images
from genlearn.gan import gan_dls, gan_learner
from genlearn.progan import ProgressiveCritic, ProgressiveGrowing, progan_adam
from genlearn.stylegan import (ModulatedConv2d, NoiseInput, StyleGAN, StyleGenerator, StyleSynthesis, build_stylegan, mix_styles, truncate)


def _gan(seed=0, channels=(16, 8, 4), noise_size=8, trained_noise=True):
    torch.manual_seed(seed)
    gan = StyleGAN(StyleGenerator(noise_size, channels), ProgressiveCritic((1, 28, 28), channels), noise_size)
    if trained_noise:  # noise scales start at 0; give them values so that the noise matters, as after training
        for m in gan.generator.modules():
            if isinstance(m, NoiseInput): nn.init.normal_(m.scale)
    gan.generator.w_avg.normal_()
    return gan


# ---------------------------------------------------------------- the layers
def test_fused_modulated_convolution_equals_the_unfused_one():
    torch.manual_seed(1)
    for demodulate in (True, False):
        conv = ModulatedConv2d(6, 5, 7, demodulate=demodulate)
        nn.init.normal_(conv.affine.bias)  # a style that is not the identity at w = 0 either
        x, w = torch.randn(4, 6, 14, 14) * 3, torch.randn(4, 7)
        assert (conv(x, w) - conv.fused(x, w)).abs().max() < 1e-5
    s = conv.style(w)
    assert s.shape == (4, 6) and torch.allclose(ModulatedConv2d(6, 5, 7).style(torch.zeros(2, 7)), torch.ones(2, 6))


def test_demodulation_gives_unit_variance_whatever_the_style():
    torch.manual_seed(2)
    conv = ModulatedConv2d(32, 8, 4)
    x = torch.randn(3, 32, 66, 66)
    for w in (torch.randn(3, 4), 5 * torch.randn(3, 4)):
        y = conv(x, w)[..., 1:-1, 1:-1]  # away from the zero padding
        assert torch.allclose(y.std((2, 3)), torch.ones(3, 8), atol=0.05)


def test_noise_input_starts_silent_and_scales_per_channel():
    layer, x, noise = NoiseInput(2), torch.randn(3, 2, 7, 7), torch.randn(3, 1, 7, 7)
    assert torch.equal(layer(x), x)
    with torch.no_grad(): layer.scale.copy_(torch.tensor([2., 0.]))
    assert torch.allclose(layer(x, noise), x + torch.cat([2 * noise, 0 * noise], 1))


def test_synthesis_fades_in_like_the_progressive_generator():
    torch.manual_seed(0)
    syn, ws = StyleSynthesis(8, (16, 8, 4)), torch.randn(2, 6, 8)
    syn.grow(1)
    old = syn(ws)
    syn.grow(2, 0.)
    assert torch.allclose(syn(ws), old, atol=1e-5)  # α = 0: the 14×14 image, upsampled
    syn.grow(2, 1.)
    assert (syn(ws) - old).abs().max() > 1e-3
    with pytest.raises(ValueError, match='one w per layer'): syn(ws[:, :5])


# ---------------------------------------------------------------- truncation and mixing
def test_truncation_one_is_identity_and_zero_is_the_mean():
    w, w_avg = torch.randn(6, 8), torch.randn(8)
    assert torch.equal(truncate(w, w_avg, 1.), w)
    assert torch.equal(truncate(w, w_avg, 0.), w_avg.expand(6, -1))
    gan = _gan()
    assert torch.allclose(gan.styles(5, seed=2, truncation=0.), gan.generator.w_avg.expand(5, -1))
    assert torch.allclose(gan.styles(5, seed=2, truncation=1.), gan.generator.mapping(torch.randn(5, 8, generator=torch.Generator().manual_seed(2))))
    with pytest.raises(ValueError, match='≥ 0'): gan.sample(2, truncation=-1.)


def test_mixing_one_w_with_itself_is_plain_sampling():
    gan = _gan()
    x = gan.sample(6, seed=9)
    g = torch.Generator().manual_seed(9)  # what `sample` draws: the z's, then the noise
    w = gan.generator.mapping(torch.randn(6, 8, generator=g))
    noise = gan.generator.synthesis.make_noise(6, g)
    for crossover in range(gan.n_layers + 1):
        assert torch.allclose(gan.render(mix_styles(w, w, crossover, gan.n_layers), noise), x)


def test_mixing_takes_the_coarse_layers_from_a():
    gan, w_a, w_b = _gan(), torch.randn(3, 8), torch.randn(3, 8)
    noise = gan.generator.synthesis.make_noise(3, torch.Generator().manual_seed(0))
    mixed = gan.render(mix_styles(w_a, w_b, 2, 6), noise)
    assert not torch.allclose(mixed, gan.render(w_a, noise)) and not torch.allclose(mixed, gan.render(w_b, noise))
    gan.generator.grow(0)  # at 7×7 only the two coarse layers run: the mix is A
    assert torch.allclose(gan.render(mix_styles(w_a, w_b, 2, 6), noise), gan.render(w_a, noise))


# ---------------------------------------------------------------- growing
class GeneratorGroupLog(Callback):
    "The generator's stage and the ids of the parameters in the optimizer's generator group, at every training batch."
    order = 2  # after ProgressiveGrowing, which swaps the groups
    def before_fit(self): self.groups = []
    def before_batch(self):
        if self.training: self.groups.append((self.model.generator.stage, frozenset(id(p) for p in self.opt.param_lists[0])))


def test_progressive_growing_trains_a_stylegan_stage_by_stage():
    set_seed(0)
    xs = unit_to_signed(load_images('mnist5k')[0][:256])
    gan = _gan(trained_noise=False)
    gan.generator.w_avg.zero_()
    grow, log = ProgressiveGrowing(n=4), GeneratorGroupLog()
    learn = gan_learner(gan_dls(xs, xs[:64], noise_size=8, bs=32), gan, lr=1e-3, opt_func=progan_adam, cbs=[grow, log])
    learn.fit_quiet(2)
    assert [s for s, _ in grow.snapshots] == [0, 1, 2] and gan.generator.stage == gan.generator.synthesis.stage == 2
    by_stage = dict(log.groups)
    assert sorted(by_stage) == [0, 1, 2]
    blocks = [{id(p) for p in b.parameters()} for b in gan.generator.synthesis.blocks]
    for stage, ps in by_stage.items():  # each growth adds the new block's parameters
        assert all(blocks[i] <= ps for i in range(stage + 1)) and all(blocks[i].isdisjoint(ps) for i in range(stage + 1, 3))
    mapping = {id(p) for p in gan.generator.mapping.parameters()}
    assert all(mapping <= ps for ps in by_stage.values())
    assert gan.generator.w_avg.abs().sum() > 0  # the running mean of w moved
    assert any(m.scale.abs().sum() > 0 for m in gan.generator.modules() if isinstance(m, NoiseInput))  # the noise scales learned


# ---------------------------------------------------------------- the command line
SMALL = ['--dataset', 'digits', '--epochs', '1', '--channels', '8,4,4', '--noise-size', '8', '--mapping-layers', '2']


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp('stylegan')/'run'
    assert main(['train', 'stylegan', *SMALL, '--out', str(d)]) == 0
    return d


def test_train_stylegan_writes_run(run):
    assert {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'samples.png', 'resolutions.png'} <= {p.name for p in run.iterdir()}
    config = json.loads((run/'config.json').read_text())
    assert config['model'] == 'stylegan' and config['kind'] == 'gan' and config['options']['mixing'] == 0.9
    model, _ = load_run(run)
    assert isinstance(model, StyleGAN) and model.n_layers == 6 and model.generator.w_avg.abs().sum() > 0  # the mean w is saved


def test_sample_with_truncation(run, tmp_path):
    out = tmp_path/'x.npy'
    assert main(['sample', str(run), '--n', '5', '--seed', '3', '--truncation', '0.7', '--out', str(out)]) == 0
    model, _ = load_run(run)
    x = np.load(out)
    assert x.shape == (5, 1, 8, 8) and np.allclose(x, model.sample(5, seed=3, truncation=0.7).numpy(), atol=1e-6)
    assert not np.allclose(x, model.sample(5, seed=3).numpy(), atol=1e-4)


def test_mix_writes_a_grid(run, tmp_path):
    out = tmp_path/'grid.png'
    assert main(['mix', str(run), '--out', str(out), '--n', '3', '--crossover', '4']) == 0
    assert out.stat().st_size > 1000


@pytest.mark.parametrize('args,reason', [
    (['sample', '{run}', '--truncation', '-0.5', '--out', '{tmp}/x.npy'], '--truncation: must be zero or positive'),
    (['mix', '{run}', '--crossover', '6', '--out', '{tmp}/g.png'], '--crossover must be from 1 to 5'),
    (['mix', '{run}', '--out', '{tmp}/g.npy'], 'must name a .png file'),
    (['train', 'stylegan', '--mixing', '1.5', '--out', '{tmp}/r'], 'must be a probability'),
])
def test_bad_input_gives_a_clear_error(run, tmp_path, capsys, args, reason):
    assert exit_status([a.format(run=run, tmp=tmp_path) for a in args]) == 2
    assert reason in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_mix_refuses_other_models(tmp_path, capsys):
    run = tmp_path/'gan'
    assert main(['train', 'gan', '--dataset', 'digits', '--epochs', '1', '--hidden', '8', '--out', str(run)]) == 0
    assert main(['mix', str(run), '--out', str(tmp_path/'g.png')]) == 2
    assert 'no styles to mix' in capsys.readouterr().err and not (tmp_path/'g.png').exists()
