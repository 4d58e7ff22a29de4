"The GAN remedies (lesson 33) as a user meets them: options of every GAN model on the command line, checked, saved and rebuilt."
import json

import numpy as np
import pytest
import torch

from cli_runner import exit_status
from genlearn.cli import main, load_run
from genlearn.learner import get_model_spec
from genlearn.remedies import ExperienceReplay, MinibatchStdDev, MinibatchDiscrimination, REMEDY_OPTIONS


@pytest.fixture(scope='module')
def remedied_run(tmp_path_factory):
    run = tmp_path_factory.mktemp('remedies')/'run'
    args = ['train', 'gan', '--epochs', '1', '--hidden', '32,64', '--replay', '128', '--minibatch-disc', '--minibatch-std',
            '--feature-matching', '--label-smoothing', '0.9', '--spectral-norm', '--historical-avg', '0.001', '--out', str(run)]
    assert main(args) == 0
    return run


@pytest.mark.parametrize('model', ['gan', 'dcgan', 'cgan'])
def test_every_gan_model_has_every_remedy(model):
    assert set(REMEDY_OPTIONS) <= set(get_model_spec(model).options)


def test_remedies_are_saved_and_rebuilt(remedied_run, tmp_path):
    config = json.loads((remedied_run/'config.json').read_text())
    assert config['options'] == {'noise_size': 30, 'hidden': [32, 64], 'replay': 128, 'minibatch_disc': True, 'minibatch_std': True,
                                 'feature_matching': True, 'label_smoothing': 0.9, 'spectral_norm': True, 'historical_avg': 0.001}
    model, _ = load_run(remedied_run)  # the critic's extra layers are rebuilt, so the weights load
    kinds = {type(m) for m in model.critic.modules()}
    assert MinibatchDiscrimination in kinds and MinibatchStdDev in kinds
    assert all(hasattr(m, 'parametrizations') for m in model.critic.modules() if isinstance(m, torch.nn.Linear))
    assert main(['sample', str(remedied_run), '--n', '8', '--out', str(tmp_path/'x.npy')]) == 0
    assert np.load(tmp_path/'x.npy').shape == (8, 1, 28, 28)


def test_flags_are_off_unless_given(tmp_path):
    assert main(['train', 'gan', '--dataset', 'digits', '--epochs', '1', '--out', str(tmp_path/'plain')]) == 0
    options = json.loads((tmp_path/'plain'/'config.json').read_text())['options']
    assert options['minibatch_disc'] is False and options['replay'] == 0 and options['label_smoothing'] == 1.0




@pytest.mark.parametrize('args, message', [
    (['--replay', '-3'], 'must be zero or positive'),
    (['--label-smoothing', '1.2'], 'must be in (0.5, 1]'),
    (['--label-smoothing', '0.3'], 'must be in (0.5, 1]'),
    (['--historical-avg', 'nan'], 'finite number'),
    (['--spectral-norm', 'yes'], "has no option yes"),
])
def test_bad_remedy_values_are_refused(args, message, tmp_path, capsys):
    assert exit_status(['train', 'gan', '--epochs', '1', *args, '--out', str(tmp_path/'run')]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path/'run').exists()


def test_replay_pool_works_with_a_conditional_gan():
    "A conditional GAN's fakes are swapped together with their labels."
    replay = ExperienceReplay(size=4, p=1.)
    for i in range(3):
        fakes, labels = replay.mix(torch.full((4, 1, 2, 2), float(i)), torch.full((4,), i))
        assert (fakes[:, 0, 0, 0].long() == labels).all()
