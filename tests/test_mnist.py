"""MNIST: reading the IDX files, the search order, downloads with checksums, clear failures."""

import functools
import gzip
import hashlib
import http.server
import shutil
import threading

import numpy as np
import pytest

from chainrule.data import DatasetNotFoundError, IDXFormatError, load_mnist, mnist, read_idx
from conftest import MNIST_DIR

FILES = mnist.FILES
needs_mnist = pytest.mark.skipif(
    not all((MNIST_DIR / f).is_file() for f in FILES),
    reason=f"MNIST files not found in {MNIST_DIR} (set CHAINRULE_TEST_MNIST to their directory)",
)


def idx_bytes(array):
    """An uint8 array encoded as IDX: magic 00 00 08 ndim, big-endian uint32 sizes, data."""
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No real cache or CHAINRULE_DATA: downloads go to a fresh temporary cache."""
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """A directory of four small, valid MNIST-format files, which SHA256 is patched to accept."""
    rng = np.random.default_rng(0)
    arrays = {
        FILES[0]: rng.integers(0, 256, (5, 28, 28)),
        FILES[1]: np.array([0, 1, 2, 9, 4]),
        FILES[2]: rng.integers(0, 256, (3, 28, 28)),
        FILES[3]: np.array([7, 7, 3]),
    }
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    sha = {}
    for name, array in arrays.items():
        raw = idx_bytes(array)
        (mirror / name).write_bytes(gzip.compress(raw))
        sha[name] = hashlib.sha256(raw).hexdigest()
    monkeypatch.setattr(mnist, "SHA256", sha)
    return mirror, arrays


def corrupt_copy(source, target):
    """`target` holds the files of `source` with one byte changed in each (still valid gzip)."""
    target.mkdir()
    for name in FILES:
        raw = bytearray(gzip.decompress((source / name).read_bytes()))
        raw[-1] ^= 0xFF
        (target / name).write_bytes(gzip.compress(bytes(raw)))
    return target


# ------------------------------------------------------------------ the real files
@needs_mnist
def test_real_mnist_has_the_standard_shapes_and_labels():
    (x_train, y_train), (x_test, y_test) = load_mnist(MNIST_DIR)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64 and y_test.dtype == np.int64
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert set(np.unique(y_train)) == set(range(10)) and set(np.unique(y_test)) == set(range(10))
    assert x_train.max() == 255 and x_train.min() == 0
    assert x_train.flags.writeable


@needs_mnist
def test_real_mnist_downloads_from_a_file_mirror_and_passes_the_checksums(tmp_path):
    (x_train, _), (_, y_test) = load_mnist(mirrors=[MNIST_DIR.as_uri()])
    assert x_train.shape == (60000, 28, 28) and y_test.shape == (10000,)
    assert sorted(p.name for p in mnist.cache_dir().iterdir()) == sorted(FILES)
    assert mnist.cache_dir() == tmp_path / "cache" / "chainrule" / "mnist"


# ------------------------------------------------------------------ where files are found
def test_files_are_read_from_path(tiny_mnist):
    mirror, arrays = tiny_mnist
    (x_train, y_train), (x_test, y_test) = load_mnist(mirror, download=False)
    np.testing.assert_array_equal(x_train, arrays[FILES[0]])
    np.testing.assert_array_equal(y_train, arrays[FILES[1]])
    assert x_test.shape == (3, 28, 28) and y_test.tolist() == [7, 7, 3]


@pytest.mark.parametrize("subdir", [True, False])
def test_files_are_found_through_chainrule_data(tiny_mnist, tmp_path, monkeypatch, subdir):
    mirror, _ = tiny_mnist
    root = tmp_path / "data"
    shutil.copytree(mirror, root / "mnist" if subdir else root)
    monkeypatch.setenv("CHAINRULE_DATA", str(root))
    (_, y_train), _ = load_mnist(download=False)
    assert y_train.tolist() == [0, 1, 2, 9, 4]


def test_path_comes_before_chainrule_data(tiny_mnist, tmp_path, monkeypatch):
    mirror, _ = tiny_mnist
    other = tmp_path / "other"
    shutil.copytree(mirror, other)
    (other / FILES[1]).write_bytes(gzip.compress(idx_bytes(np.array([5, 5, 5, 5, 5]))))
    monkeypatch.setenv("CHAINRULE_DATA", str(mirror))
    (_, y_train), _ = load_mnist(other, download=False)
    assert y_train.tolist() == [5] * 5


# ------------------------------------------------------------------ downloads
def test_download_from_a_file_mirror_fills_the_cache_atomically(tiny_mnist):
    mirror, arrays = tiny_mnist
    (x_train, _), _ = load_mnist(mirrors=[mirror.as_uri()])
    np.testing.assert_array_equal(x_train, arrays[FILES[0]])
    assert sorted(p.name for p in mnist.cache_dir().iterdir()) == sorted(FILES)  # no temp files
    shutil.rmtree(mirror)
    (x_again, _), _ = load_mnist(mirrors=[mirror.as_uri()])  # now from the cache
    np.testing.assert_array_equal(x_again, x_train)


def test_download_from_a_localhost_http_mirror(tiny_mnist):
    mirror, arrays = tiny_mnist
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        _, (_, y_test) = load_mnist(mirrors=[f"http://127.0.0.1:{server.server_port}/"])
    finally:
        server.shutdown()
        server.server_close()
    np.testing.assert_array_equal(y_test, arrays[FILES[3]])


def test_only_missing_files_are_downloaded(tiny_mnist):
    mirror, _ = tiny_mnist
    cache = mnist.cache_dir()
    cache.mkdir(parents=True)
    for name in FILES[:3]:
        shutil.copy(mirror / name, cache / name)
    partial = mirror.parent / "partial"
    partial.mkdir()
    shutil.copy(mirror / FILES[3], partial / FILES[3])
    _, (_, y_test) = load_mnist(mirrors=[partial.as_uri()])
    assert y_test.tolist() == [7, 7, 3]


def test_a_corrupted_mirror_is_skipped_for_the_next(tiny_mnist, tmp_path):
    mirror, arrays = tiny_mnist
    bad = corrupt_copy(mirror, tmp_path / "bad")
    (x_train, _), _ = load_mnist(mirrors=[bad.as_uri(), mirror.as_uri()])
    np.testing.assert_array_equal(x_train, arrays[FILES[0]])


def test_a_corrupted_download_is_rejected_and_not_kept(tiny_mnist, tmp_path):
    mirror, _ = tiny_mnist
    bad = corrupt_copy(mirror, tmp_path / "bad")
    with pytest.raises(DatasetNotFoundError, match="checksum mismatch") as error:
        load_mnist(mirrors=[bad.as_uri()])
    assert str(bad / FILES[0]) in str(error.value)
    assert list(mnist.cache_dir().iterdir()) == []


def test_offline_failure_lists_every_place_and_how_to_provide_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "shared"))
    missing = (tmp_path / "nowhere").as_uri()
    with pytest.raises(DatasetNotFoundError) as error:
        load_mnist(tmp_path / "mine", mirrors=[missing, "http://127.0.0.1:9/"])
    message = str(error.value)
    for place in (tmp_path / "mine", tmp_path / "shared" / "mnist", tmp_path / "shared"):
        assert f"- {place}\n" in message
    assert str(mnist.cache_dir()) in message
    assert f"{missing}/{FILES[0]}" in message and f"http://127.0.0.1:9/{FILES[3]}" in message
    assert "CHAINRULE_DATA=DIR" in message and "path=DIR" in message
    assert all(name in message for name in FILES)
    assert isinstance(error.value, FileNotFoundError)


def test_mirrors_must_be_a_list_not_one_string():
    with pytest.raises(TypeError, match="wrap it in a list"):
        load_mnist(mirrors="https://example.org/mnist/")


def test_download_false_never_downloads(tiny_mnist):
    mirror, _ = tiny_mnist
    with pytest.raises(DatasetNotFoundError, match=r"download=False"):
        load_mnist(download=False, mirrors=[mirror.as_uri()])
    assert not mnist.cache_dir().exists()


# ------------------------------------------------------------------ malformed files
@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"\x08\x00\x08\x01" + bytes(8), "bad IDX magic number 08000801"),
        (b"", r"bad IDX magic number \(empty file\)"),
        (
            idx_bytes(np.zeros((2, 3, 3)))[:-1],
            r"shape \(2, 3, 3\) \(18 bytes of data\); the file holds 17",
        ),
        (idx_bytes(np.zeros((2, 3, 3)))[:10], "header truncated"),
        (idx_bytes(np.zeros(4)), "has 1 dimensions; expected 3"),
    ],
)
def test_malformed_idx_files_name_the_file_and_the_fault(tmp_path, raw, match):
    file = tmp_path / "broken-idx3-ubyte.gz"
    file.write_bytes(gzip.compress(raw))
    with pytest.raises(IDXFormatError, match=match) as error:
        read_idx(file, ndim=3)
    assert str(file) in str(error.value)


def test_a_file_that_is_not_gzip_is_reported(tmp_path):
    file = tmp_path / "train-images-idx3-ubyte.gz"
    file.write_bytes(b"<html>not found</html>")
    with pytest.raises(IDXFormatError, match="not a valid gzip file"):
        read_idx(file)


def test_load_mnist_rejects_images_of_the_wrong_size(tiny_mnist):
    mirror, _ = tiny_mnist
    (mirror / FILES[2]).write_bytes(gzip.compress(idx_bytes(np.zeros((3, 8, 8)))))
    with pytest.raises(IDXFormatError, match=r"shape \(3, 8, 8\).*expected \(N, 28, 28\)"):
        load_mnist(mirror, download=False)
