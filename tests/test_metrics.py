"Correctness tests for genlearn.metrics: closed forms, known answers, bounds, bad inputs, the shipped network, the CLI."
import json, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genlearn.data import load_images
from genlearn.learner import load_weights
from genlearn.metrics import (FEATURE_DIM, FEATURE_NETS, FeatureNet, FIDCallback, class_coverage, embed, evaluate, fid,
                              frechet_distance, inception_score, kid, precision, recall, class_entropy, real_floor,
                              reference_features, score_features, shipped_weights_path, _blur)

rng = np.random.default_rng(0)


def test_fid_two_gaussians_closed_form():
    "FID of large samples of two Gaussians approaches the closed form; `frechet_distance` on exact parameters equals it."
    mu_a, mu_b = np.array([0., 1, -1, 2]), np.array([.5, 0, -1, 1])
    cov_a = np.array([[2., .5, 0, 0], [.5, 1, 0, 0], [0, 0, 1, .3], [0, 0, .3, .5]])
    cov_b = np.diag([1., 2, .5, 1])
    # closed form: |mu_a - mu_b|^2 + tr(A + B - 2 (A B)^(1/2)), with tr (A B)^(1/2) = sum sqrt(eig(A B))
    eig = np.linalg.eigvals(cov_a @ cov_b).real
    closed = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(eig).sum()
    assert frechet_distance(mu_a, cov_a, mu_b, cov_b) == pytest.approx(closed, rel=1e-9)
    a = rng.multivariate_normal(mu_a, cov_a, 40000)
    b = rng.multivariate_normal(mu_b, cov_b, 40000)
    assert fid(a, b) == pytest.approx(closed, rel=0.05)


def test_fid_zero_and_symmetric():
    a, b = rng.normal(size=(500, 16)), rng.normal(1, 2, size=(400, 16))
    assert fid(a, a) == pytest.approx(0, abs=1e-6)
    assert fid(a, b) == pytest.approx(fid(b, a), rel=1e-6)
    assert fid(a, b) > 16  # |mu|^2 alone is 16


def test_fid_near_singular_covariance():
    "Features living on a subspace (rank-deficient covariance) still give a finite, real FID."
    a = np.concatenate([rng.normal(size=(300, 4)), np.zeros((300, 4))], 1)
    b = np.concatenate([rng.normal(size=(300, 4)) + 1, np.zeros((300, 4))], 1)
    v = fid(a, b)
    assert np.isfinite(v) and v == pytest.approx(4, rel=0.35)


def test_kid_same_vs_shifted():
    same_m, same_s = kid(rng.normal(size=(1000, 16)), rng.normal(size=(1000, 16)), subset_size=500, n_subsets=50, std=True)
    shift_m, shift_s = kid(rng.normal(size=(1000, 16)), rng.normal(.5, 1, size=(1000, 16)), subset_size=500, n_subsets=50, std=True)
    assert abs(same_m) < 3 * same_s + 1e-3
    assert shift_m > 0.05 and shift_m > 10 * shift_s


def test_kid_matches_brute_force():
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 1
    k = lambda u, v: (u @ v / 3 + 1) ** 3
    m = 6
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m ** 2
    assert kid(x, y, subset_size=6, n_subsets=3) == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-9)


def test_precision_recall_known_answers():
    square = rng.uniform(size=(2000, 2))
    half = rng.uniform(size=(2000, 2)) * [.5, 1]  # left half: realistic, half the variety
    assert precision(square, half) > 0.97 and 0.45 < recall(square, half) < 0.6
    same = rng.uniform(size=(2000, 2))  # same distribution
    assert precision(square, same) > 0.9 and recall(square, same) > 0.9
    assert (precision(square, square + 5), recall(square, square + 5)) == (0.0, 0.0)


def test_inception_score_bounds():
    for probs in [rng.dirichlet(np.ones(10) * a, 500) for a in (0.05, 1, 20)] + [np.eye(10)[np.arange(500) % 10]]:
        m, s = inception_score(probs, std=True)
        assert 1 - 1e-9 <= m <= 10 + 1e-9 and s >= 0 and inception_score(probs) == m
    assert inception_score(np.eye(10)[np.arange(500) % 10]) == pytest.approx(10)
    assert inception_score(np.full((50, 10), .1)) == pytest.approx(1)


def test_class_coverage():
    assert class_coverage(np.eye(10)[np.arange(100) % 10]) == 1
    one_class = np.eye(10)[np.zeros(100, int)]
    assert class_coverage(one_class) == 0.1 and class_entropy(one_class) == pytest.approx(0)


@pytest.mark.parametrize('call,message', [
    (lambda: fid(rng.normal(size=(50, 128)), rng.normal(size=(500, 128))), 'use at least 129'),
    (lambda: fid(rng.normal(size=(500, 8)), rng.normal(size=(500, 4))), 'feature dimensions differ'),
    (lambda: fid(np.full((300, 4), np.nan), rng.normal(size=(300, 4))), 'NaN or Inf'),
    (lambda: fid(rng.normal(size=(300,)), rng.normal(size=(300,))), 'N×D feature matrix'),
    (lambda: kid(rng.normal(size=(1, 4)), rng.normal(size=(5, 4))), 'at least 2 samples'),
    (lambda: inception_score(rng.normal(size=(20, 10))), 'not logits'),
    (lambda: precision(rng.normal(size=(3, 4)), rng.normal(size=(30, 4))), 'more than k=3'),
    (lambda: recall(rng.normal(size=(30, 4)), rng.normal(size=(3, 4))), 'more than k=3'),
    (lambda: embed(torch.rand(10, 1, 28, 28) * 255), 'divide uint8 pixels by 255'),
    (lambda: embed(torch.rand(10, 1, 28, 28) * 2 - 1), 'signed_to_unit'),
    (lambda: embed(torch.rand(10, 3, 28, 28)), 'takes 1×28×28'),
    (lambda: embed(torch.rand(10, 784)), 'N×C×H×W'),
    (lambda: embed(torch.full((4, 1, 28, 28), float('inf'))), 'NaN or Inf'),
    (lambda: evaluate(torch.rand(100, 1, 28, 28)), 'use at least 129'),
    (lambda: evaluate(torch.rand(200, 1, 28, 28), dataset='cifar'), 'unknown dataset'),
    (lambda: embed(torch.rand(4, 1, 28, 28), net='sharp'), "net must be one of 'clean'"),
    (lambda: evaluate(torch.rand(200, 1, 28, 28), net='clear'), "net must be one of 'clean'"),
    (lambda: real_floor('mnist5k', 200, net='Clean'), "net must be one of 'clean'"),
])
def test_errors(call, message):
    with pytest.raises(ValueError, match=message): call()


def test_signed_images_converted():
    x = torch.rand(8, 1, 28, 28)
    np.testing.assert_allclose(embed(x * 2 - 1, pixel_range='signed')[0], embed(x)[0], atol=1e-5)


@pytest.mark.parametrize('which', ['robust', 'clean'])
def test_shipped_feature_net_accuracy(which):
    "Both shipped networks are small plain state dicts (weights_only) and classify mnist5k's validation split well."
    path = shipped_weights_path(which)
    assert path.stat().st_size < 1_000_000
    sd = torch.load(path, map_location='cpu', weights_only=True)
    net = load_weights(FeatureNet(), path).eval()
    assert set(sd) == set(net.state_dict())
    _, _, x_valid, y_valid = load_images('mnist5k')
    with torch.no_grad(): acc = (net(x_valid).argmax(1) == y_valid).float().mean().item()
    assert acc >= 0.98, acc  # shipped: robust 98.3%, clean 98.3%
    assert embed(x_valid[:4], net=which)[0].shape == (4, FEATURE_DIM)
    assert shipped_weights_path() == shipped_weights_path('robust') != shipped_weights_path('clean')


def _blur_ratios(n=1000, sigma=1.0):
    "FID of σ-blurred held-out digits over the real floor at n, for each network."
    _, _, x_valid, _ = load_images('mnist5k')
    out = {}
    for which in FEATURE_NETS:
        ref = reference_features('mnist5k', n, net=which)[0]
        floor = real_floor('mnist5k', n, net=which)['fid']
        out[which] = fid(ref, embed(_blur(x_valid[:n], sigma), net=which)[0]) / floor
    return out


def test_clean_network_sees_blur():
    "Issue 10's target: σ = 1 blurred real digits score FID ≥ 10× the real floor at n = 1000 with the clean network."
    ratio = _blur_ratios()
    assert ratio['clean'] >= 10, ratio
    assert ratio['robust'] < ratio['clean'] / 5, ratio  # the robust network barely sees it (5.1× vs 109× when shipped)


def test_evaluate_uses_each_network_for_its_metrics():
    "Default: FID/KID/precision/recall on clean features, IS/coverage/entropy on robust probabilities; net= overrides both."
    _, _, x_valid, _ = load_images('mnist5k')
    x, n = _blur(x_valid[:300], 1.0), 300
    res = evaluate(x, floor=False)
    assert (res['features_net'], res['classes_net']) == ('clean', 'robust')
    expect = score_features(embed(x, net='clean')[0], embed(x, net='robust')[1], reference_features('mnist5k', n, net='clean')[0])
    for key in ('fid', 'kid', 'precision', 'recall', 'inception_score', 'coverage', 'class_entropy'):
        assert res[key] == pytest.approx(expect[key], rel=1e-9, abs=1e-12), key
    robust = evaluate(x, floor=False, net='robust')
    assert (robust['features_net'], robust['classes_net']) == ('robust', 'robust')
    assert robust['fid'] == pytest.approx(fid(reference_features('mnist5k', n, net='robust')[0], embed(x, net='robust')[0]))
    assert res['fid'] > 5 * robust['fid']  # the clean network sees the blur
    assert robust['coverage'] == res['coverage'] == 1.0
    f, p = embed(x[:5])  # embed's default pairs the same way
    np.testing.assert_array_equal(f, embed(x[:5], net='clean')[0]); np.testing.assert_array_equal(p, embed(x[:5], net='robust')[1])
    floor = real_floor('mnist5k', n)
    assert floor['fid'] == pytest.approx(real_floor('mnist5k', n, net='clean')['fid'])
    assert floor['coverage'] == real_floor('mnist5k', n, net='robust')['coverage']


def test_fid_callback_uses_clean_features():
    from types import SimpleNamespace
    cb = FIDCallback(n=200)
    cb.learn = SimpleNamespace(metrics=[])
    cb.before_fit()
    np.testing.assert_array_equal(cb.ref_feats, reference_features('mnist5k', 200, net='clean')[0])


def test_cli_evaluate_images(tmp_path):
    _, _, x_valid, _ = load_images('mnist5k')
    np.save(tmp_path/'imgs.npy', x_valid[:300].numpy())
    cli = str(Path(sys.executable).parent/'genlearn')
    r = subprocess.run([cli, 'evaluate', '--images', str(tmp_path/'imgs.npy'), '--dataset', 'mnist5k',
                        '--out', str(tmp_path/'eval.json')], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert 'FID' in r.stdout and 'real floor' in r.stdout
    result = json.loads((tmp_path/'eval.json').read_text())
    assert result['n'] == 300 and result['floor']['n'] == 300
    assert abs(result['fid'] - result['floor']['fid']) < 5 * max(result['floor']['fid'], 0.5)  # real images sit near the floor
    np.save(tmp_path/'bad.npy', np.full((300, 1, 28, 28), np.nan, np.float32))
    r = subprocess.run([cli, 'evaluate', '--images', str(tmp_path/'bad.npy')], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and 'NaN or Inf' in r.stderr
    r = subprocess.run([cli, 'evaluate', '--images', str(tmp_path/'missing.npy')], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and 'no such file' in r.stderr


def test_feature_net_trains_once_and_caches(tmp_path, monkeypatch, capsys):
    "Datasets other than mnist5k: trained on first use, cached atomically, a damaged cache file is retrained, not used."
    import genlearn.metrics as gm
    monkeypatch.setenv('GENLEARN_DATA', str(tmp_path))
    gm._feature_net.cache_clear()
    first = gm.feature_net('digits')
    assert 'training the robust digits feature network' in capsys.readouterr().out
    path = tmp_path/'feature_nets'/'digits.pt'
    assert path.exists() and not list(path.parent.glob('*.part'))
    gm._feature_net.cache_clear()
    again = gm.feature_net('digits')  # from the cache file: same weights, no training
    assert 'training' not in capsys.readouterr().out
    for a, b in zip(first.state_dict().values(), again.state_dict().values()): assert torch.equal(a, b)
    path.write_bytes(path.read_bytes()[:1000])  # a truncated file
    gm._feature_net.cache_clear()
    gm.feature_net('digits')
    assert 'unusable' in capsys.readouterr().out
    load_weights(FeatureNet(n_classes=10), path)  # rewritten whole
    clean = gm.feature_net('digits', net='clean')  # the clean network has its own file
    assert 'training the clean digits feature network' in capsys.readouterr().out
    assert (tmp_path/'feature_nets'/'digits_clean.pt').exists()
    assert any(not torch.equal(a, b) for a, b in zip(first.state_dict().values(), clean.state_dict().values()))
    gm._feature_net.cache_clear()
