"""Batch augmentations: shapes, dtypes, identities, known moves, reproducibility."""

import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import DataLoader, TensorDataset
from chainrule.data import transforms as T
from chainrule.errors import ArgumentError, DTypeError, ShapeError

RANDOM_TRANSFORMS = [
    T.RandomTranslation(2),
    T.RandomTranslation(0.1),
    T.RandomRotation(15),
    T.RandomScaling((0.8, 1.2)),
    T.RandomShear(20),
    T.ElasticDistortion(34, 4),
    T.RandomHorizontalFlip(0.5),
    T.GaussianNoise(0.1),
    T.BrightnessContrast(0.2, 0.3),
    T.Compose([T.RandomRotation(10), T.GaussianNoise(0.05)]),
]
IDENTITIES = [
    T.RandomTranslation(0),
    T.RandomTranslation(0.0),
    T.RandomRotation(0),
    T.RandomScaling((1.0, 1.0)),
    T.RandomShear(0),
    T.ElasticDistortion(alpha=0.0),
    T.RandomHorizontalFlip(0.0),
    T.GaussianNoise(0.0),
    T.BrightnessContrast(0.0, 0.0),
]


def images(shape=(16, 12, 12), dtype=np.float32, seed=0):
    return np.random.default_rng(seed).random(shape).astype(dtype)


def shift(x, rows, cols):
    """x moved down by `rows` and right by `cols` (negative: up/left), zero-filled."""
    out = np.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(rows, 0) : h + min(rows, 0), max(cols, 0) : w + min(cols, 0)] = x[
        ..., max(-rows, 0) : h + min(-rows, 0), max(-cols, 0) : w + min(-cols, 0)
    ]
    return out


@pytest.mark.parametrize("transform", RANDOM_TRANSFORMS, ids=repr)
@pytest.mark.parametrize("shape", [(16, 12, 12), (5, 3, 10, 9)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_keeps_shape_and_dtype_and_changes_the_batch(transform, shape, dtype):
    x = images(shape, dtype)
    out = transform(x)
    assert out.shape == x.shape and out.dtype == dtype
    assert not np.array_equal(out, x)
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("transform", IDENTITIES, ids=repr)
def test_do_nothing_parameters_return_the_input_bit_for_bit(transform):
    x = images((4, 2, 9, 9))
    out = transform(x)
    assert out is not x
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("transform", RANDOM_TRANSFORMS, ids=repr)
def test_seeded_transform_is_reproducible(transform):
    x = images()
    cr.manual_seed(7)
    a = transform(x)
    cr.manual_seed(7)
    b = transform(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, transform(x))


def test_own_generator_makes_a_transform_reproducible():
    x = images()
    a = T.RandomRotation(30, generator=np.random.default_rng(3))(x)
    b = T.RandomRotation(30, generator=np.random.default_rng(3))(x)
    np.testing.assert_array_equal(a, b)


def test_identity_warp_is_exact_and_a_unit_offset_moves_one_pixel():
    x = images((3, 2, 7, 8))
    eye = np.broadcast_to(np.eye(2), (3, 2, 2))
    np.testing.assert_array_equal(T.warp_affine(x, eye, np.zeros((3, 2))), x)
    down = T.warp_affine(x, eye, np.tile([-1.0, 0.0], (3, 1)))
    np.testing.assert_array_equal(down, shift(x, 1, 0))
    left = T.warp_affine(x, eye, np.tile([0.0, 1.0], (3, 1)))
    np.testing.assert_array_equal(left, shift(x, 0, -1))


def test_images_never_mix_in_the_batched_resampling():
    x = np.zeros((3, 6, 6), dtype=np.float32)
    x[1] = 1.0  # the middle image is bright; shifting its neighbours must not pull it in
    out = T.warp_affine(x, np.broadcast_to(np.eye(2), (3, 2, 2)), [[3.5, 0], [0, 0], [-3.5, 0]])
    np.testing.assert_array_equal(out[[0, 2]], 0)
    np.testing.assert_array_equal(out[1], 1)


def test_one_pixel_translation_moves_a_known_image_by_one_pixel():
    x = np.zeros((200, 7, 7), dtype=np.float32)
    x[:, 3, 3] = 1.0
    x[:, 2, 4] = 0.5
    out = T.RandomTranslation(1)(x)
    candidates = {(r, c): shift(x[0], r, c) for r in (-1, 0, 1) for c in (-1, 0, 1)}
    seen = set()
    for image in out:
        matches = [move for move, moved in candidates.items() if np.array_equal(image, moved)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(candidates)


def test_rotation_by_90_degrees_turns_counterclockwise():
    x = np.zeros((1, 5, 5), dtype=np.float32)
    x[0, 0, 2] = 1.0  # top centre
    out = T.warp_affine(x, [[[0.0, 1.0], [-1.0, 0.0]]], [[0.0, 0.0]])
    expected = np.zeros((5, 5), dtype=np.float32)
    expected[2, 0] = 1.0  # left centre
    np.testing.assert_allclose(out[0], expected, atol=1e-12)


def test_rotation_keeps_the_mass_of_a_centred_blob():
    yy, xx = np.mgrid[:21, :21]
    blob = np.exp(-((yy - 10.0) ** 2 + (xx - 10.0) ** 2) / 8.0)[None].astype(np.float32)
    out = T.RandomRotation(180)(np.repeat(blob, 8, axis=0))
    np.testing.assert_allclose(out.sum(axis=(1, 2)), blob.sum(), rtol=1e-2)


def test_fill_is_used_for_pixels_from_outside():
    x = np.ones((4, 6, 6), dtype=np.float32)
    out = T.RandomScaling((0.5, 0.5), fill=-1.0)(x)
    assert out[:, 0, 0].tolist() == [-1.0] * 4
    assert out[:, 3, 3].tolist() == [1.0] * 4


def test_elastic_distortion_moves_pixels_by_about_a_pixel_or_two():
    columns = np.broadcast_to(np.arange(28.0), (32, 28, 28))
    ramp = np.array(columns)  # value = column index
    out = T.ElasticDistortion(alpha=34.0, sigma=4.0)(ramp)
    displacement = np.abs(out - ramp)[:, 4:-4, 4:-4]
    assert 0.2 < displacement.mean() < 3.0


def test_flip_mirrors_the_chosen_images_exactly():
    x = images((50, 3, 4, 5))
    out = T.RandomHorizontalFlip(0.5)(x)
    flipped = np.array([np.array_equal(o, i[..., ::-1]) for o, i in zip(out, x)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert np.all(flipped ^ kept) and 10 < flipped.sum() < 40


def test_noise_has_the_requested_std():
    x = np.zeros((100, 20, 20), dtype=np.float32)
    out = T.GaussianNoise(0.3)(x)
    assert abs(out.std() - 0.3) < 0.01 and abs(out.mean()) < 0.01


def test_brightness_contrast_acts_per_image_around_its_mean():
    x = images((30, 8, 8))
    out = T.BrightnessContrast(brightness=0.0, contrast=0.5)(x)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=1e-5)
    ratio = out.std(axis=(1, 2)) / x.std(axis=(1, 2))
    assert np.all((ratio >= 0.5 - 1e-5) & (ratio <= 1.5 + 1e-5)) and ratio.std() > 0.05
    shifted = T.BrightnessContrast(brightness=0.4, contrast=0.0)(x)
    offset = (shifted - x).reshape(30, -1)
    np.testing.assert_allclose(offset, offset[:, :1].repeat(64, axis=1), atol=1e-6)
    assert np.all(np.abs(offset) <= 0.4 + 1e-6)


def test_transform_in_a_loader_keeps_labels_with_their_images():
    x = np.zeros((20, 5, 5), dtype=np.float32)
    x[np.arange(20), 2, 2] = np.arange(20)  # the bright centre pixel holds the label
    loader = DataLoader(
        TensorDataset(x, np.arange(20)), 8, shuffle=True, transform=T.RandomTranslation(1)
    )
    for xb, yb in loader:
        assert xb.shape[1:] == (5, 5) and xb.dtype == cr.float32
        np.testing.assert_array_equal(xb.numpy().max(axis=(1, 2)), yb.numpy())


def test_expand_by_shifts_gives_five_copies_with_one_pixel_moves():
    x = images((4, 6, 7))
    y = np.array([3, 1, 4, 1])
    big_x, big_y = T.expand_by_shifts(x, y)
    assert big_x.shape == (20, 6, 7) and big_y.shape == (20,)
    np.testing.assert_array_equal(big_y, np.tile(y, 5))
    blocks = big_x.reshape(5, 4, 6, 7)
    np.testing.assert_array_equal(blocks[0], x)
    np.testing.assert_array_equal(blocks[1], shift(x, -1, 0))  # up
    np.testing.assert_array_equal(blocks[2], shift(x, 1, 0))  # down
    np.testing.assert_array_equal(blocks[3], shift(x, 0, -1))  # left
    np.testing.assert_array_equal(blocks[4], shift(x, 0, 1))  # right


def test_expand_by_shifts_takes_uint8_and_channels():
    x = np.arange(2 * 3 * 4 * 4).reshape(2, 3, 4, 4).astype(np.uint8)
    big_x, _ = T.expand_by_shifts(x, np.array([0, 1]))
    assert big_x.shape == (10, 3, 4, 4) and big_x.dtype == np.uint8
    with pytest.raises(ShapeError, match="one label per image"):
        T.expand_by_shifts(x, np.array([0, 1, 2]))


def test_transforms_reject_bad_input_and_arguments():
    with pytest.raises(ShapeError, match=r"\(N, H, W\) or \(N, C, H, W\); got shape \(28, 28\)"):
        T.RandomRotation(10)(np.zeros((28, 28), dtype=np.float32))
    with pytest.raises(DTypeError, match=r"uint8.*scale_to_unit"):
        T.GaussianNoise(0.1)(np.zeros((2, 28, 28), dtype=np.uint8))
    with pytest.raises(ArgumentError, match="max_shift"):
        T.RandomTranslation(1.5)
    with pytest.raises(ArgumentError, match="degrees"):
        T.RandomRotation(-5)
    with pytest.raises(ArgumentError, match="sigma"):
        T.ElasticDistortion(alpha=1.0, sigma=0.0)
    with pytest.raises(ArgumentError, match="scale"):
        T.RandomScaling((1.2, 0.8))
    with pytest.raises(ShapeError, match="matrix"):
        T.warp_affine(images((2, 4, 4)), np.eye(2), np.zeros(2))


def test_missing_scipy_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.ndimage", None)
    with pytest.raises(ImportError, match=r"scipy.*chainrule\[data\]"):
        T.RandomRotation(10)(images())
