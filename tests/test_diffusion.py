"genlearn.diffusion against diffusers' schedulers (the reference numbers; skipped without diffusers), and `genlearn train ddpm`."
import json

import numpy as np
import pytest
import torch

from cli_runner import exit_status
from genlearn.cli import load_run, main
from genlearn.diffusion import NoiseSchedule, sampling_steps, ddpm_step, ddim_step




@pytest.fixture(scope='module')
def diffusers():
    return pytest.importorskip('diffusers')

SCHEDULES = [('linear', 'linear'), ('cosine', 'squaredcos_cap_v2')]  # ours, diffusers' name
TOL = 1e-5


def reference(cls, name, steps, n, clip):
    "A diffusers scheduler on our schedule, with 'trailing' spacing (its default 'leading' never visits t = T − 1)."
    s = cls(num_train_timesteps=steps, beta_schedule=name, clip_sample=clip, timestep_spacing='trailing')
    s.set_timesteps(n)
    return s


def close(a, b):
    "Equal to TOL, relative to the size of the values (the first steps of the cosine schedule divide by √ᾱ ≈ 0.006)."
    return (a - b).abs().max().item() <= TOL * max(1.0, b.abs().max().item())


@pytest.mark.parametrize('ours,theirs', SCHEDULES)
def test_schedule_and_add_noise(diffusers, ours, theirs):
    ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule=theirs)
    s = NoiseSchedule.named(ours, 1000)
    assert (s.betas - ref.betas).abs().max() <= TOL
    assert (s.alpha_bar - ref.alphas_cumprod).abs().max() <= TOL
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(16, 1, 8, 8, generator=g) * 2 - 1, torch.randn(16, 1, 8, 8, generator=g)
    t = torch.randint(0, 1000, (16,), generator=g)
    assert close(s.add_noise(x0, eps, t), ref.add_noise(x0, eps, t))


def test_leading_spacing_pitfall(diffusers):
    "diffusers' default spacing starts below T − 1 (diffusers #2585); ours, like its 'trailing', starts there."
    ref = diffusers.DDPMScheduler(num_train_timesteps=1000)
    ref.set_timesteps(50)
    assert ref.timesteps[0] == 980 and sampling_steps(1000, 50)[0] == 999
    assert diffusers.DDPMScheduler().config.clip_sample  # why every comparison below sets clip_sample explicitly


def checked_steps(ref, n):
    "(i, t, prev) at the first, second, middle and last step of n, after checking that diffusers visits the same steps."
    ts = sampling_steps(1000, n)
    assert ts == ref.timesteps.tolist()
    return [(i, ts[i], ts[i + 1] if i + 1 < n else -1) for i in [0, 1, n // 2, n - 1]]


@pytest.mark.parametrize('ours,theirs', SCHEDULES)
@pytest.mark.parametrize('n', [1000, 50, 10])
@pytest.mark.parametrize('clip', [False, True])
def test_ddpm_step(diffusers, ours, theirs, n, clip):
    s, ref = NoiseSchedule.named(ours, 1000), reference(diffusers.DDPMScheduler, theirs, 1000, n, clip)
    g = torch.Generator().manual_seed(n)
    for i, t, prev in checked_steps(ref, n):
        xt, eps = torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 1, 8, 8, generator=g)
        torch.manual_seed(i)  # diffusers draws the step's noise from the global generator
        theirs_out = ref.step(eps, t, xt).prev_sample
        torch.manual_seed(i)
        z = torch.randn(xt.shape)
        assert close(ddpm_step(s, xt, eps, t, prev, z, clip=clip), theirs_out), (t, prev)


@pytest.mark.parametrize('ours,theirs', SCHEDULES)
@pytest.mark.parametrize('n', [1000, 50, 10])
@pytest.mark.parametrize('eta', [0.0, 0.5, 1.0])
@pytest.mark.parametrize('clip', [False, True])
def test_ddim_step(diffusers, ours, theirs, n, eta, clip):
    s, ref = NoiseSchedule.named(ours, 1000), reference(diffusers.DDIMScheduler, theirs, 1000, n, clip)
    g = torch.Generator().manual_seed(n)
    for _, t, prev in checked_steps(ref, n):
        xt, eps, z = (torch.randn(4, 1, 8, 8, generator=g) for _ in range(3))
        theirs_out = ref.step(eps, t, xt, eta=eta, variance_noise=z, use_clipped_model_output=clip).prev_sample
        assert close(ddim_step(s, xt, eps, t, prev, eta, z, clip=clip), theirs_out), (t, prev)


@pytest.fixture(scope='module')
def ddpm_run(tmp_path_factory):
    run = tmp_path_factory.mktemp('runs')/'ddpm'
    assert main(['train', 'ddpm', '--dataset', 'digits', '--epochs', '2', '--channels', '8,16', '--timesteps', '40',
                 '--schedule', 'cosine', '--ema', '0.9', '--out', str(run)]) == 0
    return run


def test_train_ddpm_writes_a_run_that_sample_and_evaluate_accept(ddpm_run, tmp_path):
    config, m = (json.loads((ddpm_run/f).read_text()) for f in ('config.json', 'metrics.json'))
    assert config['kind'] == 'diffusion' and config['options']['timesteps'] == 40 and len(m['history']) == 2
    assert 0 < m['valid_loss'] < 1.5 and (ddpm_run/'samples.png').exists() and (ddpm_run/'loss.png').exists()
    model, _ = load_run(ddpm_run)
    assert model.schedule.steps == 40 and model.schedule.betas[-1] > model.schedule.betas[0]
    for extra in [[], ['--clip'], ['--sampler', 'ddim', '--steps', '5'], ['--sampler', 'ddim', '--steps', '8', '--eta', '1', '--clip']]:
        out = tmp_path/'x.npy'
        assert main(['sample', str(ddpm_run), '--n', '6', '--seed', '3', '--out', str(out), *extra]) == 0
        x = np.load(out)
        assert x.shape == (6, 1, 8, 8) and x.min() >= 0 and x.max() <= 1
    kwargs = dict(sampler='ddim', steps=8, eta=1.0, clip=True)
    assert np.allclose(x, model.sample(6, seed=3, **kwargs).numpy(), atol=1e-6)  # the CLI passes the options through
    assert main(['evaluate', str(ddpm_run), '--n', '200']) == 0


@pytest.mark.parametrize('args,reason', [
    (['--steps', '41'], 'steps must be a whole number from 1 to the 40 training steps'),
    (['--eta', '0.5'], 'eta belongs to the ddim sampler'),
    (['--sampler', 'ddim', '--eta', '2'], 'must be from 0 to 1'),
    (['--sampler', 'euler'], "invalid choice: 'euler'"),
])
def test_sample_refuses_bad_options(ddpm_run, tmp_path, capsys, args, reason):
    assert exit_status(['sample', str(ddpm_run), '--out', str(tmp_path/'x.npy'), *args]) == 2
    assert reason in capsys.readouterr().err
    assert not (tmp_path/'x.npy').exists()


def test_sampling_options_of_another_family_are_refused(tmp_path, capsys):
    run = tmp_path/'gan'
    assert main(['train', 'gan', '--dataset', 'digits', '--epochs', '1', '--hidden', '8', '--out', str(run)]) == 0
    assert exit_status(['sample', str(run), '--steps', '10', '--out', str(tmp_path/'x.npy')]) == 2
    assert 'runs of gan take no --steps; drop --steps' in capsys.readouterr().err


@pytest.mark.parametrize('args,reason', [
    (['--timesteps', '0'], 'argument --timesteps: must be positive, got 0'),
    (['--ema', '1'], 'must be from 0 (no averaging) to below 1'),
    (['--schedule', 'sigmoid'], "invalid choice: 'sigmoid'"),
    (['--channels', '8,16,32,64'], 'multiples of 16'),
])
def test_train_refuses_bad_options(tmp_path, capsys, args, reason):
    assert exit_status(['train', 'ddpm', '--dataset', 'digits', '--epochs', '1', '--out', str(tmp_path/'r'), *args]) == 2
    assert reason in capsys.readouterr().err
    assert not (tmp_path/'r').exists()
