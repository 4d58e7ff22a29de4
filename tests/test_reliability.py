"""Hostile inputs and faults (issue 9): every bad request gets one clear line and a non-zero exit, and no command
loses or mixes up a good file. Each case is a row of a table: add a case by adding a row."""
import errno, json, os, shutil, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest
import torch

from genlearn.cli import main, write_json
from genlearn.core import as_images
from genlearn.data import load_images, REMOTE
from genlearn.learner import build_model
from genlearn.metrics import evaluate, kid, precision, recall
from cli_runner import GENLEARN

TRAIN_DIGITS = ['train', 'stacked-ae', '--dataset', 'digits', '--epochs', '1']


def snapshot(run: Path) -> dict:
    "Every file of a directory, name → bytes."
    return {p.name: p.read_bytes() for p in sorted(run.iterdir())}


def leftovers(run: Path) -> list:
    "Anything beside `run` that a write of it left behind (staging directories, .part files)."
    return sorted(p.name for p in run.parent.iterdir() if p.name.startswith(f'.{run.name}.'))


@pytest.fixture(scope='module')
def good_run(tmp_path_factory):
    run = tmp_path_factory.mktemp('good')/'run'
    assert main([*TRAIN_DIGITS, '--codings', '12', '--out', str(run)]) == 0
    return run


@pytest.fixture
def run(good_run, tmp_path):
    "A private copy of a good run, to be attacked."
    dest = tmp_path/'run'
    shutil.copytree(good_run, dest)
    return dest


def status_and_error(argv, capsys):
    "`main`'s exit status (argparse's own exits included) and what it printed on stderr."
    try: status = main([str(a) for a in argv])
    except SystemExit as e: status = e.code
    return status, capsys.readouterr().err


# --- bad requests: (arguments, expected status, phrase the one-line message must contain) ----------------------
# RUN stands for a private copy of a good stacked-ae run on the 8×8 digits.
BAD_REQUESTS = [
    ([*TRAIN_DIGITS, '--bs', '100000', '--out', 'RUN'], 2, 'is more than the 1437 training images of digits'),
    (['train', 'vae', '--beta', '-1', '--out', 'RUN'], 2, 'must be a positive finite number, got -1'),
    (['train', 'vae', '--beta', 'nan', '--out', 'RUN'], 2, 'must be a finite number, got nan'),
    ([*TRAIN_DIGITS, '--hidden', '10000000000', '--out', 'RUN'], 2, 'hidden=[10000000000] needs more memory'),
    (['train', 'stacked-ae', '--out', 'RUN/model.pt'], 2, 'is a file; give a directory'),
    (['evaluate', 'RUN', '--n', '200', '--out', 'RUN/model.pt'], 2, '--out must name a .json file'),
    (['evaluate', 'RUN', '--n', '200', '--out', 'RUN/config.json'], 2, 'would overwrite a file of the run directory'),
    (['evaluate', '--images', 'RUN/x.npy', '--out', 'RUN/x.npy'], 2, '--out must name a .json file'),
]


@pytest.mark.parametrize('argv,status,phrase', BAD_REQUESTS, ids=[' '.join(r[0][:4]) + f' [{i}]' for i, r in enumerate(BAD_REQUESTS)])
def test_bad_request(run, capsys, argv, status, phrase):
    np.save(run/'x.npy', np.zeros((200, 1, 8, 8), np.float32))
    before = snapshot(run)
    got, err = status_and_error([a.replace('RUN', str(run)) for a in argv], capsys)
    assert got == status, err
    assert phrase in err, err
    assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err, err
    assert snapshot(run) == before and not leftovers(run)


# --- damaged run directories: (how to damage RUN, command, phrase) --------------------------------------------
def _config(run, change):
    cfg = json.loads((run/'config.json').read_text())
    (run/'config.json').write_text(json.dumps(change(cfg)))


DAMAGE = [
    (lambda run: (run/'config.json').write_text('[]'), 'holds a JSON list, not an object'),
    (lambda run: _config(run, lambda c: {k: v for k, v in c.items() if k != 'options'}), "'options' is missing"),
    (lambda run: _config(run, lambda c: {**c, 'kind': 'vae'}), "says kind 'vae', but stacked-ae is a model of kind 'autoencoder'"),
    (lambda run: (run/'model.pt').write_bytes(os.urandom(2000)), 'is not a genlearn weights file'),
    (lambda run: torch.save({'x': torch.zeros(1), 'f': print}, run/'model.pt'), 'is not a genlearn weights file'),
    (lambda run: torch.save({k: v * float('nan') for k, v in torch.load(run/'model.pt').items()}, run/'model.pt'),
     'holds NaN or infinite weights'),
]


@pytest.mark.parametrize('damage,phrase', DAMAGE, ids=range(len(DAMAGE)))
def test_damaged_run(run, tmp_path, capsys, damage, phrase):
    damage(run)
    got, err = status_and_error(['reconstruct', run, '--out', tmp_path/'r.npy'], capsys)
    assert got == 2 and phrase in err, err
    assert len(err.strip().splitlines()) == 1 and 'weights_only=False' not in err, err
    assert not (tmp_path/'r.npy').exists()


# --- library calls: (call, phrase of the ValueError) ---------------------------------------------------------------
rng = np.random.default_rng(0)
LIBRARY = [
    (lambda: load_images(['mnist5k']), 'unknown dataset'),
    (lambda: load_images('mnist5k', valid_pct='0.2'), 'valid_pct must be a number'),
    (lambda: evaluate(torch.rand(300, 1, 28, 28), n=-5), 'n must be a positive whole number'),
    (lambda: evaluate(torch.rand(300, 1, 28, 28), n=2.5), 'n must be a positive whole number'),
    (lambda: kid(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)), n_subsets=0), 'n_subsets must be'),
    (lambda: precision(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)), k=0), 'k must be a positive'),
    (lambda: recall(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)), k=0), 'k must be a positive'),
    (lambda: as_images(torch.zeros(0, 1, 8, 8), pixel_range='bogus'), 'pixel_range must be one of'),
    (lambda: build_model('stacked-ae', (1, 8, 8), codings=-3), 'codings: must be positive'),
    (lambda: build_model('vae', (1, 8, 8), beta=-1.0), 'beta: must be a positive finite number'),
    (lambda: build_model('vae', (1, 8, 8)).sample(2, z=torch.full((2, 10), float('nan'))), 'NaN or Inf'),
    (lambda: build_model('vae', (1, 8, 8)).sample(30_000_000_000), 'GB of memory, more than this machine has'),
]


@pytest.mark.parametrize('call,phrase', LIBRARY, ids=range(len(LIBRARY)))
def test_library_refuses(call, phrase):
    with pytest.raises(ValueError, match=None) as e: call()
    assert phrase in str(e.value), str(e.value)


# --- a run directory is written as one unit ------------------------------------------------------------------------
RUN_FILES = 5  # loss.png, reconstructions.png, model.pt, config.json, metrics.json: each one os.replace into the staging dir


@pytest.mark.parametrize('fail_at', range(1, RUN_FILES + 1))
def test_failure_between_writes_leaves_old_run(run, capsys, monkeypatch, fail_at):
    before, calls, real_replace = snapshot(run), [], os.replace
    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == fail_at: raise OSError(errno.ENOSPC, 'No space left on device', str(dst))
        return real_replace(src, dst)
    monkeypatch.setattr(os, 'replace', flaky_replace)
    got, err = status_and_error([*TRAIN_DIGITS, '--codings', '5', '--out', run], capsys)
    assert got == 2 and 'the disk is full' in err and 'nothing was changed' in err, err
    assert len(calls) == fail_at
    assert snapshot(run) == before and not leftovers(run)


def test_all_writes_counted(run, capsys, monkeypatch):
    "The failure-injection test above covers every write: a successful run makes exactly RUN_FILES of them."
    calls, real_replace = [], os.replace
    monkeypatch.setattr(os, 'replace', lambda s, d: calls.append(d) or real_replace(s, d))
    assert main([*TRAIN_DIGITS, '--codings', '5', '--out', str(run)]) == 0
    assert len(calls) == RUN_FILES


def test_new_run_replaces_old_files(run, capsys):
    "Files of an earlier run (a VAE's samples, an evaluation) do not survive a new run in the same directory."
    (run/'samples.png').write_bytes(b'old'); (run/'eval.json').write_text('{}')
    assert main([*TRAIN_DIGITS, '--out', str(run)]) == 0
    assert {p.name for p in run.iterdir()} == {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'reconstructions.png'}
    assert not leftovers(run)


def test_out_must_not_be_a_folder_of_other_files(tmp_path, capsys):
    (tmp_path/'notes.txt').write_text('mine')
    got, err = status_and_error([*TRAIN_DIGITS, '--out', tmp_path], capsys)
    assert got == 2 and 'not a genlearn run' in err
    assert (tmp_path/'notes.txt').read_text() == 'mine'


def _start_training(run):
    env = {**os.environ, 'MPLBACKEND': 'Agg'}
    # SIGINT back to its default in the child: a test run started in the background (`cmd &`) hands its children an
    # ignored SIGINT, and Python then installs no KeyboardInterrupt handler
    return subprocess.Popen([GENLEARN, *TRAIN_DIGITS[:-1], '1000', '--codings', '5', '--out', str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_until_training(proc, run, timeout=60):
    "Wait until the process has started writing its staging directory's neighbour, i.e. is inside training."
    start = time.time()
    while time.time() - start < timeout and proc.poll() is None:
        if leftovers(run): return time.sleep(1)
        time.sleep(0.2)
    raise AssertionError('training did not start')


@pytest.mark.parametrize('sig,status,phrase', [(signal.SIGKILL, -signal.SIGKILL, None), (signal.SIGINT, 130, 'interrupted; nothing was changed')])
def test_killed_training_leaves_old_run(run, sig, status, phrase):
    before = snapshot(run)
    proc = _start_training(run)
    _wait_until_training(proc, run)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    if phrase: assert err.strip().splitlines() == [f'genlearn train: {phrase}.'] and not leftovers(run), err
    assert snapshot(run) == before


# --- accepted nonsense is now flagged -------------------------------------------------------------------------------
def test_huge_learning_rate_is_flagged(run, capsys):
    got = main([*TRAIN_DIGITS, '--lr', '1e6', '--out', str(run)])
    out = capsys.readouterr()
    if got == 2: assert 'loss became NaN' in out.err  # diverged outright: refused, nothing written
    else:
        m = json.loads((run/'metrics.json').read_text())
        assert m['worse_than_baseline'] and 'no better than always answering the mean training image' in out.out


def test_metrics_json_is_strict(tmp_path):
    write_json(dict(a=float('nan'), b=[float('-inf'), 1.0]), tmp_path/'m.json')
    assert json.loads((tmp_path/'m.json').read_text(), parse_constant=lambda c: pytest.fail(f'non-strict JSON: {c}')) == \
        dict(a=None, b=[None, 1.0])


def test_damaged_cache_is_not_reported_as_cached(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('GENLEARN_DATA', str(tmp_path))
    (tmp_path/'mnist').mkdir()
    for f in REMOTE['mnist']['files']: (tmp_path/'mnist'/f).write_bytes(b'truncated')
    assert main(['datasets']) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith('mnist '))
    assert 'cache damaged' in line and 'cached ' not in line


@pytest.fixture(scope='module')
def vae_run(tmp_path_factory):
    run = tmp_path_factory.mktemp('vae')/'run'
    assert main(['train', 'vae', '--dataset', 'digits', '--epochs', '1', '--hidden', '32', '--out', str(run)]) == 0
    return run


def test_vae_run_records_its_baseline(vae_run):
    "The baseline is the mean image as independent Bernoulli pixels; one epoch of a tiny VAE on the 8×8 digits does not beat it yet."
    m = json.loads((vae_run/'metrics.json').read_text())
    assert 0 < m['baseline_valid_loss'] < 100 and m['worse_than_baseline'] == (m['valid_nelbo'] >= m['baseline_valid_loss'])


def test_sample_too_many_is_refused(vae_run, tmp_path, capsys):
    got, err = status_and_error(['sample', vae_run, '--n', '30000000000', '--out', tmp_path/'x.npy'], capsys)
    assert got == 2 and 'GB of memory, more than this machine has' in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path/'x.npy').exists()


def test_same_seed_gives_identical_runs(tmp_path):
    for name in ('a', 'b'): assert main([*TRAIN_DIGITS, '--epochs', '2', '--out', str(tmp_path/name)]) == 0
    assert (tmp_path/'a'/'model.pt').read_bytes() == (tmp_path/'b'/'model.pt').read_bytes()
    ma, mb = (json.loads((tmp_path/n/'metrics.json').read_text()) for n in 'ab')
    assert ma['history'] == mb['history']
