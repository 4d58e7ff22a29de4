"""Data-parallel training through `accelerate launch ... -m genlearn train`: two CPU processes joined over gloo must end
with identical weights although each saw a different half of every batch, which only synchronised gradients explain."""
import json, os, socket, subprocess, sys

import pytest
import torch

pytest.importorskip('accelerate')

# Run `python -m genlearn` in each process after two test-only hooks: every rank saves the weights `train_run` saves
# (rank 0 into the run directory, the others into a scratch directory that is deleted) to RANK.pt as well, and notes the
# wrapping of its model and the clean images of its training batches.
PROBE = '''
import json, os, runpy, sys, torch
import genlearn.learner
from fastai.callback.core import Callback
from fastai.learner import Learner

probe, rank = sys.argv.pop(1), os.environ['RANK']
save_weights = genlearn.learner.save_weights
def save_both(model, path):
    torch.save(model.state_dict(), f'{probe}/{rank}.pt')
    save_weights(model, path)
genlearn.learner.save_weights = save_both

class Batches(Callback):
    order = -10  # before the noise is added
    def before_fit(self): self.sums, self.wrapped = [], []
    def before_batch(self):
        if self.training: self.sums.append(float(self.xb[0].double().sum())); self.wrapped.append(type(self.learn.model).__name__)
    def after_fit(self): json.dump(dict(sums=self.sums, wrapped=sorted(set(self.wrapped))), open(f'{probe}/{rank}.json', 'w'))
fit = Learner.fit
def fit_probed(self, *args, **kwargs):
    self.add_cb(Batches())
    return fit(self, *args, **kwargs)
Learner.fit = fit_probed
runpy.run_module('genlearn', run_name='__main__')
'''


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def launched(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ddp')
    (tmp/'probe.py').write_text(PROBE)
    (tmp/'ranks').mkdir()
    # `--multi_gpu` is what makes accelerate start several processes (torchrun); with no GPU, genlearn's fit asks
    # accelerate for the CPU and the processes join over gloo. (`--cpu --num_processes 2` would start one process:
    # accelerate leaves several CPU processes to mpirun.)
    cmd = [sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
           '--mixed_precision', 'no', '--dynamo_backend', 'no', '--main_process_port', str(free_port()),
           str(tmp/'probe.py'), str(tmp/'ranks'), 'train', 'ddpm', '--dataset', 'digits', '--epochs', '1',
           '--channels', '8,16', '--mid-blocks', '1', '--out', str(tmp/'runs'/'ddpm')]
    env = {**os.environ, 'MPLBACKEND': 'Agg', 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': ''}
    env.pop('IN_TEST', None)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp, r


def test_ranks_end_with_identical_weights(launched):
    tmp, _ = launched
    w0, w1 = (torch.load(tmp/'ranks'/f'{rank}.pt') for rank in '01')
    assert w0.keys() == w1.keys()
    different = [k for k in w0 if not torch.equal(w0[k], w1[k])]
    assert not different, f'the ranks disagree on {different}'
    written = torch.load(tmp/'runs'/'ddpm'/'model.pt')
    assert all(torch.equal(written[k], w0[k]) for k in w0)


def test_each_rank_trained_ddp_on_its_own_half(launched):
    tmp, _ = launched
    b0, b1 = (json.loads((tmp/'ranks'/f'{rank}.json').read_text()) for rank in '01')
    assert b0['wrapped'] == b1['wrapped'] == ['DistributedDataParallel']
    n_train = 1437  # 80% of the 1,797 digits; training batches of 64, the last incomplete one dropped
    assert len(b0['sums']) == len(b1['sums']) == n_train // 64 // 2
    assert all(abs(s0 - s1) > 1e-6 for s0, s1 in zip(b0['sums'], b1['sums'])), 'the ranks were given the same images'


def test_only_rank_0_writes_and_prints(launched):
    tmp, r = launched
    assert {'model.pt', 'config.json', 'metrics.json', 'loss.png', 'samples.png'} <= {p.name for p in (tmp/'runs'/'ddpm').iterdir()}
    assert [p.name for p in (tmp/'runs').iterdir()] == ['ddpm']  # no staging directory of another rank left behind
    assert r.stdout.count('ddpm on digits: valid loss') == 1
