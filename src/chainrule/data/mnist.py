"""MNIST: find the four IDX files locally, or download and verify them; parse IDX with NumPy.

Places searched, in order: ``path/mnist`` and ``path`` (the ``path`` argument),
``$CHAINRULE_DATA/mnist`` and ``$CHAINRULE_DATA``, then the cache ``$XDG_CACHE_HOME/chainrule/mnist`` (default
``~/.cache/chainrule/mnist``), where downloads go.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chainrule.errors import ArgumentTypeError, ChainruleError

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

# SHA-256 of each file's DECOMPRESSED contents: mirrors recompress, the IDX bytes agree.
SHA256 = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
FILES = tuple(SHA256)

_IDX_DTYPES = {0x08: np.uint8}  # MNIST only uses unsigned bytes


class DatasetNotFoundError(ChainruleError, FileNotFoundError):
    """A dataset's files are in none of the places searched and could not be downloaded."""


class IDXFormatError(ChainruleError, ValueError):
    """A file is not a well-formed IDX file of the expected shape."""


def cache_dir() -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/chainrule/mnist``, default ``~/.cache/chainrule/mnist``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "chainrule" / "mnist"


def load_mnist(
    path: str | os.PathLike | None = None,
    download: bool = True,
    mirrors: Sequence[str] = MIRRORS,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((x_train, y_train), (x_test, y_test)): uint8 images (N, 28, 28), int64 labels (N,).

    N is 60000 for training and 10000 for test. Missing files are downloaded from
    ``mirrors`` (base URLs) into ``cache_dir()`` when ``download`` is true, and their
    SHA-256 checked before they are kept.
    """
    if isinstance(mirrors, str):
        raise ArgumentTypeError(
            f"load_mnist: mirrors must be a sequence of base URLs; got the string {mirrors!r} "
            "(wrap it in a list)"
        )
    candidates = search_dirs(path)
    directory = next((d for d in candidates if all((d / f).is_file() for f in FILES)), None)
    if directory is None:
        directory = cache_dir()
        failures = _download_missing(directory, mirrors) if download else None
        if failures is None or failures:
            raise DatasetNotFoundError(_not_found_message(candidates, failures))
    x_train = read_idx(directory / FILES[0], ndim=3)
    y_train = read_idx(directory / FILES[1], ndim=1)
    x_test = read_idx(directory / FILES[2], ndim=3)
    y_test = read_idx(directory / FILES[3], ndim=1)
    for images, labels, name in ((x_train, y_train, FILES[0]), (x_test, y_test, FILES[2])):
        if images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise IDXFormatError(
                f"{directory / name}: got images of shape {images.shape} with "
                f"{len(labels)} labels; expected (N, 28, 28) with N labels"
            )
    return (x_train, y_train.astype(np.int64)), (x_test, y_test.astype(np.int64))


def read_idx(file: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """The array in an IDX file (gzip-compressed when the name ends in .gz)."""
    file = Path(file)
    raw = file.read_bytes()
    if file.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise IDXFormatError(f"{file}: not a valid gzip file ({error})") from error
    return parse_idx(raw, str(file), ndim)


def parse_idx(raw: bytes, name: str, ndim: int | None = None) -> np.ndarray:
    """Decode IDX bytes: magic (0, 0, dtype code, ndim), ndim big-endian uint32 sizes, data."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise IDXFormatError(
            f"{name}: bad IDX magic number {raw[:4].hex() or '(empty file)'}; expected "
            "00 00 08 followed by the number of dimensions"
        )
    dims = raw[3]
    if ndim is not None and dims != ndim:
        raise IDXFormatError(f"{name}: IDX file has {dims} dimensions; expected {ndim}")
    header = 4 + 4 * dims
    if len(raw) < header:
        raise IDXFormatError(f"{name}: IDX header truncated ({len(raw)} bytes)")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=dims, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise IDXFormatError(
            f"{name}: IDX header says shape {shape} ({expected} bytes of data); "
            f"the file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).copy()


def search_dirs(path: str | os.PathLike | None) -> list[Path]:
    candidates = []
    for folder in (path, os.environ.get("CHAINRULE_DATA")):  # the same folders, both ways
        if folder:
            candidates += [Path(folder).expanduser() / "mnist", Path(folder).expanduser()]
    candidates.append(cache_dir())
    return candidates


def _download_missing(directory: Path, mirrors: Sequence[str]) -> list[str]:
    """Fetch each file ``directory`` lacks from the first mirror that serves it intact.

    Returns what went wrong (one line per failed attempt); empty when all files are there.
    """
    missing = [name for name in FILES if not (directory / name).is_file()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return [f"cannot create {directory}: {error}"]
    failures: list[str] = []
    for name in missing:
        attempts = [f"{name}: no mirrors given"] if not mirrors else []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            try:
                _write_atomic(directory / name, _fetch_verified(url, name))
            except (OSError, EOFError, ValueError, http.client.HTTPException) as error:
                attempts.append(f"{url}: {error}")
            else:
                attempts = []
                break
        failures += attempts
    return failures


def _fetch_verified(url: str, name: str) -> bytes:
    """The bytes at ``url``, once their decompressed SHA-256 matches ``SHA256[name]``."""
    print(f"chainrule: downloading {url}", file=sys.stderr)
    with urllib.request.urlopen(url, timeout=60) as response:
        data = response.read()
    digest = hashlib.sha256(gzip.decompress(data)).hexdigest()
    if digest != SHA256[name]:
        raise ValueError(
            f"checksum mismatch: SHA-256 of the decompressed file is {digest}, "
            f"expected {SHA256[name]}"
        )
    return data


def _write_atomic(target: Path, data: bytes) -> None:
    """Write to a temporary file beside ``target``, fsync, then rename over it."""
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _not_found_message(candidates: list[Path], failures: list[str] | None) -> str:
    lines = ["MNIST not found. Looked for " + ", ".join(FILES) + " in:"]
    lines += [f"  - {directory}" for directory in candidates]
    if not os.environ.get("CHAINRULE_DATA"):
        lines.append("  - $CHAINRULE_DATA (not set)")
    if failures is None:
        lines.append("Nothing was downloaded (download=False).")
    else:
        lines.append(f"Downloading into {cache_dir()} failed:")
        lines += [f"  - {failure}" for failure in failures]
    lines.append(
        "Provide the files: put the four .gz files in a directory DIR, then pass "
        "load_mnist(path=DIR) or set CHAINRULE_DATA=DIR (DIR itself or DIR/mnist)."
    )
    return "\n".join(lines)
