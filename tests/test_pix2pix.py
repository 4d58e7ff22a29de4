"Pix2Pix (lesson 40): the edges transform, the U-Net's sizes, the PatchGAN's geometry, the pair critic in fastai's trainer, `genlearn train pix2pix` and `genlearn translate`."
import json

import numpy as np
import pytest
import torch
from torch import nn

from genlearn.cli import load_run, main
from genlearn.core import set_seed, signed_to_unit
from genlearn.data import load_images
from genlearn.pix2pix import (ImageToImage, PairCritic, UNet, build_pix2pix, edges, erode, pair_dls, patchgan,
                              pix2pix_learner, receptive_field)


# ---------------------------------------------------------------- the task
def test_edges_are_deterministic_shaped_and_in_range():
    x = load_images('mnist5k')[2][:200]
    e = edges(x)
    assert e.shape == x.shape and torch.equal(e, edges(x.clone()))
    assert e.min() >= 0 and e.max() <= 1 and (e <= x).all()  # the rim of the ink, never more than the ink
    assert torch.equal(edges(x[:, 0]), e)  # N×H×W is read as one channel
    assert torch.equal(edges(x.numpy()), e)


def test_erosion_is_a_min_pool():
    x = torch.rand(2, 3, 9, 11)
    pad = nn.functional.pad(x, (1, 1, 1, 1), value=float('inf'))
    mins = torch.stack([pad[..., i:i + 9, j:j + 11] for i in range(3) for j in range(3)]).amin(0)
    assert torch.equal(erode(x), mins)
    with pytest.raises(ValueError, match='odd'): erode(x, 2)


def test_edges_reject_images_out_of_range():
    with pytest.raises(ValueError, match='255'): edges(torch.full((1, 1, 4, 4), 200.))
    with pytest.raises(ValueError, match='NaN'): edges(torch.full((1, 1, 4, 4), float('nan')))


# ---------------------------------------------------------------- the generator
@pytest.mark.parametrize('c_in,c_out,h,w,channels', [(1, 1, 28, 28, (16, 32, 64)), (1, 1, 8, 8, (4, 8, 16)),
                                                     (2, 3, 12, 20, (4, 8, 16)), (3, 1, 32, 32, (4, 8, 16, 32)), (1, 2, 6, 10, (4, 8))])
def test_unet_skip_connections_restore_the_input_size(c_in, c_out, h, w, channels):
    net = UNet(c_in, c_out, channels)
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-2:])) for m in [net.stem, *net.down]]
    up_sizes = []
    hooks += [m.register_forward_hook(lambda m, i, o: up_sizes.append(o.shape[-2:])) for m in net.up]
    y = net(torch.rand(2, c_in, h, w))
    assert y.shape == (2, c_out, h, w) and y.abs().max() <= 1
    # each decoder level comes back to the size of the encoder level whose maps it is concatenated with
    assert up_sizes == sizes[-2::-1][:len(up_sizes)]
    for hk in hooks: hk.remove()


def test_unet_refuses_sizes_it_cannot_halve():
    with pytest.raises(ValueError, match='divisible by 4'): UNet()(torch.rand(1, 1, 30, 30))
    with pytest.raises(ValueError, match='N×2×H×W'): UNet(2)(torch.rand(1, 1, 28, 28))
    with pytest.raises(ValueError, match='at least two'): UNet(channels=(8,))


# ---------------------------------------------------------------- the critic
def _arithmetic(size, channels):
    "Output side and receptive field of `patchgan(channels)` on `size`, from its layers' kernel, stride and padding."
    layers = [(4, 2 if i < len(channels) - 1 else 1, 1) for i in range(len(channels))] + [(4, 1, 1)]
    rf, jump = 1, 1
    for k, s, p in layers:
        size = (size + 2 * p - k) // s + 1
        rf, jump = rf + (k - 1) * jump, jump * s
    return size, rf


@pytest.mark.parametrize('size,channels', [(28, (32, 64)), (28, (8, 16, 32)), (8, (4, 8)), (64, (4, 8, 16, 32)), (31, (4, 8))])
def test_patchgan_output_matches_receptive_field_arithmetic(size, channels):
    side, rf = _arithmetic(size, channels)
    critic = PairCritic(1, 1, channels).eval()
    assert critic(torch.rand(2, 1, size, size), torch.rand(2, 1, size, size)).shape == (2, side, side)
    assert receptive_field(critic) == rf


@pytest.mark.parametrize('channels', [(8, 16), (8, 16, 32)])
def test_one_logit_sees_exactly_its_receptive_field(channels):
    "The input pixels that move one interior logit form a square whose side is the receptive field."
    torch.manual_seed(0)
    net = patchgan(2, channels).eval()
    x = torch.rand(1, 2, 64, 64, requires_grad=True)
    out = net(x)
    i = out.shape[-1] // 2
    out[0, 0, i, i].backward()
    rows, cols = x.grad.abs().sum((0, 1)).nonzero(as_tuple=True)
    assert rows.max() - rows.min() + 1 == cols.max() - cols.min() + 1 == receptive_field(net) == _arithmetic(64, channels)[1]


# ---------------------------------------------------------------- training on fastai's GAN trainer
def test_critic_sees_each_digit_with_its_own_edges():
    xt, _, xv, _ = load_images('mnist5k')
    set_seed(0)
    model = ImageToImage(UNet(channels=(4, 8)), PairCritic(channels=(4, 8)), (1, 28, 28), edges)
    seen = []
    model.critic.register_forward_hook(lambda m, args, out: seen.append([a.detach() for a in args]) if not model.gen_mode else None)
    pix2pix_learner(pair_dls(xt[:128], xv[:64], edges, bs=32), model).fit_quiet(1)
    assert len(seen) == 4  # two critic steps (every other batch), each on a real and a fake pair
    for (real, cond), (fake, fake_cond) in zip(seen[::2], seen[1::2]):
        assert torch.allclose(edges(signed_to_unit(real)), signed_to_unit(cond), atol=1e-6)
        assert torch.equal(cond, fake_cond) and not torch.allclose(real, fake)


# ---------------------------------------------------------------- the command line
@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp('pix2pix')
    small = ['--dataset', 'digits', '--epochs', '1', '--channels', '4,8', '--critic-channels', '4,8']
    assert main(['train', 'pix2pix', *small, '--out', str(d/'gan')]) == 0
    assert main(['train', 'pix2pix', *small, '--adv-weight', '0', '--out', str(d/'l1')]) == 0
    assert main(['train', 'gan', '--dataset', 'digits', '--epochs', '1', '--hidden', '16,32', '--out', str(d/'other')]) == 0
    x = edges(load_images('digits')[2][:12]).numpy()
    np.save(d/'edges.npy', x)
    return d


def test_train_pix2pix_writes_run(runs):
    run = runs/'gan'
    assert {p.name for p in run.iterdir()} == {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'translations.png'}
    config, m = (json.loads((run/f).read_text()) for f in ('config.json', 'metrics.json'))
    assert config['kind'] == 'image-to-image' and config['options'] == dict(channels=[4, 8], critic_channels=[4, 8], l1_weight=100., adv_weight=1.)
    assert len(m['history']) == 1 and 0 < m['valid_l1'] < 1 and {'acc_real', 'acc_fake', 'crit_loss'} <= set(m['history'][0])
    model, _ = load_run(run)
    assert isinstance(model, ImageToImage) and model.adv_weight == 1


def test_l1_baseline_never_trains_the_critic(runs):
    model, config = load_run(runs/'l1')
    set_seed(config['seed'])
    fresh = build_pix2pix(tuple(config['in_shape']), **config['options'])
    assert all(torch.equal(v, fresh.critic.state_dict()[k]) for k, v in model.critic.state_dict().items())
    assert not all(torch.equal(v, fresh.generator.state_dict()[k]) for k, v in model.generator.state_dict().items())
    assert 'acc_real' not in json.loads((runs/'l1'/'metrics.json').read_text())['history'][0]


def test_translate_writes_the_generators_outputs(runs, tmp_path):
    assert main(['translate', str(runs/'gan'), '--images', str(runs/'edges.npy'), '--out', str(tmp_path/'y.npy')]) == 0
    y, x = np.load(tmp_path/'y.npy'), np.load(runs/'edges.npy')
    model, _ = load_run(runs/'gan')
    assert y.shape == (12, 1, 8, 8) and y.dtype == np.float32 and y.min() >= 0 and y.max() <= 1
    assert np.allclose(y, model.translate(x).numpy())
    np.save(tmp_path/'flat.npy', x[:, 0])  # N×H×W
    assert main(['translate', str(runs/'gan'), '--images', str(tmp_path/'flat.npy'), '--out', str(tmp_path/'z.npy')]) == 0
    assert np.allclose(np.load(tmp_path/'z.npy'), y)


@pytest.mark.parametrize('bad,message', [(np.zeros((3, 1, 28, 28)), 'translates 1×8×8'), (np.zeros((3, 2, 8, 8)), 'translates 1×8×8'),
                                         (np.zeros((3, 8)), 'N×C×H×W'), (np.full((3, 1, 8, 8), 255.), 'divide uint8 pixels by 255'),
                                         (np.full((3, 1, 8, 8), -0.5), 'expected'), (np.full((3, 1, 8, 8), np.nan), 'NaN')])
def test_translate_refuses_bad_inputs_in_one_line(runs, tmp_path, capsys, bad, message):
    np.save(tmp_path/'bad.npy', bad)
    assert main(['translate', str(runs/'gan'), '--images', str(tmp_path/'bad.npy'), '--out', str(tmp_path/'y.npy')]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count('\n') == 1 and not (tmp_path/'y.npy').exists()


def test_translate_refuses_other_runs_and_files(runs, tmp_path, capsys):
    x, out = str(runs/'edges.npy'), str(tmp_path/'y.npy')
    cases = [(['translate', str(runs/'other'), '--images', x, '--out', out], 'does not translate'),
             (['translate', str(runs/'gan'), '--images', str(tmp_path/'none.npy'), '--out', out], 'no such file'),
             (['translate', str(runs/'gan'), '--images', x, '--out', str(tmp_path/'y.png')], 'must name a .npy'),
             (['translate', str(tmp_path), '--images', x, '--out', out], 'not a genlearn run directory')]
    (tmp_path/'junk.npy').write_text('not an array')
    cases.append((['translate', str(runs/'gan'), '--images', str(tmp_path/'junk.npy'), '--out', out], 'not a readable .npy'))
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count('\n') == 1, (argv, err)
    assert not (tmp_path/'y.npy').exists()


def test_pix2pix_sizes_that_do_not_fit_are_refused(tmp_path, capsys):
    assert main(['train', 'pix2pix', '--dataset', 'digits', '--epochs', '1', '--channels', '4,8,8,8,8', '--out', str(tmp_path/'r')]) == 2
    assert 'cannot be halved' in capsys.readouterr().err
    assert main(['train', 'pix2pix', '--dataset', 'digits', '--epochs', '1', '--critic-channels', '4,8,8', '--out', str(tmp_path/'r')]) == 2
    assert 'too small' in capsys.readouterr().err


def test_evaluate_scores_the_translations_of_the_runs_inputs(runs, monkeypatch, tmp_path):
    "`genlearn evaluate` on an image-to-image run scores generator(source(x_valid)), not the generator applied to the digits."
    import genlearn.metrics as metrics
    scored, real_evaluate = [], metrics.evaluate
    monkeypatch.setattr(metrics, 'evaluate', lambda images, **kw: scored.append(torch.as_tensor(images)) or real_evaluate(images, **kw))
    assert main(['evaluate', str(runs/'gan'), '--out', str(tmp_path/'e.json')]) == 0
    model, config = load_run(runs/'gan')
    x_valid = load_images('digits', config['valid_pct'], config['seed'])[2]
    assert torch.equal(scored[0], model.translate(edges(x_valid)))
    assert not torch.allclose(scored[0], model.translate(x_valid))  # what the old fallback fed it: the digits, not their edges
    assert 'translations' in json.loads((tmp_path/'e.json').read_text())['source']
