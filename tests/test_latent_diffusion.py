"`genlearn train latent-diffusion` end to end: a run that samples by class with guidance, is evaluated, and needs no VAE run afterwards; bad inputs."
import json, shutil

import numpy as np
import pytest
import torch

from cli_runner import exit_status
from genlearn.cli import load_run, main




@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "A tiny VAE run on the 8×8 digits and a latent-diffusion run on its codes, in a directory of their own."
    root = tmp_path_factory.mktemp('runs')
    assert main(['train', 'vae', '--dataset', 'digits', '--epochs', '2', '--hidden', '32', '--codings', '4', '--out', str(root/'vae')]) == 0
    assert main(['train', 'latent-diffusion', '--vae', str(root/'vae'), '--dataset', 'digits', '--epochs', '1', '--width', '16',
                 '--blocks', '1', '--timesteps', '50', '--out', str(root/'latent')]) == 0
    return root


def test_the_run_records_the_vae_and_samples_by_class_with_guidance(runs, tmp_path):
    config, m = (json.loads((runs/'latent'/f).read_text()) for f in ('config.json', 'metrics.json'))
    assert config['kind'] == 'latent-diffusion'
    assert config['options']['vae'] == dict(run=str(runs/'vae'), model='vae', options=dict(codings=4, beta=1.0, hidden=[32]), in_shape=[1, 8, 8])
    assert len(m['history']) == 1 and 0 < m['valid_loss'] < 2 and m['scale'] > 0 and m['vae_seconds'] > 0
    assert (runs/'latent'/'samples.png').exists() and (runs/'latent'/'loss.png').exists()
    model, _ = load_run(runs/'latent')
    assert model.schedule.steps == 50 and model.n_classes == 10 and model.in_shape == (4, 1, 1)
    for extra in [[], ['--label', '7'], ['--guidance', '0'], ['--label', '3', '--guidance', '2.5', '--sampler', 'ddim', '--steps', '5', '--eta', '1']]:
        out = tmp_path/'x.npy'
        assert main(['sample', str(runs/'latent'), '--n', '6', '--seed', '3', '--out', str(out), *extra]) == 0
        x = np.load(out)
        assert x.shape == (6, 1, 8, 8) and x.min() >= 0 and x.max() <= 1
    kwargs = dict(label=3, guidance=2.5, sampler='ddim', steps=5, eta=1.0)
    assert np.allclose(x, model.sample(6, seed=3, **kwargs).numpy(), atol=1e-6)  # the CLI passes the options through
    assert not np.allclose(x, model.sample(6, seed=3, **{**kwargs, 'label': 4}).numpy(), atol=1e-3)  # the label matters
    assert main(['evaluate', str(runs/'latent'), '--n', '200']) == 0
    assert json.loads((runs/'latent'/'eval.json').read_text())['fid'] > 0


def test_the_run_samples_after_the_vae_run_is_deleted(runs, tmp_path):
    latent = tmp_path/'latent'
    shutil.copytree(runs/'latent', latent)
    vae_copy = tmp_path/'vae'
    shutil.copytree(runs/'vae', vae_copy)
    config = json.loads((latent/'config.json').read_text())
    config['options']['vae']['run'] = str(vae_copy)
    (latent/'config.json').write_text(json.dumps(config))
    before = load_run(latent)[0].sample(5, seed=1, label=2, sampler='ddim', steps=5)
    shutil.rmtree(vae_copy)
    model, _ = load_run(latent)
    assert torch.equal(model.sample(5, seed=1, label=2, sampler='ddim', steps=5), before)
    assert main(['sample', str(latent), '--n', '4', '--label', '2', '--out', str(tmp_path/'x.png')]) == 0


@pytest.mark.parametrize('args,reason', [
    (['--label', '10'], '--label must be a class from 0 to 9, got 10'),
    (['--guidance', '-1'], 'argument --guidance: must be zero or positive, got -1'),
    (['--guidance', 'nan'], 'argument --guidance: must be a finite number'),
    (['--eta', '0.5'], 'eta belongs to the ddim sampler'),
    (['--steps', '51'], 'steps must be a whole number from 1 to the 50 training steps'),
    (['--clip'], 'runs of latent-diffusion take no --clip'),
])
def test_sample_refuses_bad_options(runs, tmp_path, capsys, args, reason):
    assert exit_status(['sample', str(runs/'latent'), '--out', str(tmp_path/'x.npy'), *args]) == 2
    err = capsys.readouterr().err
    assert reason in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path/'x.npy').exists()


def test_guidance_is_refused_for_runs_of_other_models(runs, tmp_path, capsys):
    assert exit_status(['sample', str(runs/'vae'), '--guidance', '2', '--out', str(tmp_path/'x.npy')]) == 2
    assert 'runs of vae take no --guidance; drop --guidance' in capsys.readouterr().err


@pytest.mark.parametrize('vae,reason', [
    (None, 'latent-diffusion needs a trained VAE: train one with `genlearn train vae --out runs/vae`, then pass --vae runs/vae'),
    ('missing', 'argument --vae: '),
    ('latent', 'holds a latent-diffusion run, not a VAE'),
    ('empty', 'no VAE run at '),
])
def test_train_refuses_a_missing_or_wrong_vae_run(runs, tmp_path, capsys, vae, reason):
    (runs/'empty').mkdir(exist_ok=True)
    given = [] if vae is None else ['--vae', str(runs/vae)]
    assert exit_status(['train', 'latent-diffusion', '--dataset', 'digits', '--epochs', '1', '--out', str(tmp_path/'r'), *given]) == 2
    err = capsys.readouterr().err
    assert reason in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path/'r').exists()


def test_train_refuses_a_vae_of_other_images(runs, tmp_path, capsys):
    assert exit_status(['train', 'latent-diffusion', '--vae', str(runs/'vae'), '--dataset', 'mnist5k', '--epochs', '1',
                   '--out', str(tmp_path/'r')]) == 2
    err = capsys.readouterr().err
    assert 'takes 1×8×8 images, but these are 1×28×28' in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path/'r').exists()
