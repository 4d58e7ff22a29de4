"Tied weights and convolutional autoencoders: DenseTranspose against F.linear, gradients, shapes, CLI end to end."
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genlearn.cli import load_run, main
from genlearn.conv import ConvAE
from genlearn.data import load_images
from genlearn.learner import build_model, reconstruct
from genlearn.stacked import StackedAE
from genlearn.tied import DenseTranspose, TiedAE
from cli_runner import genlearn


def n_params(m): return sum(p.numel() for p in m.parameters())


# DenseTranspose

@pytest.mark.parametrize('n_in,n_out', [(5, 3), (784, 100), (1, 7)])
def test_dense_transpose_is_x_times_shared_weight_plus_bias(n_in, n_out):
    torch.manual_seed(n_in)
    lin = nn.Linear(n_in, n_out)
    dt = DenseTranspose(lin)
    with torch.no_grad(): dt.bias.normal_()
    x = torch.randn(6, n_out, dtype=torch.float64)
    lin, dt = lin.double(), dt.double()
    W = lin.weight
    torch.testing.assert_close(dt(x), F.linear(x, W.t(), dt.bias), rtol=0, atol=0)
    torch.testing.assert_close(dt(x), x @ W + dt.bias, rtol=1e-12, atol=1e-12)
    assert dt.bias.shape == (n_in,)


def test_dense_transpose_gradient_reaches_shared_weight_from_both_uses():
    torch.manual_seed(0)
    lin = nn.Linear(5, 3).double()
    dt = DenseTranspose(lin).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    loss = lambda W: F.linear(F.linear(x, W, lin.bias), W.t(), dt.bias).pow(2).sum()
    dt(lin(x)).pow(2).sum().backward()
    W = lin.weight.detach().clone().requires_grad_()
    loss(W).backward()
    torch.testing.assert_close(lin.weight.grad, W.grad)
    # both uses contribute: the gradient is the sum of the encoder-only and decoder-only gradients
    W1 = lin.weight.detach().clone().requires_grad_()
    F.linear(F.linear(x, W1, lin.bias), W.detach().t(), dt.bias).pow(2).sum().backward()
    W2 = lin.weight.detach().clone().requires_grad_()
    F.linear(F.linear(x, W.detach(), lin.bias), W2.t(), dt.bias).pow(2).sum().backward()
    assert W1.grad.abs().sum() > 0 and W2.grad.abs().sum() > 0
    torch.testing.assert_close(lin.weight.grad, W1.grad + W2.grad)
    # and torch.autograd.gradcheck agrees
    assert torch.autograd.gradcheck(loss, (lin.weight.detach().clone().requires_grad_(),))


def test_dense_transpose_bad_input():
    dt = DenseTranspose(nn.Linear(5, 3))
    with pytest.raises(ValueError, match='expects inputs with 3 features'): dt(torch.randn(2, 5))
    with pytest.raises(TypeError, match='ties to an nn.Linear'): DenseTranspose(nn.Conv2d(1, 1, 3))


def test_tied_parameter_count_about_half():
    tied, untied = TiedAE(), StackedAE()
    weights = 784 * 100 + 100 * 30
    biases = 100 + 30 + 100 + 784
    assert n_params(tied) == weights + biases
    assert n_params(untied) == 2 * weights + biases
    assert 0.49 < n_params(tied) / n_params(untied) < 0.52
    assert n_params(build_model('tied-ae', (1, 28, 28), codings=10)) == 784 * 100 + 100 * 10 + 100 + 10 + 100 + 784


def test_tied_trains_one_shared_weight():
    ae = TiedAE((1, 8, 8), hidden=16, codings=4)
    x = torch.rand(8, 1, 8, 8)
    F.mse_loss(ae(x), x).backward()
    w = ae.encoder[1].weight
    assert ae.decoder[1].dense.weight is w and w.grad is not None and w.grad.abs().sum() > 0


# ConvAE

@pytest.mark.parametrize('decoder', ['transpose', 'upsample'])
def test_conv_ae_shapes_28(decoder):
    m = build_model('conv-ae', (1, 28, 28), decoder=decoder)
    x = torch.rand(4, 1, 28, 28)
    assert m.encoder(x).shape == (4, 30)
    y = m(x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    # the encoder reduces space and raises channels
    h = m.encoder[:3](x)
    assert h.shape == (4, 16, 14, 14)
    assert m.encoder[:6](x).shape == (4, 32, 7, 7)


@pytest.mark.parametrize('decoder', ['transpose', 'upsample'])
def test_conv_ae_shapes_8(decoder):
    x = torch.rand(3, 1, 8, 8)
    m = build_model('conv-ae', (1, 8, 8), decoder=decoder, codings=5)
    assert m.encoder(x).shape == (3, 5) and m(x).shape == (3, 1, 8, 8)
    m3 = ConvAE((1, 8, 8), channels=[4, 8, 16], codings=2, decoder=decoder)
    assert m3(x).shape == (3, 1, 8, 8)


@pytest.mark.parametrize('decoder', ['transpose', 'upsample'])
def test_conv_ae_lecun_init_keeps_selu_activations_near_unit_std(decoder):
    torch.manual_seed(0)
    m, h, stds = ConvAE(decoder=decoder), torch.randn(128, 1, 28, 28), []
    with torch.no_grad():
        for layer in [*m.encoder, *m.decoder]:
            h = layer(h)
            if isinstance(layer, nn.SELU): stds.append(h.std().item())
    assert len(stds) == 5 and all(0.8 < s < 1.4 for s in stds), stds
    for layer in m.modules():  # every dense and (transposed) conv layer: zero bias, weight variance 1/fan-in
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            assert layer.bias.abs().max() == 0
    t = m.decoder[3] if decoder == 'transpose' else m.decoder[4]
    fan = 32 * 9 / 4 if decoder == 'transpose' else 32 * 9
    assert t.weight.std().item() == pytest.approx(fan ** -0.5, rel=0.05)


def test_conv_ae_bad_inputs():
    with pytest.raises(ValueError, match='needs image inputs of shape C×H×W'): build_model('conv-ae', (784,))
    with pytest.raises(ValueError, match='needs image inputs of shape C×H×W'): build_model('conv-ae', (28, 28))
    with pytest.raises(ValueError, match='divisible by 16'): ConvAE((1, 8, 8), channels=[4, 8, 16, 32])
    with pytest.raises(ValueError, match='divisible by 4'): build_model('conv-ae', (1, 10, 10))
    with pytest.raises(ValueError, match="decoder must be one of 'transpose', 'upsample'"): build_model('conv-ae', (1, 28, 28), decoder='x')
    with pytest.raises(ValueError, match='expects images of shape'): ConvAE()(torch.rand(2, 1, 8, 8))


# CLI end to end

@pytest.mark.parametrize('model,extra', [('tied-ae', []), ('conv-ae', ['--decoder', 'upsample', '--channels', '8,16'])])
def test_cli_train_then_reconstruct(model, extra, tmp_path):
    out = tmp_path/model
    r = genlearn('train', model, '--epochs', 1, '--out', out, *extra)
    assert r.returncode == 0, r.stderr
    assert {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'reconstructions.png'} <= {p.name for p in out.iterdir()}
    m = json.loads((out/'metrics.json').read_text())
    assert m['model'] == model and m['epochs'] == 1 and 0 < m['valid_loss'] < 0.2
    r = genlearn('reconstruct', out, '--out', tmp_path/'rec.npy')
    assert r.returncode == 0, r.stderr
    rec = np.load(tmp_path/'rec.npy')
    _, _, x_valid, _ = load_images('mnist5k')
    assert rec.shape == tuple(x_valid.shape)
    loaded, config = load_run(out)
    np.testing.assert_allclose(rec, reconstruct(loaded, x_valid).numpy(), atol=1e-6)
    assert main(['encode', str(out), '--out', str(tmp_path/'z.npy')]) == 0
    assert np.load(tmp_path/'z.npy').shape == (len(x_valid), 30)


# in-process (genlearn.cli.main) where a subprocess adds nothing but start-up time

def test_cli_conv_ae_on_8x8_digits(tmp_path):
    assert main(['train', 'conv-ae', '--dataset', 'digits', '--epochs', '1', '--channels', '4,8', '--out', str(tmp_path/'c')]) == 0
    assert json.loads((tmp_path/'c'/'config.json').read_text())['in_shape'] == [1, 8, 8]


@pytest.mark.parametrize('args,message', [
    (['conv-ae', '--decoder', 'bogus'], "invalid choice: 'bogus' (choose from 'transpose', 'upsample')"),
    (['tied-ae', '--decoder', 'upsample'], "model 'tied-ae' has no option --decoder"),
    (['tied-ae', '--codings', '0'], 'must be positive'),
    (['conv-ae', '--channels', '16,0'], 'must be positive whole numbers separated by commas')])
def test_cli_bad_options(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as e: main(['train', *args, '--epochs', '1', '--out', str(tmp_path/'x')])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not (tmp_path/'x').exists()
