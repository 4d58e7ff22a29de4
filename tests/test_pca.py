"""Cross-checks of genlearn.pca against scikit-learn's PCA and scipy, on data where the answer is known."""
import time

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from genlearn.core import set_seed
from genlearn.data import plane_cloud, reconstruction_dls
from genlearn.learner import ae_learner, build_model
from genlearn.pca import (LinearAE, ae_mse, compare_with_pca, component_cosines, fit_pca, learned_components,
                          pca_mse, subspace_angle)


def _data(n=400, d=8, seed=0):
    "Anisotropic Gaussian data with a non-zero mean: variances 16, 9, 4, 1, then 0.01."
    rng = np.random.default_rng(seed)
    scales = np.array([4., 3., 2., 1.] + [.1] * (d - 4))
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))  # a random rotation, so the axes are not the coordinates
    x = (rng.normal(size=(n, d)) * scales) @ basis.T + rng.normal(size=d)
    return torch.tensor(x, dtype=torch.float32)


def _ae_from_pca(pca, d):
    "A LinearAE whose encoder projects on `pca`'s components and whose decoder maps back, with the mean in the biases."
    k = pca.n_components_
    ae = LinearAE(d, k)
    P, mu = torch.tensor(pca.components_, dtype=torch.float32), torch.tensor(pca.mean_, dtype=torch.float32)
    with torch.no_grad():
        ae.encoder[1].weight.copy_(P); ae.encoder[1].bias.copy_(-P @ mu)
        ae.decoder[0].weight.copy_(P.T); ae.decoder[0].bias.copy_(mu)
    return ae


def test_pca_mse_matches_discarded_variance():
    x = _data()
    pca = fit_pca(x, 3)
    full = PCA().fit(x.numpy().astype(np.float64))
    n, d = x.shape
    # PCA's reconstruction error is the variance left in the discarded components (sklearn uses the n-1 denominator)
    expected = full.explained_variance_[3:].sum() * (n - 1) / n / d
    assert pca_mse(pca, x) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize('k', [1, 2, 3])
def test_pca_weights_give_ratio_one_and_angle_zero(k):
    x = _data()
    pca = fit_pca(x, k)
    ae = _ae_from_pca(pca, x.shape[1])
    assert ae_mse(ae, x) == pytest.approx(pca_mse(pca, x), rel=1e-4)
    res = compare_with_pca(ae, x, pca)
    assert res['ratio'] == pytest.approx(1., abs=1e-4)
    assert res['angle'] < 0.05
    np.testing.assert_allclose(component_cosines(learned_components(ae, x), pca.components_), np.ones(k), atol=1e-6)


def test_learned_components_undo_an_invertible_mixing():
    # mixing the codings by any invertible matrix (undone in the decoder) keeps the subspace and the reconstructions
    x = _data()
    pca = fit_pca(x, 3)
    ae = _ae_from_pca(pca, x.shape[1])
    A = torch.tensor([[2., 1., 0.], [0., 1., -1.], [1., 0., 3.]])
    with torch.no_grad():
        ae.encoder[1].weight.copy_(A @ ae.encoder[1].weight); ae.encoder[1].bias.copy_(A @ ae.encoder[1].bias)
        ae.decoder[0].weight.copy_(ae.decoder[0].weight @ torch.linalg.inv(A))
    res = compare_with_pca(ae, x, pca)
    assert res['ratio'] == pytest.approx(1., abs=1e-4) and res['angle'] < 0.05
    cos = component_cosines(learned_components(ae, x), pca.components_)
    np.testing.assert_allclose(cos, np.ones(3), atol=1e-5)
    # the raw decoder columns are not the components
    assert component_cosines(ae.decoder[0].weight.detach().numpy().T, pca.components_).min() < 0.9


def test_known_angle():
    # span{e1, cos t e2 + sin t e3} against span{e1, e2}: the largest principal angle is t
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(300, 5)) * [3., 2., .1, .1, .1], dtype=torch.float32)
    pca = fit_pca(x, 2)
    for deg in [0., 10., 45., 80.]:
        t = np.radians(deg)
        ae = LinearAE(5, 2)
        with torch.no_grad():
            ae.decoder[0].weight.copy_(torch.tensor([[1., 0.], [0., np.cos(t)], [0., np.sin(t)], [0., 0.], [0., 0.]]))
        # PCA's axes are within a fraction of a degree of e1, e2 on this sample
        assert subspace_angle(ae, pca) == pytest.approx(deg, abs=1.)


def test_random_subspace_has_large_angle():
    x = _data(d=50)
    pca = fit_pca(x, 3)
    torch.manual_seed(0)
    ae = LinearAE(50, 3)  # untrained: a random 3-D subspace of a 50-D space
    assert subspace_angle(ae, pca) > 60
    assert compare_with_pca(ae, x, pca)['ratio'] > 1.5


def test_bad_inputs():
    x = _data()
    with pytest.raises(TypeError, match='expected a LinearAE'): subspace_angle(torch.nn.Linear(8, 8), fit_pca(x, 2))
    with pytest.raises(ValueError, match='fit PCA with k = the number of codings'): subspace_angle(LinearAE(8, 2), fit_pca(x, 3))
    with pytest.raises(ValueError, match='codings must be an integer'): LinearAE((1, 2, 2), 5)
    assert build_model('linear-ae', (1, 28, 28))(torch.zeros(2, 1, 28, 28)).shape == (2, 1, 28, 28)


def test_training_on_plane_cloud_matches_pca():
    t0 = time.time()
    x = plane_cloud(200, seed=42)
    x = x - x.mean(0)
    set_seed(0)
    ae = LinearAE(3, 2)
    learn = ae_learner(reconstruction_dls(x, x[:50], bs=len(x)), ae, lr=3e-2)
    learn.fit_quiet(300, 3e-2)
    learn.fit_quiet(75, 3e-3)
    res = compare_with_pca(ae, x)
    assert res['ratio'] <= 1.05, res
    assert res['angle'] < 5, res
    assert time.time() - t0 < 20
