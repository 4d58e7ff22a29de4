"CycleGAN (lesson 41): the second domain, unpaired batches, the losses (cycle loss 0 for identity generators), the image pool with two critics, `genlearn train cyclegan` and `genlearn translate`."
import json

import numpy as np
import pytest
import torch
from torch import nn

from cli_runner import exit_status
from genlearn.cli import load_run, main
from genlearn.core import set_seed
from genlearn.cyclegan import (CycleGAN, CycleGANLoss, UnpairedDL, class_preserved, cyclegan_learner, lsgan_loss, styled_digits,
                               unpaired_dls)
from genlearn.data import load_images
from genlearn.pix2pix import UNet, patchgan
from genlearn.remedies import ExperienceReplay


def _images(n, seed=0, size=28):
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _model(g=None, f=None, **kwargs):
    return CycleGAN(g or UNet(1, 1, (4, 8)), f or UNet(1, 1, (4, 8)), patchgan(1, (4, 8)), patchgan(1, (4, 8)), (1, 28, 28), **kwargs)


# ---------------------------------------------------------------- the second domain
def test_styled_digits_are_the_8x8_digits_upsampled_into_an_mnist_sized_box():
    xt, yt, xv, yv = styled_digits()
    assert xt.shape[1:] == xv.shape[1:] == (1, 28, 28) and len(xv) == 1000 and len(xt) + len(xv) == 1797
    assert xt.min() >= 0 and xt.max() <= 1 and xt[..., :4, :].abs().sum() == 0 and xt[..., :, 24:].abs().sum() == 0
    assert torch.bincount(yv).min() >= 95  # stratified: about 100 of each class
    # as documented: the same split of the 8×8 digits, each bilinearly upsampled to 20×20, in the middle of a black 28×28 canvas
    x8 = torch.cat(load_images('digits', valid_pct=999.5 / 1797)[0::2])
    expected = torch.zeros(1797, 1, 28, 28)
    expected[..., 4:24, 4:24] = torch.nn.functional.interpolate(x8, size=(20, 20), mode='bilinear', align_corners=False)
    assert torch.allclose(torch.cat([xt, xv]), expected)
    assert torch.allclose(expected[..., 4:24, 4:24].mean((2, 3)), x8.mean((2, 3)), atol=0.02)  # the ink is neither lost nor made
    with pytest.raises(ValueError, match='n_valid'): styled_digits(n_valid=1797)
    with pytest.raises(ValueError, match='inner'): styled_digits(inner=30)


# ---------------------------------------------------------------- unpaired batches
def test_unpaired_batches_draw_b_independently_of_a():
    a, b = torch.arange(64.).view(64, 1, 1, 1) / 64, torch.arange(32.).view(32, 1, 1, 1) / 32
    set_seed(0)
    dl = UnpairedDL(a, b, bs=16, shuffle=True, drop_last=True)
    batches = list(dl)
    a_seen, b_seen = torch.cat([x.flatten() for x, *_ in batches]), torch.cat([y.flatten() for _, y, *_ in batches])
    assert sorted(a_seen.tolist()) == sorted((a.flatten() * 2 - 1).tolist())  # one pass over A
    assert len(set(b_seen.tolist())) > 16 and set(b_seen.tolist()) <= set((b.flatten() * 2 - 1).tolist())
    assert abs(np.corrcoef(a_seen.numpy(), b_seen.numpy())[0, 1]) < 0.3  # no pairing of a with b
    x0, x1, y0, y1 = dl.one_batch()
    assert torch.equal(x0, y1) and torch.equal(x1, y0)  # targets (b, a): what G(a) and F(b) imitate


def test_unpaired_dls_refuse_bad_inputs():
    with pytest.raises(ValueError, match='one shape'): UnpairedDL(torch.rand(4, 1, 28, 28), torch.rand(4, 1, 8, 8))
    with pytest.raises(ValueError, match='smaller bs'): unpaired_dls(*(torch.rand(4, 1, 28, 28),) * 4, bs=8)


# ---------------------------------------------------------------- the losses
def test_cycle_loss_is_zero_for_identity_generators():
    model = _model(nn.Identity(), nn.Identity())
    loss = CycleGANLoss(model)
    a, b = _images(8, 1), _images(8, 2)
    total = loss(model(a, b), b, a)
    assert loss.parts['cycle_a'] == 0 and loss.parts['cycle_b'] == 0 and loss.parts['identity'] == 0
    assert torch.allclose(total, loss.parts['adv'])


def test_generator_loss_adds_the_weighted_parts():
    model = _model(nn.Identity(), UNet(1, 1, (4, 8)), cycle_weight=3., identity_weight=0.5)
    loss = CycleGANLoss(model)
    a, b = _images(8, 1), _images(8, 2)
    total = loss(model(a, b), b, a)
    fa = model.generator.ba(b)
    assert torch.allclose(loss.parts['cycle_a'], (model.generator.ba(a) - a).abs().mean())  # G is the identity: F(G(a)) = F(a)
    assert torch.allclose(loss.parts['cycle_b'], (fa - b).abs().mean())
    assert torch.allclose(loss.parts['identity'], (model.generator.ba(a) - a).abs().mean())  # G(b) = b costs nothing
    p = loss.parts
    assert torch.allclose(total, p['adv'] + 3 * (p['cycle_a'] + p['cycle_b']) + 1.5 * p['identity'])
    loss_no_id = CycleGANLoss(_model(identity_weight=0.))
    loss_no_id(loss_no_id.gan(a, b), b, a)
    assert loss_no_id.parts['identity'] == 0


def test_lsgan_loss_values():
    x = torch.tensor([0., 0.5, 2.])
    assert lsgan_loss(x, True) == pytest.approx((1 + 0.25 + 1) / 3) and lsgan_loss(x, False) == pytest.approx((0 + 0.25 + 4) / 3)


# ---------------------------------------------------------------- the image pool with two critics
def test_one_pool_of_pairs_serves_both_critics():
    "ExperienceReplay's hook takes any number of tensors: CycleGANLoss passes (G's fakes, F's fakes), kept together as pairs."
    model = _model()
    learn = cyclegan_learner(unpaired_dls(*(torch.rand(64, 1, 28, 28),) * 4, bs=16), model, pool=20)
    pools = [cb for cb in learn.cbs if isinstance(cb, ExperienceReplay)]
    assert len(pools) == 1 and pools[0].size == 20
    seen = []
    class Spy(ExperienceReplay):
        def mix(self, *batch):
            out = super().mix(*batch)
            seen.append((batch, out))
            return out
    learn = cyclegan_learner(unpaired_dls(*(torch.rand(64, 1, 28, 28),) * 4, bs=8), model, pool=0, cbs=[Spy(10, p=1.)])
    learn.fit_quiet(1)
    assert learn.loss_func.replay is None  # unhooked after the fit
    assert len(seen) == 4 and all(len(batch) == 2 for batch, _ in seen)  # 4 critics' steps, each with (fake_b, fake_a)
    # once the pool is full (p = 1), every fake the critics see is an earlier one, and G's and F's fakes of one slot stay together
    (b0, a0), _ = seen[0]
    (b1, a1), _ = seen[1]
    _, (out_b, out_a) = seen[2]
    earlier = list(zip(torch.cat([b0, b1]), torch.cat([a0, a1])))
    assert all(any(torch.equal(x, e) and torch.equal(y, f) for e, f in earlier) for x, y in zip(out_b, out_a))
    (b2, _), _ = seen[2]
    assert not any(torch.equal(x, e) for x in out_b for e in b2)  # none of this step's own fakes


# ---------------------------------------------------------------- translation and measures
def test_translate_both_directions_and_errors():
    model = _model().eval()
    x = torch.rand(5, 28, 28)
    with torch.no_grad():
        assert torch.allclose(model.translate(x), (model.generator.ab(x[:, None] * 2 - 1) + 1) / 2)
        assert torch.allclose(model.translate(x, 'BA'), (model.generator.ba(x[:, None] * 2 - 1) + 1) / 2)
    with pytest.raises(ValueError, match="'AB'"): model.translate(x, 'ab')
    with pytest.raises(ValueError, match='divide uint8'): model.translate(x * 255)
    with pytest.raises(ValueError, match='NaN'): model.translate(x * float('nan'))


def test_class_preserved_counts_agreement_with_the_judge():
    class Judge(nn.Module):  # "class" = the brightest of the first ten pixels
        def __init__(self): super().__init__(); self.w = nn.Parameter(torch.zeros(1))
        def forward(self, x): return x.flatten(1)[:, :10] + self.w
    x = torch.zeros(4, 1, 28, 28)
    for i, c in enumerate([3, 1, 4, 1]): x[i, 0, 0, c] = 1
    assert class_preserved(x, torch.tensor([3, 1, 4, 2]), Judge()) == 0.75
    with pytest.raises(ValueError, match='one label per output'): class_preserved(x, torch.tensor([3]), Judge())


# ---------------------------------------------------------------- the command line
SMALL = ['--epochs', '1', '--channels', '4,8', '--critic-channels', '4,8']


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp('cyclegan')
    assert main(['train', 'cyclegan', *SMALL, '--out', str(d/'run')]) == 0
    np.save(d/'a.npy', load_images('mnist5k')[2][:12].numpy())
    return d


def test_train_cyclegan_writes_run(run):
    r = run/'run'
    assert {p.name for p in r.iterdir()} == {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'translations.png'}
    config, m = (json.loads((r/f).read_text()) for f in ('config.json', 'metrics.json'))
    assert config['kind'] == 'image-to-image' and config['in_shape'] == [1, 28, 28] and config['options']['pool'] == 50
    assert 0 < m['cycle_a'] < 1 and 0 < m['cycle_b'] < 1 and m['generator_steps'] == 4000 // 64 // 2
    assert {'gen_loss', 'crit_loss', 'cycle_a', 'cycle_b'} <= set(m['history'][0])
    model, _ = load_run(r)
    assert isinstance(model, CycleGAN) and model.cycle_weight == 10 and model.identity_weight == 0.5


def test_translate_applies_g(run, tmp_path):
    assert main(['translate', str(run/'run'), '--images', str(run/'a.npy'), '--out', str(tmp_path/'b.npy')]) == 0
    y, x = np.load(tmp_path/'b.npy'), np.load(run/'a.npy')
    model, _ = load_run(run/'run')
    assert y.shape == (12, 1, 28, 28) and y.dtype == np.float32 and y.min() >= 0 and y.max() <= 1
    assert np.allclose(y, model.translate(x).numpy()) and not np.allclose(y, model.translate(x, 'BA').numpy())


@pytest.mark.parametrize('bad,message', [(np.zeros((3, 1, 8, 8)), 'translates 1×28×28'), (np.full((3, 1, 28, 28), 255.), 'divide uint8'),
                                         (np.full((3, 28, 28), np.nan), 'NaN')])
def test_translate_refuses_bad_inputs(run, tmp_path, capsys, bad, message):
    np.save(tmp_path/'bad.npy', bad)
    assert main(['translate', str(run/'run'), '--images', str(tmp_path/'bad.npy'), '--out', str(tmp_path/'y.npy')]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count('\n') == 1 and not (tmp_path/'y.npy').exists()


def test_evaluate_names_the_python_route(run, tmp_path, capsys):
    assert main(['evaluate', str(run/'run'), '--out', str(tmp_path/'e.json')]) == 2
    err = capsys.readouterr().err
    assert "translate(styled_digits()[2], 'BA')" in err and err.count('\n') == 1 and not (tmp_path/'e.json').exists()


def test_cyclegan_refuses_other_image_sizes_and_options(tmp_path, capsys):
    assert main(['train', 'cyclegan', '--dataset', 'digits', '--epochs', '1', '--out', str(tmp_path/'r')]) == 2
    assert 'choose a 28×28 dataset' in capsys.readouterr().err
    assert main(['train', 'cyclegan', '--epochs', '1', '--channels', '4,8,8,8,8', '--out', str(tmp_path/'r')]) == 2
    assert 'cannot be halved' in capsys.readouterr().err
    assert exit_status(['train', 'cyclegan', '--epochs', '1', '--pool', '-1', '--out', str(tmp_path/'r')]) == 2
    assert '--pool' in capsys.readouterr().err and not (tmp_path/'r').exists()
