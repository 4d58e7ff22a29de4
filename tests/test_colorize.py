"Colorization (lesson 61): the coloring rule and its inverse, the saturation and hue measures, `genlearn train colorize` and `genlearn translate`."
import colorsys
import json

import numpy as np
import pytest
import torch

from genlearn.cli import load_run, main
from genlearn.colorize import class_colors, color_digits, color_report, hue_error, ink_hue, ink_saturation, to_gray
from genlearn.data import load_images
from genlearn.pix2pix import ImageToImage


# ---------------------------------------------------------------- the coloring rule
def test_coloring_is_hsv_with_class_hue_full_saturation_and_gray_value():
    x, y = load_images('mnist5k')[2][:50], load_images('mnist5k')[3][:50]
    c = color_digits(x, y)
    assert c.shape == (50, 3, 28, 28) and torch.equal(c, color_digits(x.clone(), y.clone()))  # deterministic
    for n in range(0, 50, 7):  # each digit's darkest and a fainter pixel, against the standard library's HSV → RGB
        ink = x[n, 0].flatten()
        for p in (int(ink.argmax()), int(((ink > 0) & (ink < 0.5)).nonzero()[0])):
            expected = colorsys.hsv_to_rgb(int(y[n]) * 36 / 360, 1.0, float(ink[p]))
            assert np.allclose(c[n, :, p // 28, p % 28].numpy(), expected, atol=1e-6)
    assert torch.equal(c[(x == 0).expand_as(c)], torch.zeros(int((x == 0).sum()) * 3))  # black background


def test_gray_of_the_colored_digit_is_the_input_exactly():
    x, y = load_images('mnist5k')[2], load_images('mnist5k')[3]
    assert torch.equal(to_gray(color_digits(x, y)), x)
    assert torch.equal(to_gray(x), x) and torch.equal(to_gray(x[:, 0]), x)  # gray stays gray; N×H×W is one channel


def test_the_class_is_recovered_from_the_hue_of_the_ink():
    x, y = load_images('mnist5k')[2], load_images('mnist5k')[3]
    hues = ink_hue(color_digits(x, y), x)
    assert torch.allclose(hues, (y * 36.).float() % 360, atol=1e-3)
    assert (ink_saturation(color_digits(x, y), x) == 1).all()
    assert torch.equal(torch.round(hues / 36).long() % 10, y)


def test_class_colors_are_ten_pure_hues():
    rgb = class_colors(torch.arange(10))
    assert torch.equal(rgb.amax(1), torch.ones(10)) and torch.equal(rgb.amin(1), torch.zeros(10))
    assert len({tuple(c) for c in rgb.tolist()}) == 10
    assert torch.allclose(rgb[[0, 5]], torch.tensor([[1., 0, 0], [0, 1, 1]]))  # red, and its complement cyan


@pytest.mark.parametrize('call,message', [(lambda x, y: color_digits(x, y[:3]), 'one label per image'),
                                          (lambda x, y: color_digits(x.expand(-1, 3, -1, -1), y), '1 channel'),
                                          (lambda x, y: color_digits(x, y + 10), 'classes 0…9'),
                                          (lambda x, y: color_digits(x, y.float()), 'integer'),
                                          (lambda x, y: color_digits(x * 255, y), 'divide uint8 pixels by 255'),
                                          (lambda x, y: to_gray(x * float('nan')), 'NaN')])
def test_coloring_refuses_bad_inputs(call, message):
    x, y = load_images('digits')[2][:5], load_images('digits')[3][:5]
    with pytest.raises(ValueError, match=message): call(x, y)


# ---------------------------------------------------------------- the measures
def _square(n=1, size=6):
    g = torch.zeros(n, 1, size, size)
    g[..., 1:5, 1:5] = 1
    return g


def test_saturation_of_averaged_hues():
    g = _square(3)
    red, cyan, green = (color_digits(g[:1], [c]) for c in (0, 5, 3))
    # complementary hues average to gray; red and green (108° apart) to (0.6, 0.5, 0): still saturation 1; a grayish pink in between
    images = torch.cat([(red + cyan) / 2, (red + green) / 2, 0.8 * red + 0.2])
    assert torch.allclose(ink_saturation(images, g), torch.tensor([0., 1., 0.8]), atol=1e-6)
    hsv = [colorsys.rgb_to_hsv(*images[i, :, 2, 2].tolist()) for i in range(3)]
    assert np.allclose([h[1] for h in hsv], ink_saturation(images, g).numpy(), atol=1e-6)


def test_only_the_ink_counts():
    g = _square() * 0.6
    g[..., 0, 0] = 0.3  # a faint pixel, below the 0.5 threshold
    out = color_digits(g, [2])
    out[..., 0, 0] = torch.tensor([0.3, 0.3, 0.3])  # colored gray there: ignored
    assert ink_saturation(out, g) == 1 and abs(ink_hue(out, g) - 72) < 1e-3
    assert ink_saturation(out, g, threshold=0.2) == pytest.approx(16 / 17)
    assert ink_saturation(out, torch.zeros_like(g)).isnan().all()  # no ink, no saturation


def test_hue_is_a_saturation_weighted_circular_mean():
    g = _square()
    image = color_digits(g, [9])  # 324°
    image[..., 1:5, 3:5] = color_digits(g, [1])[..., 1:5, 3:5]  # half the ink at 36°: the mean is 0°, not 180°
    assert hue_error(ink_hue(image, g), [0]) < 1e-3
    image[..., 1:5, 3:5] = 0.5  # the other half gray: no weight, the hue is 324°
    assert abs(ink_hue(image, g) - 324) < 1e-3
    assert ink_hue(torch.full((1, 3, 6, 6), 0.7), g).isnan().all()


def test_hue_error_wraps_around_the_wheel():
    err = hue_error(torch.tensor([0., 350., 170., 200., 18., float('nan')]), torch.tensor([0, 0, 0, 0, 1, 3]))
    assert torch.allclose(err[:5], torch.tensor([0., 10., 170., 160., 18.])) and err[5].isnan()


def test_color_report_on_constructed_answers():
    g = _square(4)
    y = torch.tensor([0, 2, 4, 9])
    target = color_digits(g, y)
    assert color_report(target, g, y) == dict(l1=0., saturation=1., hue_accuracy=1.)
    gray = g.expand(-1, 3, -1, -1)
    r = color_report(gray, g, y)
    assert r['saturation'] == 0 and r['hue_accuracy'] == 0  # no hue: wrong
    shifted = color_digits(g, (y + 1) % 10)  # every hue 36° off
    assert color_report(shifted, g, y)['hue_accuracy'] == 0
    half = torch.cat([target[:2], shifted[2:]])
    r = color_report(half, g, y)
    assert r['hue_accuracy'] == 0.5 and r['l1'] == pytest.approx((half - target).abs().mean().item())
    with pytest.raises(ValueError, match='3 channels'): color_report(g, g, y)
    with pytest.raises(ValueError, match='one 1-channel image per image'): color_report(target, g[:2], y)


# ---------------------------------------------------------------- the command line
SMALL = ['--dataset', 'digits', '--epochs', '1', '--channels', '4,8', '--critic-channels', '4,8']


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp('colorize')
    assert main(['train', 'colorize', *SMALL, '--out', str(d/'gan')]) == 0
    assert main(['train', 'colorize', *SMALL, '--adv-weight', '0', '--out', str(d/'l1')]) == 0
    np.save(d/'gray.npy', load_images('digits')[2][:12].numpy())
    return d


def test_train_colorize_writes_run(runs):
    for name, adv in (('gan', 1.), ('l1', 0.)):
        run = runs/name
        assert {p.name for p in run.iterdir()} == {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'translations.png'}
        config, m = (json.loads((run/f).read_text()) for f in ('config.json', 'metrics.json'))
        assert config['kind'] == 'image-to-image' and config['in_shape'] == [1, 8, 8] and config['options']['adv_weight'] == adv
        assert 0 < m['valid_l1'] < 1 and 0 <= m['saturation'] <= 1 and 0 <= m['hue_accuracy'] <= 1
        assert ('acc_real' in m['history'][0]) == bool(adv)
        model, _ = load_run(run)
        assert isinstance(model, ImageToImage) and model.adv_weight == adv


def test_run_metrics_are_the_lessons_measures(runs):
    model, config = load_run(runs/'gan')
    _, _, xv, yv = load_images('digits', config['valid_pct'], config['seed'])
    m = json.loads((runs/'gan'/'metrics.json').read_text())
    r = color_report(model.translate(xv), xv, yv)
    assert m['saturation'] == pytest.approx(r['saturation'], abs=1e-6) and m['hue_accuracy'] == pytest.approx(r['hue_accuracy'])


def test_translate_colors_gray_digits(runs, tmp_path):
    assert main(['translate', str(runs/'gan'), '--images', str(runs/'gray.npy'), '--out', str(tmp_path/'color.npy')]) == 0
    y, x = np.load(tmp_path/'color.npy'), np.load(runs/'gray.npy')
    model, _ = load_run(runs/'gan')
    assert y.shape == (12, 3, 8, 8) and y.dtype == np.float32 and y.min() >= 0 and y.max() <= 1
    assert np.allclose(y, model.translate(x).numpy())


@pytest.mark.parametrize('bad,message', [(np.zeros((3, 3, 8, 8)), 'translates 1×8×8'), (np.full((3, 1, 8, 8), 255.), 'divide uint8'),
                                         (np.full((3, 1, 8, 8), np.nan), 'NaN')])
def test_translate_refuses_color_or_bad_inputs(runs, tmp_path, capsys, bad, message):
    np.save(tmp_path/'bad.npy', bad)
    assert main(['translate', str(runs/'gan'), '--images', str(tmp_path/'bad.npy'), '--out', str(tmp_path/'y.npy')]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count('\n') == 1 and not (tmp_path/'y.npy').exists()


def test_pix2pix_runs_still_train_on_their_own_targets(tmp_path):
    "colorize takes over the trainer of kind 'image-to-image' only for its own runs."
    assert main(['train', 'pix2pix', *SMALL, '--out', str(tmp_path/'p')]) == 0
    m = json.loads((tmp_path/'p'/'metrics.json').read_text())
    assert 'saturation' not in m and 0 < m['valid_l1'] < 1


def test_colorize_sizes_that_do_not_fit_are_refused(tmp_path, capsys):
    assert main(['train', 'colorize', '--dataset', 'digits', '--epochs', '1', '--channels', '4,8,8,8,8', '--out', str(tmp_path/'r')]) == 2
    assert 'cannot be halved' in capsys.readouterr().err
    assert main(['train', 'colorize', '--dataset', 'digits', '--epochs', '1', '--critic-channels', '4,8,8', '--out', str(tmp_path/'r')]) == 2
    assert 'too small' in capsys.readouterr().err


def test_evaluate_refuses_a_colorize_run_in_one_line(runs, tmp_path, capsys):
    "The feature network takes gray digits: evaluate names the 3-channel outputs instead of scoring something else."
    assert main(['evaluate', str(runs/'gan'), '--out', str(tmp_path/'e.json')]) == 2
    err = capsys.readouterr().err
    assert 'shape (3, 8, 8)' in err and 'takes 1×8×8' in err and err.count('\n') == 1 and not (tmp_path/'e.json').exists()
