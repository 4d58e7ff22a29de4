"The conditional GAN (lesson 32): the label reaches both networks, `genlearn train cgan`, and `genlearn sample --label`."
import json

import numpy as np
import pytest
import torch

from genlearn.cgan import ConditionalCritic, ConditionalGenerator, build_cgan, classification_accuracy_score, conditional_samples
from genlearn.cli import load_run, main
from genlearn.data import load_images


@pytest.fixture(scope='module')
def cgan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp('cgan')/'run'
    assert main(['train', 'cgan', '--epochs', '2', '--channels', '16,8', '--out', str(run)]) == 0
    return run


@pytest.fixture(scope='module')
def gan_run(tmp_path_factory):
    "A run of a GAN that is not conditional."
    run = tmp_path_factory.mktemp('gan')/'run'
    assert main(['train', 'gan', '--dataset', 'digits', '--epochs', '1', '--hidden', '16,32', '--out', str(run)]) == 0
    return run


def test_the_label_shapes_the_critics_judgement():
    "With the label among the critic's inputs, the logit gap between two labels depends on the image (not a per-class constant)."
    torch.manual_seed(0)
    crit = ConditionalCritic(channels=(8, 16)).eval()
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    gap = crit(x, torch.full((6,), 3)) - crit(x, torch.full((6,), 5))
    assert gap.std() > 1e-3


def test_generator_rejects_shapes_it_cannot_make():
    with pytest.raises(ValueError, match='divisible by 8'): ConditionalGenerator(channels=(8, 8, 8), out_shape=(1, 28, 28))
    assert ConditionalGenerator(channels=(8, 8, 8), out_shape=(1, 32, 32))(torch.randn(2, 30), torch.tensor([1, 2])).shape == (2, 1, 32, 32)


def test_conditional_samples_cycle_through_the_classes():
    x, y = conditional_samples(build_cgan((1, 28, 28), channels=[8, 4]), 25, seed=0)
    assert x.shape == (25, 1, 28, 28) and torch.bincount(y).tolist() == [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]


def test_classification_accuracy_score_needs_the_right_labels():
    "Real digits with their labels teach a classifier; the same digits with shuffled labels teach it nothing."
    x, y, _, _ = load_images('mnist5k')
    x, y = x[:1000], y[:1000]
    assert classification_accuracy_score(x, y, epochs=3) > 0.8
    assert classification_accuracy_score(x, y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))], epochs=3) < 0.3


def test_train_cgan_writes_run(cgan_run):
    assert {p.name for p in cgan_run.iterdir()} == {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'samples.png'}
    config, m = (json.loads((cgan_run/f).read_text()) for f in ('config.json', 'metrics.json'))
    assert config['kind'] == 'gan' and {k: config['options'][k] for k in ('noise_size', 'channels')} == {'noise_size': 30, 'channels': [16, 8]}
    assert len(m['history']) == 2 and 0 <= m['acc_real'] <= 1 and 0 <= m['acc_fake'] <= 1
    model, _ = load_run(cgan_run)
    assert model.n_classes == 10


def test_sample_and_evaluate_cgan_run(cgan_run, tmp_path):
    "Without --label the samples cycle through the classes; `evaluate` scores them like any generative run's."
    assert main(['sample', str(cgan_run), '--n', '20', '--out', str(tmp_path/'x.npy')]) == 0
    x = np.load(tmp_path/'x.npy')
    model, _ = load_run(cgan_run)
    assert x.shape == (20, 1, 28, 28) and np.allclose(x, model.sample(20, seed=0).numpy())
    assert main(['evaluate', str(cgan_run), '--n', '300']) == 0
    assert json.loads((cgan_run/'eval.json').read_text())['n'] == 300


def test_cgan_on_the_8x8_digits(tmp_path):
    assert main(['train', 'cgan', '--dataset', 'digits', '--epochs', '1', '--channels', '8,4', '--out', str(tmp_path/'d')]) == 0
    assert main(['sample', str(tmp_path/'d'), '--n', '4', '--out', str(tmp_path/'d.npy')]) == 0
    assert np.load(tmp_path/'d.npy').shape == (4, 1, 8, 8)


def test_cgan_channels_that_do_not_fit_are_refused(tmp_path, capsys):
    assert main(['train', 'cgan', '--epochs', '1', '--channels', '8,8,8', '--out', str(tmp_path/'r')]) == 2
    assert 'divisible by 8' in capsys.readouterr().err
    assert not (tmp_path/'r').exists()


def test_sample_label_draws_the_requested_class(cgan_run, tmp_path):
    "`genlearn sample RUN --label 3` draws only 3s: the same images as `model.sample(n, seed, label=3)`, not those of label 4."
    for label in (3, 4):
        assert main(['sample', str(cgan_run), '--n', '8', '--label', str(label), '--out', str(tmp_path/f'{label}.npy')]) == 0
    threes, fours = np.load(tmp_path/'3.npy'), np.load(tmp_path/'4.npy')
    model, _ = load_run(cgan_run)
    assert threes.shape == (8, 1, 28, 28) and np.allclose(threes, model.sample(8, seed=0, label=3).numpy())
    assert not np.allclose(threes, fours)
    assert main(['sample', str(cgan_run), '--n', '8', '--label', '3', '--out', str(tmp_path/'3.png')]) == 0


def test_sample_label_out_of_range_is_refused(cgan_run, tmp_path, capsys):
    assert main(['sample', str(cgan_run), '--label', '10', '--out', str(tmp_path/'x.npy')]) == 2
    assert 'label must be a class from 0 to 9' in capsys.readouterr().err
    assert not (tmp_path/'x.npy').exists()


def test_sample_label_is_refused_for_models_that_are_not_conditional(gan_run, tmp_path, capsys):
    assert main(['sample', str(gan_run), '--label', '3', '--out', str(tmp_path/'x.npy')]) == 2
    err = capsys.readouterr().err
    assert 'not conditional' in err and 'cgan' in err
    assert not (tmp_path/'x.npy').exists()
