"The GAN family end to end: `genlearn train gan`, then `sample` and `evaluate` on its run, as a user runs them."
import json

import numpy as np
import pytest

from genlearn.cli import main


@pytest.fixture(scope='module')
def gan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp('gan')/'run'
    assert main(['train', 'gan', '--epochs', '2', '--hidden', '64,128', '--out', str(run)]) == 0
    return run


def test_train_gan_writes_run(gan_run):
    assert {p.name for p in gan_run.iterdir()} == {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'samples.png'}
    config, m = (json.loads((gan_run/f).read_text()) for f in ('config.json', 'metrics.json'))
    assert config['kind'] == 'gan' and config['options'] == {'noise_size': 30, 'hidden': [64, 128]}
    assert len(m['history']) == 2 and 0 <= m['acc_real'] <= 1 and 0 <= m['acc_fake'] <= 1 and m['gen_loss'] > 0


def test_sample_and_evaluate_gan_run(gan_run, tmp_path, capsys):
    assert main(['sample', str(gan_run), '--n', '16', '--out', str(tmp_path/'x.npy')]) == 0
    x = np.load(tmp_path/'x.npy')
    assert x.shape == (16, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert main(['evaluate', str(gan_run), '--n', '300']) == 0
    assert json.loads((gan_run/'eval.json').read_text())['n'] == 300


def test_same_seed_same_gan(tmp_path):
    for name in 'ab': assert main(['train', 'gan', '--dataset', 'digits', '--epochs', '1', '--out', str(tmp_path/name)]) == 0
    assert (tmp_path/'a'/'model.pt').read_bytes() == (tmp_path/'b'/'model.pt').read_bytes()
