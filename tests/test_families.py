"The families comparison: jobs in worker processes, pretrained seeds, a base run (a VAE for latent diffusion), the table; bad inputs."
import math

import pandas as pd
import pytest

from genlearn.diffusion import shipped_ddpm
from genlearn.families import Contender, compare_families, family_table, run_contender, MEASURES

QUICK = dict(epochs=1, valid_pct=0.95)  # 250 training digits of mnist5k
VAE = Contender('VAE', 'vae', dict(hidden=[32], **QUICK))
LATENT = Contender('latent', 'latent-diffusion', dict(width=16, blocks=1, timesteps=20, **QUICK), base=VAE, base_option='vae',
                   samplers={', DDIM 5': dict(sampler='ddim', steps=5)})
SHIPPED = Contender('DDPM', 'ddpm', pretrained={42: shipped_ddpm, 43: shipped_ddpm},
                    samplers={' 4 steps': dict(sampler='ddpm', steps=4), ', DDIM 2': dict(sampler='ddim', steps=2, eta=1.0)})


@pytest.fixture(scope='module')
def compared(tmp_path_factory):
    root = tmp_path_factory.mktemp('families')
    rows, previews = compare_families([VAE, LATENT, SHIPPED], seeds=[42, 43], root=root, n=200, workers=2, progress=False)
    return root, rows, previews


def test_every_contender_seed_and_sampler_gives_a_row_in_order(compared):
    root, rows, previews = compared
    order = ['VAE', 'latent, DDIM 5', 'DDPM 4 steps', 'DDPM, DDIM 2']
    assert list(rows.family) == [f for f in order for _ in (42, 43)] and list(rows.seed) == [42, 43] * 4
    assert set(MEASURES) <= set(rows.columns)
    assert list(previews) == order and all(p.shape == (10, 1, 28, 28) for p in previews.values())
    assert ((rows.fid > 0) & rows.precision.between(0, 1) & rows.recall.between(0, 1) & (rows.sample_s_per_1000 > 0)).all()


def test_pretrained_seeds_do_not_train_and_samplers_share_the_weights(compared):
    root, rows, _ = compared
    ddpm = rows[rows.family.astype(str).str.startswith('DDPM')]
    assert ddpm.train_s.isna().all() and (ddpm.params == 402_180).all()
    assert not any(p.name.startswith('DDPM') for p in root.iterdir())  # no run directory for them
    by_seed = ddpm.pivot(index='seed', columns='family', values='fid')
    assert (by_seed.nunique(axis=0) == 2).all()  # the seed picks the sampling noise


def test_the_base_run_is_trained_with_the_same_seed_and_used(compared):
    root, rows, _ = compared
    for seed in (42, 43):
        assert (root/f'VAE-{seed}'/'model.pt').exists() and (root/f'latent-{seed}'/'model.pt').exists()
    import json
    config = json.loads((root/'latent-43'/'config.json').read_text())
    assert config['options']['vae']['run'] == str(root/'VAE-43') and config['seed'] == 43
    latent = rows[rows.family == 'latent, DDIM 5']
    assert (latent.train_s > 0).all() and (latent.params > rows[rows.family == 'VAE'].params.iloc[0]).all()  # denoiser + decoder


def test_the_table_averages_over_seeds(compared):
    _, rows, _ = compared
    table = family_table(rows)
    assert list(table.index) == ['VAE', 'latent, DDIM 5', 'DDPM 4 steps', 'DDPM, DDIM 2'] and (table.seeds == 2).all()
    vae = rows[rows.family == 'VAE']
    assert math.isclose(table.loc['VAE', 'fid'], vae.fid.mean()) and math.isclose(table.loc['VAE', 'fid_sd'], vae.fid.std())
    assert math.isnan(table.loc['DDPM 4 steps', 'train_s'])


def test_scoring_uses_the_recipes_dataset(tmp_path):
    digits = Contender('VAE on digits', 'vae', dict(dataset='digits', epochs=1, hidden=[16]))
    rows, previews = run_contender(digits, 0, tmp_path, n=200)
    assert previews['VAE on digits'].shape[1:] == (1, 8, 8) and rows[0]['fid'] > 0


def test_bad_comparisons_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match='names must differ'): compare_families([VAE, VAE], root=tmp_path)
    with pytest.raises(ValueError, match='at least one seed'): compare_families([VAE], seeds=[], root=tmp_path)
    with pytest.raises(ValueError, match='workers must be at least 1'): compare_families([VAE], workers=0, root=tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_failing_job_stops_the_comparison_with_its_error(tmp_path):
    with pytest.raises(Exception, match='unknown model'):
        compare_families([Contender('typo', 'vea')], seeds=[0], root=tmp_path, n=200, workers=1, progress=False)
