"The DCGAN (lesson 31): the builders' shapes, Géron's architecture, the ablation switches, bad channels refused, `genlearn train dcgan`."
import json

import numpy as np
import pytest
import torch
from torch import nn

from genlearn.cli import load_run, main
from genlearn.dcgan import build_dcgan, dcgan_critic, dcgan_generator


def kinds(model): return [type(m) for m in model.modules() if not isinstance(m, nn.Sequential)]


@pytest.fixture(scope='module')
def dcgan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp('dcgan')/'run'
    assert main(['train', 'dcgan', '--epochs', '1', '--channels', '16,8', '--noise-size', '20', '--out', str(run)]) == 0
    return run


@pytest.mark.parametrize('shape, channels', [((1, 28, 28), (16, 8)), ((1, 32, 32), (16, 8, 4)), ((1, 8, 8), (8, 4)), ((3, 32, 32), (8, 4))])
def test_generator_and_critic_shapes(shape, channels):
    torch.manual_seed(0)
    x = dcgan_generator(10, channels, shape)(torch.randn(5, 10))
    assert x.shape == (5, *shape) and x.abs().max() <= 1  # tanh output
    assert dcgan_critic(shape, channels[::-1])(x).shape == (5,)


def test_defaults_are_gerons_dcgan():
    "Dense 100 → 7·7·128, transposed convolutions 128 → 64 → 1 (kernel 5, stride 2); convolutions 1 → 64 → 128, then one logit."
    g, c = dcgan_generator(), dcgan_critic()
    lin, *ups = [m for m in g.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d))]
    assert (lin.in_features, lin.out_features) == (100, 7 * 7 * 128)
    assert [(u.in_channels, u.out_channels, u.kernel_size, u.stride) for u in ups] == [(128, 64, (5, 5), (2, 2)), (64, 1, (5, 5), (2, 2))]
    convs = [m for m in c.modules() if isinstance(m, nn.Conv2d)]
    assert [(v.in_channels, v.out_channels, v.kernel_size, v.stride) for v in convs] == [(1, 64, (5, 5), (2, 2)), (64, 128, (5, 5), (2, 2))]
    assert isinstance(c[-2], nn.Linear) and c[-2].in_features == 128 * 7 * 7
    assert kinds(g)[-2:] == [nn.ConvTranspose2d, nn.Tanh]  # no batch norm at the generator's output
    assert kinds(c)[:2] == [nn.Conv2d, nn.LeakyReLU]  # none at the discriminator's input
    assert nn.ReLU in kinds(g) and nn.LeakyReLU not in kinds(g) and c[1].negative_slope == 0.2


def test_batchnorm_switch_removes_every_batchnorm():
    for on in (True, False):
        m = build_dcgan((1, 28, 28), channels=(16, 8), batchnorm=on)
        assert any(isinstance(x, nn.BatchNorm2d) for x in m.modules()) == on
    m = build_dcgan((1, 28, 28), channels=(16, 8), batchnorm=False)
    assert all(c.bias is not None for c in m.modules() if isinstance(c, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)))


def test_strided_switch_uses_upsampling_and_pooling():
    m = build_dcgan((1, 28, 28), channels=(16, 8), strided=False)
    g, c = kinds(m.generator), kinds(m.critic)
    assert nn.ConvTranspose2d not in g and g.count(nn.Upsample) == 2
    assert c.count(nn.MaxPool2d) == 2 and all(v.stride == (1, 1) for v in m.critic.modules() if isinstance(v, nn.Conv2d))
    assert m.sample(3, seed=0).shape == (3, 1, 28, 28)
    assert dcgan_critic((1, 16, 16), (4, 8), kernel=4, strided=False)(torch.rand(2, 1, 16, 16)).shape == (2,)  # even kernel: padded
    assert dcgan_generator(8, (8, 4), (1, 16, 16), kernel=4, strided=False)(torch.randn(2, 8)).shape == (2, 1, 16, 16)


def test_activation_and_dropout_switches():
    assert nn.LeakyReLU in kinds(dcgan_generator(slope=0.2)) and nn.ReLU not in kinds(dcgan_generator(slope=0.2))
    assert nn.LeakyReLU not in kinds(dcgan_critic(slope=0)) and nn.ReLU in kinds(dcgan_critic(slope=0))
    assert [d.p for d in dcgan_critic(dropout=0.4).modules() if isinstance(d, nn.Dropout)] == [0.4, 0.4]
    assert nn.Dropout not in kinds(dcgan_critic())


def test_conditional_sizes():
    "Lesson 32's use: the generator's input is noise + one-hot label, the critic's input image + label planes."
    assert dcgan_generator(30 + 10, (16, 8))(torch.randn(2, 40)).shape == (2, 1, 28, 28)
    assert dcgan_critic((11, 28, 28), (8, 16))(torch.randn(2, 11, 28, 28)).shape == (2,)


@pytest.mark.parametrize('make, message', [
    (lambda: dcgan_generator(channels=(8, 8, 8)), 'divisible by 8'),
    (lambda: dcgan_critic((1, 28, 28), (8, 8, 8)), 'divisible by 8'),
    (lambda: dcgan_generator(channels=()), 'channels must be'),
    (lambda: dcgan_critic(channels=(8, 0)), 'channels must be'),
    (lambda: dcgan_critic((784,)), 'C×H×W'),
    (lambda: dcgan_generator(kernel=0), 'kernel must be'),
    (lambda: dcgan_critic(dropout=1.0), 'dropout must be'),
])
def test_bad_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message): make()


def test_cli_refuses_channels_that_do_not_fit(tmp_path, capsys):
    assert main(['train', 'dcgan', '--epochs', '1', '--channels', '8,8,8', '--out', str(tmp_path/'r')]) == 2
    assert 'divisible by 8' in capsys.readouterr().err
    assert not (tmp_path/'r').exists()


def test_train_dcgan_writes_run(dcgan_run):
    assert {p.name for p in dcgan_run.iterdir()} == {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'samples.png'}
    config, m = (json.loads((dcgan_run/f).read_text()) for f in ('config.json', 'metrics.json'))
    assert config['kind'] == 'gan' and {k: config['options'][k] for k in ('noise_size', 'channels')} == {'noise_size': 20, 'channels': [16, 8]}
    assert len(m['history']) == 1 and 0 <= m['acc_real'] <= 1 and 0 <= m['acc_fake'] <= 1
    model, _ = load_run(dcgan_run)
    assert model.noise_size == 20 and any(isinstance(x, nn.ConvTranspose2d) for x in model.generator.modules())


def test_sample_and_evaluate_dcgan_run(dcgan_run, tmp_path):
    assert main(['sample', str(dcgan_run), '--n', '20', '--out', str(tmp_path/'x.npy')]) == 0
    x = np.load(tmp_path/'x.npy')
    model, _ = load_run(dcgan_run)
    assert x.shape == (20, 1, 28, 28) and np.allclose(x, model.sample(20, seed=0).numpy())
    assert main(['evaluate', str(dcgan_run), '--n', '300']) == 0
    assert json.loads((dcgan_run/'eval.json').read_text())['n'] == 300


def test_dcgan_on_the_8x8_digits(tmp_path):
    assert main(['train', 'dcgan', '--dataset', 'digits', '--epochs', '1', '--channels', '8,4', '--out', str(tmp_path/'d')]) == 0
    assert main(['sample', str(tmp_path/'d'), '--n', '4', '--out', str(tmp_path/'d.npy')]) == 0
    assert np.load(tmp_path/'d.npy').shape == (4, 1, 8, 8)
