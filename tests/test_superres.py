"Super-resolution (lesson 60): the degradation, PSNR/SSIM against scikit-image, and `genlearn train srgan` + `translate` + `evaluate`."
import json

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from genlearn.cli import load_run, main
from genlearn.data import load_images
from genlearn.superres import build_srgan, downsample, low_res_input, psnr, ssim, upsample


# ---------------------------------------------------------------- the degradation
@pytest.mark.parametrize('factor', [1, 2, 4, 7])
def test_degradation_is_deterministic_block_means_with_the_right_shapes(factor):
    x = load_images('mnist5k')[2][:50]
    small = downsample(x, factor)
    assert small.shape == (50, 1, 28 // factor, 28 // factor)
    blocks = x.view(50, 1, 28 // factor, factor, 28 // factor, factor).mean((3, 5))  # the mean of each factor×factor block
    assert torch.allclose(small, blocks, atol=1e-6)
    y = low_res_input(x, factor)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert torch.equal(y, low_res_input(x.clone(), factor)) and torch.equal(y, low_res_input(x.numpy(), factor))
    assert torch.equal(low_res_input(x[:, 0], factor), y)  # N×H×W is read as one channel
    if factor == 1: assert torch.allclose(y, x, atol=1e-6)


def test_degradation_refuses_what_it_cannot_do():
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match='cannot be cut into 3×3'): downsample(x, 3)
    with pytest.raises(ValueError, match='positive whole number'): downsample(x, 0)
    with pytest.raises(ValueError, match="'bicubic' or 'nearest'"): upsample(x, 2, 'area')
    with pytest.raises(ValueError, match='NaN'): low_res_input(torch.full((1, 1, 8, 8), float('nan')))
    with pytest.raises(ValueError, match='cannot be downsampled'): build_srgan((1, 28, 28), factor=3)


# ---------------------------------------------------------------- the distortion measures
def test_psnr_matches_scikit_image():
    torch.manual_seed(0)
    x = load_images('mnist5k')[2][:64]
    cases = [(low_res_input(x), x), (torch.rand(8, 3, 9, 11), torch.rand(8, 3, 9, 11)), ((x + 0.01).clamp(0, 1), x)]
    for a, b in cases:
        ours = psnr(a, b)
        ref = [peak_signal_noise_ratio(v.numpy(), u.numpy(), data_range=1.0) for u, v in zip(a, b)]
        assert ours.shape == (len(a),) and np.allclose(ours.numpy(), ref, rtol=1e-5, atol=1e-4)
    assert torch.isinf(psnr(x[:2], x[:2])).all()
    with pytest.raises(ValueError, match='same shape'): psnr(x[:2], x[:3])


def test_ssim_is_scikit_images():
    x = load_images('mnist5k')[2][:16]
    a = low_res_input(x)
    ref = [structural_similarity(u[0].numpy().astype(float), v[0].numpy().astype(float), data_range=1.0) for u, v in zip(a, x)]
    assert np.allclose(ssim(a, x).numpy(), ref, atol=1e-6)
    c = torch.rand(3, 3, 16, 16)
    ref = [structural_similarity(u.numpy().astype(float), v.numpy().astype(float), data_range=1.0, channel_axis=0) for u, v in zip(c, c.flip(0))]
    assert np.allclose(ssim(c, c.flip(0)).numpy(), ref, atol=1e-6)
    assert torch.allclose(ssim(x, x), torch.ones(16))


# ---------------------------------------------------------------- the command line
@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp('srgan')
    small = ['--dataset', 'digits', '--epochs', '1', '--channels', '4,8', '--critic-channels', '4,8', '--factor', '2']
    assert main(['train', 'srgan', *small, '--out', str(d/'gan')]) == 0
    assert main(['train', 'srgan', *small, '--adv-weight', '0', '--out', str(d/'l1')]) == 0
    return d


def test_train_srgan_writes_run(runs):
    for name, adv in (('gan', 1.), ('l1', 0.)):
        run = runs/name
        assert {p.name for p in run.iterdir()} == {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'translations.png'}
        config, m = (json.loads((run/f).read_text()) for f in ('config.json', 'metrics.json'))
        assert config['kind'] == 'image-to-image' and config['options']['factor'] == 2 and config['options']['adv_weight'] == adv
        assert len(m['history']) == 1 and 0 < m['valid_l1'] < 1 and (('acc_real' in m['history'][0]) == bool(adv))
        model, _ = load_run(run)
        x = torch.rand(3, 1, 8, 8)
        assert torch.equal(model.source(x), low_res_input(x, 2))  # the loaded model makes its inputs with the run's factor


def test_translate_and_evaluate_use_the_low_resolution_inputs(runs, tmp_path, monkeypatch):
    model, config = load_run(runs/'gan')
    x_valid = load_images('digits', config['valid_pct'], config['seed'])[2]
    np.save(tmp_path/'low.npy', low_res_input(x_valid, 2).numpy())
    assert main(['translate', str(runs/'gan'), '--images', str(tmp_path/'low.npy'), '--out', str(tmp_path/'high.npy')]) == 0
    high = np.load(tmp_path/'high.npy')
    assert high.shape == tuple(x_valid.shape) and np.allclose(high, model.translate(low_res_input(x_valid, 2)).numpy())
    import genlearn.metrics as metrics
    scored, real_evaluate = [], metrics.evaluate
    monkeypatch.setattr(metrics, 'evaluate', lambda images, **kw: scored.append(torch.as_tensor(images)) or real_evaluate(images, **kw))
    assert main(['evaluate', str(runs/'gan')]) == 0
    assert torch.allclose(scored[0], torch.as_tensor(high))  # the run's outputs on the low-resolution validation digits
    result = json.loads((runs/'gan'/'eval.json').read_text())
    assert result['fid'] > 0 and 'translations' in result['source']


def test_srgan_sizes_that_do_not_fit_are_refused(tmp_path, capsys):
    assert main(['train', 'srgan', '--dataset', 'digits', '--epochs', '1', '--factor', '3', '--out', str(tmp_path/'r')]) == 2
    err = capsys.readouterr().err
    assert 'cannot be downsampled by 3' in err and err.count('\n') == 1
