"""Batch augmentation: random transforms of a whole batch of images at once.

Each transform takes a float array (N, H, W) or (N, C, H, W) and returns one of the
same shape and dtype, with fresh random parameters per image drawn from ``generator``
(default: chainrule's, so ``chainrule.manual_seed`` fixes them). The geometric ones
build per-image sampling grids with NumPy broadcasting and resample the whole batch
with one ``scipy.ndimage.map_coordinates`` call (bilinear; pixels from outside the
image are ``fill``); with parameters that change nothing (rotation by 0, shift by 0,
alpha 0) they return an exact copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from chainrule.backend import default_generator
from chainrule.checks import check_number
from chainrule.data._optional import require
from chainrule.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError


def check_images(x: npt.ArrayLike, name: str) -> np.ndarray:
    """``x`` as an array if it is a float batch (N, H, W) or (N, C, H, W), else a clear error."""
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ShapeError(
            f"{name} takes a batch of images (N, H, W) or (N, C, H, W); got shape {x.shape}"
        )
    if x.dtype not in (np.float32, np.float64):
        raise DTypeError(
            f"{name} takes float32 or float64 images; got {x.dtype} (scale integer pixels "
            "first, e.g. with chainrule.data.scale_to_unit)"
        )
    return x


def warp_affine(
    x: npt.ArrayLike, matrix: npt.ArrayLike, offset: npt.ArrayLike, fill: float = 0.0
) -> np.ndarray:
    """Resample each image n at ``matrix[n] @ (p - centre) + centre + offset[n]``.

    x: (N, [C,] H, W); matrix: (N, 2, 2) and offset: (N, 2), in (row, col) pixel
    coordinates; p runs over the output pixels. An identity matrix with an offset of
    (-1, 0) moves the content one pixel down.
    """
    x = check_images(x, "warp_affine")
    n, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    matrix = np.asarray(matrix, dtype=np.float64)
    offset = np.asarray(offset, dtype=np.float64)
    if matrix.shape != (n, 2, 2) or offset.shape != (n, 2):
        raise ShapeError(
            f"warp_affine: for {n} images expected matrix (N, 2, 2) and offset (N, 2) with "
            f"N={n}; got {matrix.shape} and {offset.shape}"
        )
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij")) - centre[:, None, None]
    source = np.einsum("nij,jhw->nihw", matrix, grid) + (centre + offset)[:, :, None, None]
    return resample(x, source[:, 0], source[:, 1], fill)


def resample(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Bilinear samples of x: (N, [C,] H, W) at per-image positions rows, cols: (N, H, W).

    Outside the image the value is ``fill`` (blended over the last half pixel).
    """
    ndimage = require("scipy.ndimage", "chainrule.data.transforms")
    h, w = x.shape[-2:]
    channels = x.shape[1] if x.ndim == 4 else 1
    # NOTE: one 2-d map_coordinates call over the images stacked into a tall strip, each
    # framed by a one-pixel border of `fill`. Clamping positions into the frame keeps a
    # sample from reaching a neighbouring image; the result equals mode="grid-constant"
    # image by image, and is twice as fast as a 3-d call with the image index as an axis.
    framed = np.pad(x.reshape(-1, h, w), ((0, 0), (1, 1), (1, 1)), constant_values=fill)
    top = np.arange(len(framed))[:, None, None] * (h + 2) + 1
    rows = np.repeat(np.clip(rows, -1, h), channels, axis=0) + top
    cols = np.repeat(np.clip(cols, -1, w), channels, axis=0) + 1
    strip = framed.reshape(-1, w + 2)
    out = ndimage.map_coordinates(strip, np.stack([rows, cols]), order=1, mode="nearest")
    return out.reshape(x.shape)


class Transform:
    """A random batch transform: ``t(x)`` checks x, then ``apply(x, generator)``."""

    def __init__(self, generator: np.random.Generator | None = None) -> None:
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise ArgumentTypeError(
                f"{type(self).__name__}: generator must be a numpy.random.Generator or None; "
                f"got {type(generator).__name__}"
            )
        self.generator = generator

    def __call__(self, x: npt.ArrayLike) -> np.ndarray:
        x = check_images(x, type(self).__name__)
        if x.size == 0:
            return x.copy()  # no image, or no pixel: nothing to draw or move
        generator = self.generator if self.generator is not None else default_generator()
        return self.apply(x, generator)

    def apply(self, x: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class _RandomAffine(Transform):
    """A geometric transform: subclasses draw one (2, 2) sampling matrix and offset per image."""

    def __init__(self, fill: float, generator: np.random.Generator | None) -> None:
        super().__init__(generator)
        self.fill = check_number(fill, "fill", type(self).__name__)

    def is_identity(self) -> bool:
        raise NotImplementedError

    def draw(self, x: np.ndarray, generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def apply(self, x: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        if self.is_identity():
            return x.copy()
        matrix, offset = self.draw(x, generator)
        return warp_affine(x, matrix, offset, self.fill)


def _identities(n: int) -> np.ndarray:
    return np.broadcast_to(np.eye(2), (n, 2, 2))


class RandomTranslation(_RandomAffine):
    """Shift each image by up to ``max_shift`` along rows and columns, independently.

    An int is pixels (whole-pixel shifts, no blurring); a float in [0, 1) is a fraction
    of the height / width (continuous shifts).
    """

    def __init__(
        self,
        max_shift: int | float,
        fill: float = 0.0,
        generator: np.random.Generator | None = None,
    ) -> None:
        super().__init__(fill, generator)
        is_int = isinstance(max_shift, int | np.integer) and not isinstance(max_shift, bool)
        if not (is_int and max_shift >= 0) and not (
            isinstance(max_shift, float) and 0 <= max_shift < 1
        ):
            raise ArgumentError(
                "RandomTranslation: max_shift must be a non-negative int (pixels) or a float "
                f"in [0, 1) (fraction of the image size); got max_shift={max_shift!r}"
            )
        self.max_shift = max_shift

    def is_identity(self) -> bool:
        return self.max_shift == 0

    def draw(self, x: np.ndarray, generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n = len(x)
        if isinstance(self.max_shift, float):
            size = np.array(x.shape[-2:], dtype=np.float64)
            shifts = generator.uniform(-self.max_shift, self.max_shift, size=(n, 2)) * size
        else:
            shifts = generator.integers(-self.max_shift, self.max_shift, size=(n, 2), endpoint=True)
        return _identities(n), -shifts.astype(np.float64)

    def extra_repr(self) -> str:
        return f"max_shift={self.max_shift}"


class RandomRotation(_RandomAffine):
    """Rotate each image about its centre by an angle drawn from [-degrees, degrees]."""

    def __init__(
        self, degrees: float, fill: float = 0.0, generator: np.random.Generator | None = None
    ) -> None:
        super().__init__(fill, generator)
        if not check_number(degrees, "degrees", "RandomRotation") >= 0:
            raise ArgumentError(f"RandomRotation: degrees must be >= 0; got degrees={degrees}")
        self.degrees = float(degrees)

    def is_identity(self) -> bool:
        return self.degrees == 0

    def draw(self, x: np.ndarray, generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        angle = np.radians(generator.uniform(-self.degrees, self.degrees, size=len(x)))
        cos, sin = np.cos(angle), np.sin(angle)
        # (row, col) with rows pointing down: this samples a counterclockwise turn on screen
        matrix = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], axis=1)
        return matrix, np.zeros((len(x), 2))

    def extra_repr(self) -> str:
        return f"degrees={self.degrees}"


class RandomScaling(_RandomAffine):
    """Zoom each image about its centre by a factor drawn from ``scale`` = (low, high); a
    number s means (1 - s, 1 + s), as ``RandomRotation(15)`` means +-15 degrees."""

    def __init__(
        self,
        scale: float | tuple[float, float] = (0.9, 1.1),
        fill: float = 0.0,
        generator: np.random.Generator | None = None,
    ) -> None:
        super().__init__(fill, generator)
        if isinstance(scale, int | float) and not isinstance(scale, bool):
            if not 0 <= scale < 1:
                raise ArgumentError(
                    f"RandomScaling: a single scale s means factors in (1 - s, 1 + s) and must "
                    f"be in [0, 1); got scale={scale!r}"
                )
            scale = (1.0 - scale, 1.0 + scale)
        if not isinstance(scale, tuple | list) or len(scale) != 2:
            raise ArgumentError(
                f"RandomScaling: scale must be a number s (for 1 - s to 1 + s) or a pair "
                f"(low, high); got scale={scale!r}"
            )
        low, high = (check_number(s, "scale", "RandomScaling") for s in scale)
        if not 0 < low <= high:
            raise ArgumentError(
                f"RandomScaling: scale must be (low, high) with 0 < low <= high; got {scale}"
            )
        self.scale = (low, high)

    def is_identity(self) -> bool:
        return self.scale == (1.0, 1.0)

    def draw(self, x: np.ndarray, generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        factor = generator.uniform(*self.scale, size=len(x))
        return _identities(len(x)) / factor[:, None, None], np.zeros((len(x), 2))

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class RandomShear(_RandomAffine):
    """Skew each image horizontally by an angle drawn from [-degrees, degrees] (< 90)."""

    def __init__(
        self, degrees: float, fill: float = 0.0, generator: np.random.Generator | None = None
    ) -> None:
        super().__init__(fill, generator)
        if not 0 <= check_number(degrees, "degrees", "RandomShear") < 90:
            raise ArgumentError(f"RandomShear: degrees must be in [0, 90); got degrees={degrees}")
        self.degrees = float(degrees)

    def is_identity(self) -> bool:
        return self.degrees == 0

    def draw(self, x: np.ndarray, generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        shear = np.tan(np.radians(generator.uniform(-self.degrees, self.degrees, size=len(x))))
        matrix = np.array(_identities(len(x)))
        matrix[:, 1, 0] = -shear  # col_in = col_out - tan(phi) * row_out
        return matrix, np.zeros((len(x), 2))

    def extra_repr(self) -> str:
        return f"degrees={self.degrees}"


class ElasticDistortion(Transform):
    """Simard, Steinkraus & Platt (2003): displace pixels by a smooth random field.

    Per image, displacements uniform in [-1, 1] are smoothed by a Gaussian of std
    ``sigma`` pixels and scaled by ``alpha``; the defaults are the paper's for MNIST.
    """

    def __init__(
        self,
        alpha: float = 34.0,
        sigma: float = 4.0,
        fill: float = 0.0,
        generator: np.random.Generator | None = None,
    ) -> None:
        super().__init__(generator)
        alpha = check_number(alpha, "alpha", "ElasticDistortion")
        sigma = check_number(sigma, "sigma", "ElasticDistortion")
        if not alpha >= 0 or not sigma > 0:
            raise ArgumentError(
                f"ElasticDistortion: needs alpha >= 0 and sigma > 0; got alpha={alpha}, sigma={sigma}"
            )
        self.alpha = alpha
        self.sigma = sigma
        self.fill = check_number(fill, "fill", "ElasticDistortion")

    def apply(self, x: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        if self.alpha == 0:
            return x.copy()
        ndimage = require("scipy.ndimage", "ElasticDistortion")
        n, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        field = generator.uniform(-1.0, 1.0, size=(2 * n, h, w))
        field = self.alpha * ndimage.gaussian_filter(field, sigma=(0, self.sigma, self.sigma))
        rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        return resample(x, rows + field[:n], cols + field[n:], self.fill)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, sigma={self.sigma}"


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, generator: np.random.Generator | None = None) -> None:
        super().__init__(generator)
        if not 0 <= check_number(p, "p", "RandomHorizontalFlip") <= 1:
            raise ArgumentError(f"RandomHorizontalFlip: p must be in [0, 1]; got p={p}")
        self.p = float(p)

    def apply(self, x: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        flip = generator.random(len(x)) < self.p
        return np.where(flip.reshape(-1, *[1] * (x.ndim - 1)), x[..., ::-1], x)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class GaussianNoise(Transform):
    """Add independent Gaussian noise of standard deviation ``std`` to every pixel."""

    def __init__(self, std: float, generator: np.random.Generator | None = None) -> None:
        super().__init__(generator)
        if not check_number(std, "std", "GaussianNoise") >= 0:
            raise ArgumentError(f"GaussianNoise: std must be >= 0; got std={std}")
        self.std = float(std)

    def apply(self, x: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        if self.std == 0:
            return x.copy()
        return x + self.std * generator.standard_normal(x.shape, dtype=x.dtype)

    def extra_repr(self) -> str:
        return f"std={self.std}"


class BrightnessContrast(Transform):
    """Per image, x -> c (x - mean) + mean + b: contrast c and brightness b drawn at random.

    c is uniform in [1 - contrast, 1 + contrast], b in [-brightness, brightness], mean is
    the image's own mean; the result is not clipped.
    """

    def __init__(
        self,
        brightness: float = 0.2,
        contrast: float = 0.2,
        generator: np.random.Generator | None = None,
    ) -> None:
        super().__init__(generator)
        brightness = check_number(brightness, "brightness", "BrightnessContrast")
        contrast = check_number(contrast, "contrast", "BrightnessContrast")
        if not brightness >= 0 or not 0 <= contrast <= 1:
            raise ArgumentError(
                "BrightnessContrast: needs brightness >= 0 and contrast in [0, 1]; "
                f"got brightness={brightness}, contrast={contrast}"
            )
        self.brightness = float(brightness)
        self.contrast = float(contrast)

    def apply(self, x: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        per_image = (len(x), *[1] * (x.ndim - 1))
        b = generator.uniform(-self.brightness, self.brightness, per_image).astype(x.dtype)
        c_minus_1 = generator.uniform(-self.contrast, self.contrast, per_image).astype(x.dtype)
        mean = x.mean(axis=tuple(range(1, x.ndim)), keepdims=True)
        # written as x + ..., so that b = 0 and c = 1 give x back exactly
        return x + c_minus_1 * (x - mean) + b

    def extra_repr(self) -> str:
        return f"brightness={self.brightness}, contrast={self.contrast}"


class Compose:
    """Apply ``transforms`` one after another: Compose([RandomRotation(10), GaussianNoise(0.1)])."""

    def __init__(self, transforms: Sequence[Callable[[np.ndarray], np.ndarray]]) -> None:
        transforms = list(transforms)
        for t in transforms:
            if not callable(t):
                raise ArgumentTypeError(f"Compose: every transform must be callable; got {t!r}")
        self.transforms = transforms

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return f"Compose([{', '.join(repr(t) for t in self.transforms)}])"


def expand_by_shifts(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Nielsen's expansion: each image plus its one-pixel shifts up, down, left, right.

    x: (N, [C,] H, W) -> (5N, [C,] H, W), blocks in that order (original first), the
    uncovered row or column zero; y: (N, ...) -> (5N, ...), repeated to match.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim not in (3, 4):
        raise ShapeError(
            f"expand_by_shifts takes images (N, H, W) or (N, C, H, W); got shape {x.shape}"
        )
    if y.ndim == 0 or len(y) != len(x):
        raise ShapeError(
            f"expand_by_shifts: got {len(x)} images and labels of shape {y.shape}; "
            "expected one label per image"
        )
    out = np.zeros((5, *x.shape), dtype=x.dtype)
    out[0] = x
    out[1, ..., :-1, :] = x[..., 1:, :]  # up
    out[2, ..., 1:, :] = x[..., :-1, :]  # down
    out[3, ..., :-1] = x[..., 1:]  # left
    out[4, ..., 1:] = x[..., :-1]  # right
    return out.reshape(5 * len(x), *x.shape[1:]), np.concatenate([y] * 5)
