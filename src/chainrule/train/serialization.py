"""Saving and loading arrays without pickle, atomically, with a checksum.

A file holds named arrays plus JSON metadata. ``.npz`` (NumPy only) is the default;
``.safetensors`` (a PyTorch user opens it with ``safetensors.torch.load_file``) when
the path ends so and the ``io`` extra is installed. Every file carries a SHA-256 of
its contents, so a truncated or corrupted file is rejected on load, naming the file.
Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule.autograd.tensor import Tensor
from chainrule.errors import CheckpointError

_UMASK = os.umask(0o022)
os.umask(_UMASK)
_METADATA_KEY = "__metadata__"
_CHECKSUM_KEY = "__checksum__"


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new, never half.

    Temporary file in the same directory, fsync, rename over the target, fsync the directory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o666 & ~_UMASK)  # as open() would; mkstemp gives 0600
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _digest(arrays: Mapping[str, np.ndarray], metadata_json: str) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(array.dtype).encode())
        h.update(str(array.shape).encode())
        h.update(array.tobytes())
    h.update(metadata_json.encode())
    return h.hexdigest()


def save_arrays(
    path: str | os.PathLike[str],
    arrays: Mapping[str, npt.ArrayLike],
    metadata: Mapping[str, object] | None = None,
) -> None:
    """Write named arrays and JSON-safe ``metadata`` to ``path`` atomically, with a checksum."""
    arrays = {name: np.asarray(value) for name, value in arrays.items()}
    for name, array in arrays.items():
        if array.dtype == object:
            raise CheckpointError(f"cannot save {name!r}: object arrays would need pickle")
    metadata_json = json.dumps(metadata or {}, sort_keys=True)
    checksum = _digest(arrays, metadata_json)
    if str(path).endswith(".safetensors"):
        try:
            from safetensors.numpy import save  # optional: safetensors
        except ImportError as error:
            raise CheckpointError(
                'saving .safetensors needs: pip install "chainrule[io]"'
            ) from error
        data = save(
            {k: np.ascontiguousarray(v) for k, v in arrays.items()},
            metadata={_METADATA_KEY: metadata_json, _CHECKSUM_KEY: checksum},
        )
    else:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            **arrays,
            **{
                _METADATA_KEY: np.frombuffer(metadata_json.encode(), dtype=np.uint8),
                _CHECKSUM_KEY: np.frombuffer(checksum.encode(), dtype=np.uint8),
            },
        )
        data = buffer.getvalue()
    atomic_write_bytes(path, data)


# what a member of an .npz may declare: chainrule stores members uncompressed, so a
# member larger than its compressed bytes by this factor was made to inflate (a zip bomb)
MAX_EXPANSION = 4
# ... and no member or archive may declare more than this many bytes (far above any
# model this library trains on a CPU: 4 GiB of float32 is a billion parameters)
MAX_DECLARED_BYTES = 4 << 30

_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_regular_file(path: Path) -> int:
    """The size of ``path`` if it is (or a symlink leads to) a regular file; else an
    error saying what it is: missing, a broken link, a directory, a pipe, a device."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise CheckpointError(
                f"{path}: a symbolic link to {os.readlink(path)}, which does not exist"
            ) from None
        raise CheckpointError(f"{path}: no such file") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "not a file")
        via = f" (a symbolic link to {os.readlink(path)})" if path.is_symlink() else ""
        raise CheckpointError(f"{path}{via}: is {kind}, not a chainrule file; refused")
    return info.st_size


def _check_declared_sizes(path: Path, file_size: int) -> None:
    """Refuse an archive whose members declare more bytes than they could honestly hold,
    reading only the zip directory (nothing is inflated)."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    total = 0
    for member in members:
        declared = member.file_size
        total += declared
        if declared > MAX_EXPANSION * member.compress_size + 4096 or declared > MAX_DECLARED_BYTES:
            raise CheckpointError(
                f"{path}: member {member.filename!r} declares {declared} bytes from "
                f"{member.compress_size} stored bytes ({declared / max(member.compress_size, 1):.0f}x); "
                f"a chainrule file stores its arrays uncompressed: refused before inflating "
                f"(a zip bomb?)"
            )
    if total > MAX_DECLARED_BYTES or total > MAX_EXPANSION * file_size + 4096 * len(members):
        raise CheckpointError(
            f"{path}: its members declare {total} bytes in a file of {file_size} bytes; "
            "refused before inflating (a zip bomb?)"
        )


def load_arrays(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(arrays, metadata) from a file ``save_arrays`` wrote; refuses anything else.

    Only regular files are opened; an .npz's declared member sizes are checked against
    its own size before anything is inflated, so memory stays bounded by the file."""
    path = Path(path)
    file_size = check_regular_file(path)
    try:
        if path.suffix == ".safetensors":
            arrays, metadata_json, checksum = _read_safetensors(path)
        else:
            with open(path, "rb") as handle:
                start = handle.read(4)
            if start != b"PK\x03\x04":  # NOTE: np.load would call other bytes pickled data
                found = f"it starts with {start!r}" if start else "it is empty"
                raise CheckpointError(
                    f"{path}: not a chainrule file: not an .npz archive ({found})"
                )
            _check_declared_sizes(path, file_size)
            archive = np.load(path, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise CheckpointError(f"{path}: a bare NumPy array, not a chainrule file")
            with archive:
                arrays = {name: archive[name] for name in archive.files}
            metadata_json = arrays.pop(_METADATA_KEY).tobytes().decode()
            checksum = arrays.pop(_CHECKSUM_KEY).tobytes().decode()
    except CheckpointError:
        raise
    # NOTE: any exception, not a list: on damaged bytes zipfile, zlib, NumPy's format
    # reader and safetensors each raise their own kinds (BadZipFile, NotImplementedError
    # for a garbled version field, struct.error, SafetensorError, MemoryError for a
    # garbled shape...), and every one of them means the same: this file is unreadable.
    except Exception as error:
        raise CheckpointError(
            f"{path}: not a readable chainrule file (truncated or corrupted?): "
            f"{type(error).__name__}: {error}"
        ) from error
    if _digest(arrays, metadata_json) != checksum:
        raise CheckpointError(f"{path}: checksum mismatch: the file is corrupted")
    return arrays, json.loads(metadata_json)


def _read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], str, str]:
    try:
        from safetensors import safe_open  # optional: safetensors
    except ImportError as error:
        raise CheckpointError('reading .safetensors needs: pip install "chainrule[io]"') from error
    with safe_open(str(path), framework="numpy") as handle:
        meta = handle.metadata() or {}
        arrays = {name: handle.get_tensor(name) for name in handle.keys()}
    if _METADATA_KEY not in meta or _CHECKSUM_KEY not in meta:
        raise CheckpointError(f"{path}: a safetensors file without chainrule's checksum")
    return arrays, meta[_METADATA_KEY], meta[_CHECKSUM_KEY]


def flatten_state(state: Any, prefix: str = "") -> tuple[dict[str, np.ndarray], Any]:
    """Split a nested state (dicts, lists, numbers, strings, arrays) into arrays and JSON.

    Arrays are replaced in the JSON part by ``{"__array__": key}``.
    """
    arrays: dict[str, np.ndarray] = {}

    def walk(value: Any, key: str) -> Any:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, Tensor):
            value = value.numpy()
        if isinstance(value, np.ndarray):
            arrays[key] = value
            return {"__array__": key}
        if isinstance(value, Mapping):
            return {"__dict__": [[k, walk(v, f"{key}/{k}")] for k, v in value.items()]}
        if isinstance(value, list | tuple):
            return [walk(v, f"{key}/{i}") for i, v in enumerate(value)]
        if value is None or isinstance(value, bool | int | float | str):
            return value
        raise CheckpointError(
            f"cannot save {key or 'state'}: {type(value).__name__} is not an array, number, string, list or dict"
        )

    return arrays, walk(state, prefix)


def unflatten_state(arrays: Mapping[str, np.ndarray], tree: Any) -> Any:
    """Inverse of ``flatten_state``."""
    if isinstance(tree, dict):
        if "__array__" in tree:
            return arrays[tree["__array__"]]
        return {k: unflatten_state(arrays, v) for k, v in tree["__dict__"]}
    if isinstance(tree, list):
        return [unflatten_state(arrays, v) for v in tree]
    return tree


def dumps(state: Any) -> bytes:
    """A state (nested dicts, lists, numbers, strings, arrays) as bytes, without pickle."""
    arrays, tree = flatten_state(state)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        **arrays,
        **{_METADATA_KEY: np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8)},
    )
    return buffer.getvalue()


def loads(data: bytes) -> Any:
    """Inverse of ``dumps`` (tuples come back as lists)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    tree = json.loads(arrays.pop(_METADATA_KEY).tobytes().decode())
    return unflatten_state(arrays, tree)


def save(state: Any, path: str | os.PathLike[str]) -> None:
    """Save a state (a state_dict, or any nest of dicts, lists, numbers and arrays) to ``path``."""
    arrays, tree = flatten_state(state)
    save_arrays(path, arrays, {"state": tree})


def load(path: str | os.PathLike[str]) -> Any:
    """Load what ``save`` wrote, verifying its checksum; never unpickles."""
    arrays, metadata = load_arrays(path)
    if "state" not in metadata:
        return arrays
    try:
        return unflatten_state(arrays, metadata["state"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"{path}: its checksum holds but its state is malformed ({type(error).__name__}: "
            f"{error}); not a file chainrule wrote"
        ) from error
