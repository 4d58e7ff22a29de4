"`genlearn` end to end on mnist5k, as a user runs it: a subprocess per command."
import json, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genlearn import _cli_index
from genlearn.cli import load_run
from genlearn.data import load_images
from genlearn.learner import reconstruct
from cli_runner import genlearn


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp('runs')/'stacked'
    r = genlearn('train', 'stacked-ae', '--epochs', 1, '--out', out)
    assert r.returncode == 0, r.stderr
    return out, r


def test_train_writes_run_directory(run):
    out, r = run
    assert {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'reconstructions.png'} <= {p.name for p in out.iterdir()}
    m = json.loads((out/'metrics.json').read_text())
    for k in ['model', 'dataset', 'epochs', 'seconds', 'train_loss', 'valid_loss']: assert k in m
    assert m['model'] == 'stacked-ae' and m['dataset'] == 'mnist5k' and m['epochs'] == 1
    assert 0 < m['valid_loss'] < 0.2
    for png in ['loss.png', 'reconstructions.png']: assert (out/png).read_bytes()[:4] == b'\x89PNG'
    assert 'valid loss' in r.stdout


def test_reconstruct_and_weights_round_trip(run, tmp_path):
    out, _ = run
    r = genlearn('reconstruct', out, '--out', tmp_path/'rec.npy')
    assert r.returncode == 0, r.stderr
    rec = np.load(tmp_path/'rec.npy')
    _, _, x_valid, _ = load_images('mnist5k')
    assert rec.shape == tuple(x_valid.shape)
    model, config = load_run(out)
    np.testing.assert_allclose(rec, reconstruct(model, x_valid).numpy(), atol=1e-6)
    # the saved weights are a plain state dict that loads with weights_only=True
    sd = torch.load(out/'model.pt', weights_only=True)
    assert set(sd) == set(model.state_dict())


def test_encode(run, tmp_path):
    out, _ = run
    r = genlearn('encode', out, '--split', 'train', '--out', tmp_path/'z.npy')
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path/'z.npy').shape == (4000, 30)


def test_checkpoint_mismatch_gives_diff(run, tmp_path):
    out, _ = run
    bad = tmp_path/'bad'
    bad.mkdir()
    (bad/'model.pt').write_bytes((out/'model.pt').read_bytes())
    cfg = json.loads((out/'config.json').read_text())
    cfg['options']['codings'] = 20
    (bad/'config.json').write_text(json.dumps(cfg))
    r = genlearn('encode', bad, '--out', tmp_path/'z.npy')
    assert r.returncode == 2
    assert 'does not fit' in r.stderr and 'checkpoint (30, 100), model (20, 100)' in r.stderr
    assert 'Traceback' not in r.stderr


@pytest.mark.parametrize('args, reason', [
    (['train', 'no-such-model'], "invalid choice: 'no-such-model'"),
    (['train', 'stacked-ae', '--dataset', 'cifar10'], "unknown dataset 'cifar10'"),
    (['train', 'stacked-ae', '--epochs', '0'], 'must be positive'),
    (['train', 'stacked-ae', '--lr', '-0.001'], 'positive finite number'),
    (['train', 'stacked-ae', '--bs', 'many'], 'must be a whole number'),
    (['train', 'linear-ae', '--hidden', '50'], "model 'linear-ae' has no option --hidden; its own options: --codings"),
    (['reconstruct', '.', '--out', 'x.npy'], 'not a genlearn run directory'),
])
def test_bad_requests_exit_nonzero_with_one_line(tmp_path, args, reason):
    r = genlearn(*args, cwd=tmp_path)
    assert r.returncode == 2
    assert reason in r.stderr
    assert 'Traceback' not in r.stderr
    assert len([l for l in r.stderr.splitlines() if 'error' in l]) == 1


def test_unwritable_out(tmp_path):
    (tmp_path/'afile').write_text('x')
    r = genlearn('train', 'stacked-ae', '--epochs', 1, '--out', tmp_path/'afile'/'run')
    assert r.returncode == 2 and 'cannot write to output directory' in r.stderr


def test_datasets_lists_availability():
    r = genlearn('datasets')
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert any(l.startswith('mnist5k') and 'embedded' in l and '5000' in l for l in lines)
    assert any(l.startswith('fashion_mnist') for l in lines)


def test_train_help_lists_models_with_descriptions():
    r = genlearn('train', '--help')
    assert r.returncode == 0
    for name in ('stacked-ae', 'conv-ae', 'vae'): assert name in r.stdout
    assert 'stacked autoencoder' in r.stdout and '--codings' not in r.stdout  # model options live on the model's own page


@pytest.mark.parametrize('model,own,absent', [
    ('stacked-ae', ['--codings CODINGS', 'size of the coding layer, ≥ 1 (default 30)', '(default 100)'], '--decoder'),
    ('conv-ae', ['--decoder {transpose,upsample}', '(default 16,32)'], '--hidden'),
    ('sparse-ae', ['--sparsity {l1,kl}', 'in (0, 1) (default 0.1)'], '--channels'),
    ('vae', ['--beta BETA', '(default 512)'], '--channels')])
def test_model_help_shows_common_and_own_options(model, own, absent):
    r = genlearn('train', model, '--help')
    assert r.returncode == 0
    text = ' '.join(r.stdout.split())  # argparse wraps lines at the terminal width
    assert 'options of every model' in text and '--epochs EPOCHS' in text and f'options of {model}' in text
    for s in own: assert s in text, (s, text)
    assert absent not in text


HEAVY = ('torch', 'fastai', 'sklearn', 'numpy', 'matplotlib')


def imported_by(*argv):
    "Run `genlearn ARGV` in a fresh interpreter; return (its stdout, the modules it imported)."
    code = ("import sys\nfrom genlearn.cli import main\ntry: main(sys.argv[1:])\nexcept SystemExit: pass\n"
            "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)")
    r = subprocess.run([sys.executable, '-c', code, *argv], capture_output=True, text=True, timeout=300)
    return r.stdout, set(r.stderr.split())


@pytest.mark.parametrize('argv', [['--help'], ['datasets'], ['train', '--help']])
def test_light_commands_do_not_import_heavy_libraries(argv):
    out, modules = imported_by(*argv)
    assert out, 'the command printed nothing'
    assert not [m for m in modules if m.split('.')[0] in HEAVY], sorted(m for m in modules if m.split('.')[0] in HEAVY)[:5]


def test_model_help_imports_only_that_models_modules():
    out, modules = imported_by('train', 'stacked-ae', '--help')
    assert '--codings' in out and 'genlearn.stacked' in modules
    assert not {'genlearn.gan', 'genlearn.vae', 'genlearn.metrics', 'genlearn.conv'} & modules
    # a model that another module extends brings that module: the GAN remedies are options of `gan`
    out, modules = imported_by('train', 'gan', '--help')
    assert '--replay' in out and {'genlearn.gan', 'genlearn.remedies'} <= modules and 'genlearn.vae' not in modules


def test_cli_index_is_up_to_date():
    from genlearn.cli import INDEX_COMMAND
    r = subprocess.run([sys.executable, '-c', 'from genlearn.cli import cli_index_source; print(cli_index_source(), end="")'],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    committed = Path(_cli_index.__file__).read_text()
    assert r.stdout == committed, f'genlearn/_cli_index.py is out of date with the registries; regenerate it with: {INDEX_COMMAND}'
