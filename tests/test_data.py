"Loaders on hand-made IDX files, verified downloads, offline errors and bad inputs."
import gzip, hashlib, io, struct, urllib.error
from unittest import mock

import numpy as np
import pytest
import torch

import genlearn.data as gd
from genlearn.data import read_idx, parse_idx, fetch, load_images, reconstruction_dls, classification_dls


def idx_bytes(arr):
    "IDX bytes written by hand here (independently of genlearn's writer): uint8 only."
    arr = np.asarray(arr, dtype=np.uint8)
    return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f'>{arr.ndim}I', *arr.shape) + arr.tobytes()


def test_read_handmade_idx(tmp_path):
    imgs = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path/'a.idx').write_bytes(idx_bytes(imgs))
    (tmp_path/'a.gz').write_bytes(gzip.compress(idx_bytes(imgs)))
    np.testing.assert_array_equal(read_idx(tmp_path/'a.idx'), imgs)
    np.testing.assert_array_equal(read_idx(tmp_path/'a.gz'), imgs)


def test_read_idx_big_endian_ints(tmp_path):
    vals = np.array([1, -2, 70000], dtype='>i4')
    raw = bytes([0, 0, 0x0C, 1]) + struct.pack('>I', 3) + vals.tobytes()
    np.testing.assert_array_equal(parse_idx(raw), [1, -2, 70000])


@pytest.mark.parametrize('raw, msg', [
    (b'', 'not an IDX file'),
    (b'\x00\x00\x07\x01' + b'\x00' * 8, 'not an IDX file'),          # unknown type code
    (b'\x00\x00\x08\x03\x00\x00', 'truncated IDX header'),
    (idx_bytes(np.zeros((2, 2)))[:-1], 'truncated or corrupt'),
    (idx_bytes(np.zeros((2, 2))) + b'\x00', 'truncated or corrupt'),
])
def test_bad_idx(raw, msg):
    with pytest.raises(ValueError, match=msg): parse_idx(raw)


def test_truncated_gzip(tmp_path):
    (tmp_path/'t.gz').write_bytes(gzip.compress(idx_bytes(np.zeros((50, 28, 28))))[:-20])
    with pytest.raises(ValueError, match='corrupt or truncated gzip'): read_idx(tmp_path/'t.gz')


@pytest.fixture
def fake_remote(tmp_path, monkeypatch):
    "A fake 'mnist' made of small hand-made IDX files, with their MD5s, served by a mocked urlopen."
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 28, 28), dtype=np.uint8)
    y = np.repeat(np.arange(10, dtype=np.uint8), 6)
    files = {'train-images-idx3-ubyte.gz': gzip.compress(idx_bytes(x)),
             'train-labels-idx1-ubyte.gz': gzip.compress(idx_bytes(y))}
    spec = dict(urls=['https://mirror.invalid/mnist/'], files={k: hashlib.md5(v).hexdigest() for k, v in files.items()})
    monkeypatch.setitem(gd.REMOTE, 'mnist', spec)
    monkeypatch.setenv('GENLEARN_DATA', str(tmp_path/'cache'))
    gd._all_images.cache_clear()
    calls = []

    def urlopen(url, timeout=None):
        calls.append(url)
        body = files[url.rsplit('/', 1)[1]]
        r = io.BytesIO(body)
        r.headers = {'Content-Length': str(len(body))}
        return r
    yield dict(x=x, y=y, files=files, calls=calls, urlopen=urlopen, cache=tmp_path/'cache'/'mnist')
    gd._all_images.cache_clear()


def test_download_then_load(fake_remote):
    with mock.patch('urllib.request.urlopen', fake_remote['urlopen']):
        xt, yt, xv, yv = load_images('mnist', valid_pct=0.2)
    assert len(fake_remote['calls']) == 2
    assert xt.shape == (48, 1, 28, 28) and xv.shape == (12, 1, 28, 28)
    all_x = torch.cat([xt, xv]) * 255
    assert sorted(all_x.flatten().round().int().tolist()) == sorted(fake_remote['x'].flatten().tolist())
    assert not list(fake_remote['cache'].glob('*.part'))
    # second load uses the verified cache: no network
    gd._all_images.cache_clear()
    with mock.patch('urllib.request.urlopen', side_effect=AssertionError('network used')):
        load_images('mnist')


def test_corrupt_cache_is_not_used(fake_remote):
    cache = fake_remote['cache']
    cache.mkdir(parents=True)
    name = 'train-labels-idx1-ubyte.gz'
    (cache/name).write_bytes(fake_remote['files'][name][:-5])  # truncated earlier download
    with mock.patch('urllib.request.urlopen', fake_remote['urlopen']):
        path = fetch('mnist', name)
    assert fake_remote['calls'] == ['https://mirror.invalid/mnist/' + name]
    assert path.read_bytes() == fake_remote['files'][name]


def test_md5_mismatch_download_is_discarded(fake_remote, monkeypatch):
    name = 'train-images-idx3-ubyte.gz'
    monkeypatch.setitem(gd.REMOTE['mnist']['files'], name, '0' * 32)
    with mock.patch('urllib.request.urlopen', fake_remote['urlopen']):
        with pytest.raises(ConnectionError, match='expected 0{32}'):
            fetch('mnist', name)
    assert not fake_remote['cache'].exists() or not list(fake_remote['cache'].iterdir())


def test_offline_error_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv('GENLEARN_DATA', str(tmp_path))
    gd._all_images.cache_clear()
    with mock.patch('urllib.request.urlopen', side_effect=urllib.error.URLError('Temporary failure in name resolution')):
        with pytest.raises(ConnectionError) as e: load_images('fashion_mnist')
    msg = str(e.value)
    for part in ['fashion-mnist.s3-website', '8d4fb7e6c68d591d4c3dfef9ec88bf0d', '25c81989df183df01b3e8a0aad5dffbe',
                 str(tmp_path/'fashion_mnist'), "'mnist5k'", 'name resolution']:
        assert part in msg, part


def test_interrupted_download_leaves_nothing(fake_remote):
    class Broken(io.BytesIO):
        headers = {'Content-Length': '100000'}
        def read(self, n=-1):
            if self.tell() > 10: raise ConnectionResetError('connection reset')
            return super().read(n)
    with mock.patch('urllib.request.urlopen', lambda url, timeout=None: Broken(b'x' * 100000)):
        with pytest.raises(ConnectionError, match='connection reset'):
            fetch('mnist', 'train-labels-idx1-ubyte.gz')
    assert not fake_remote['cache'].exists() or not list(fake_remote['cache'].iterdir())


def test_unknown_dataset_lists_names():
    with pytest.raises(ValueError, match='mnist5k, digits, mnist, fashion_mnist'): load_images('cifar10')


def test_split_is_seeded_and_stratified():
    a, b = load_images(seed=1), load_images(seed=1)
    assert torch.equal(a[3], b[3]) and not torch.equal(a[3], load_images(seed=2)[3])
    assert torch.bincount(a[1]).tolist() == [400] * 10


@pytest.mark.parametrize('bad, msg', [
    (np.full((4, 1, 28, 28), np.nan, dtype=np.float32), 'NaN or Inf'),
    (np.array([['a']]), 'not numeric'),
    ([[0.5]], 'NumPy array or torch tensor'),
])
def test_dls_reject_bad_inputs(bad, msg):
    with pytest.raises(ValueError, match=msg): reconstruction_dls(bad, np.zeros((4, 1, 28, 28), np.float32))


def test_classification_dls_label_checks():
    x = np.zeros((4, 1, 8, 8), np.float32)
    with pytest.raises(ValueError, match='integer class labels'):
        classification_dls(x, np.zeros(3, np.int64), x, np.zeros(4, np.int64))
