"""``Autoencoder``: an encoder and a decoder trained to give back their input, for
pre-training without labels; ``noise`` makes it a denoising autoencoder."""

from __future__ import annotations

from chainrule import backend
from chainrule.autograd.tensor import Tensor
from chainrule.checks import check_number
from chainrule.errors import ArgumentError, ArgumentTypeError
from chainrule.nn.module import Module
from chainrule.ops._operands import as_tensor
from chainrule.ops.loss import mse_loss
from chainrule.ops.shape import reshape

CORRUPTIONS = ("gaussian", "mask")


class Autoencoder(Module):
    """x (N, ...) -> decoder(encoder(x)) (N, D): the reconstruction, flat or in x's shape.

    Denoising (Vincent et al., 2008): with ``noise`` > 0 the input is corrupted in
    training mode only, by Gaussian noise of standard deviation ``noise``
    (``corruption="gaussian"``) or by zeroing each input element with probability
    ``noise`` (``"mask"``); the target stays the clean input. ``encode(x)`` gives the
    code, and ``encoder`` is an ordinary module, to reuse in a classifier.
    """

    def __init__(
        self, encoder: Module, decoder: Module, noise: float = 0.0, corruption: str = "gaussian"
    ) -> None:
        super().__init__()
        for name, part in (("encoder", encoder), ("decoder", decoder)):
            if not isinstance(part, Module):
                raise ArgumentTypeError(
                    f"Autoencoder: {name} must be a Module; got {type(part).__name__}"
                )
        if corruption not in CORRUPTIONS:
            raise ArgumentError(
                f"Autoencoder: corruption must be one of {CORRUPTIONS}; got {corruption!r}"
            )
        noise = check_number(noise, "noise", "Autoencoder")
        if noise < 0 or (corruption == "mask" and noise >= 1):
            expected = "in [0, 1)" if corruption == "mask" else ">= 0"
            raise ArgumentError(f"Autoencoder: noise must be {expected}; got noise={noise}")
        self.encoder, self.decoder = encoder, decoder
        self.noise, self.corruption = float(noise), corruption

    def corrupt(self, x: Tensor) -> Tensor:
        """The input as the encoder sees it in training: x plus noise, or x with a mask."""
        if not self.noise:
            return x
        generator = backend.default_generator()
        shape, dtype = tuple(x.shape), x.dtype
        if self.corruption == "gaussian":
            draw = generator.standard_normal(shape).astype(dtype) * self.noise
            return x + Tensor(backend.to_device(draw, x.device))
        keep = (generator.random(shape) >= self.noise).astype(dtype)
        return x * Tensor(backend.to_device(keep, x.device))

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(as_tensor(x))

    def forward(self, x: Tensor) -> Tensor:
        x = as_tensor(x)
        if self.training:
            x = self.corrupt(x)
        return self.decoder(self.encoder(x))

    def extra_repr(self) -> str:
        return f"noise={self.noise}, corruption={self.corruption!r}" if self.noise else ""


def reconstruction_loss(reconstruction: Tensor, x: Tensor) -> Tensor:
    """Mean squared error between a reconstruction (N, D) or (N, ...) and the clean input x
    of the same size, whatever its shape (images (N, C, H, W) are compared flat)."""
    reconstruction, x = as_tensor(reconstruction), as_tensor(x)
    if reconstruction.size != x.size or len(reconstruction) != len(x):
        raise ArgumentError(
            f"reconstruction_loss: the reconstruction {tuple(reconstruction.shape)} and the "
            f"input {tuple(x.shape)} must hold as many values per sample"
        )
    return mse_loss(reshape(reconstruction, (len(x), -1)), reshape(x, (len(x), -1)))
