"""The origin report's four convolutional autoencoders, layer for layer.

At 224 x 224 input (parameter counts are asserted by the tests):

* model1: 5 x [conv 3x3, ReLU, max-pool 2]  3-64-128-256-512-512 -> latent (512, 7, 7);
  decoder 5 x [transposed conv 2/2, ReLU]. Encoder 3,910,784, decoder 1,738,435.
* model2: model1's encoder + [conv 3x3 512-1024, ReLU, max-pool 2] -> latent (1024, 3, 3);
  decoder: transposed conv 3/2 1024-512, then 2/2 convs 512-512-256-128-64-3, ReLU after
  each. Encoder 8,630,400, decoder 6,457,539.
* model3: model2 with every max-pool replaced by a learned stride-2 convolution (C->C,
  kernel 2), after Turchenko et al. 2017; same decoder as model2.
* model4: 6 x [conv 3x3, ReLU, max-pool 3/2] 3-64-128-256-512-512-1024: 224 -> 111 -> 55
  -> 27 -> 13 -> 6 -> 2, latent (1024, 2, 2); decoder 6 x [transposed conv 3/2, ReLU] with
  output padding 1 on the first and last: 2 -> 6 -> 13 -> 27 -> 55 -> 111 -> 224.
  Encoder 8,630,400, decoder 8,629,379.

The last decoder layer is a ReLU, so the reconstruction target is the image in [0, 1].
Weights start from He initialisation with zero biases. With PyTorch's default
initialisation, model4's final ReLU outputs zero everywhere on dark images such as
Fashion-MNIST from the first step, so no gradient flows and it never trains (measured:
loss flat at 0.1953 for 12 epochs at 64 px); He initialisation keeps the signal alive
through the twelve ReLU layers, and it trains the other models faster too.
At other input sizes the latent shrinks; when the decoder's output size differs from the
input it is resized to it (bilinear) before the loss.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F

from lookalike.errors import InvalidOptionError

ARCHS = ("model1", "model2", "model3", "model4")
_WIDTHS = (3, 64, 128, 256, 512, 512, 1024)


def _conv_block(cin: int, cout: int, down: nn.Module) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True), down]


def _encoder(arch: str, ceil: bool = False) -> nn.Sequential:
    depth = 5 if arch == "model1" else 6
    layers: list[nn.Module] = []
    for cin, cout in itertools.pairwise(_WIDTHS[: depth + 1]):
        if arch == "model3":
            down: nn.Module = nn.Conv2d(cout, cout, 2, stride=2)
        elif arch == "model4":
            down = nn.MaxPool2d(3, stride=2, ceil_mode=ceil)
        else:
            down = nn.MaxPool2d(2, stride=2)
        layers += _conv_block(cin, cout, down)
    return nn.Sequential(*layers)


def _up(cin: int, cout: int, k: int, out_pad: int = 0) -> list[nn.Module]:
    return [
        nn.ConvTranspose2d(cin, cout, k, stride=2, output_padding=out_pad),
        nn.ReLU(inplace=True),
    ]


def _decoder(arch: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    if arch == "model1":
        for cin, cout in ((512, 512), (512, 256), (256, 128), (128, 64), (64, 3)):
            layers += _up(cin, cout, 2)
    elif arch in ("model2", "model3"):
        layers += _up(1024, 512, 3)
        for cin, cout in ((512, 512), (512, 256), (256, 128), (128, 64), (64, 3)):
            layers += _up(cin, cout, 2)
    else:
        chans = ((1024, 512), (512, 512), (512, 256), (256, 128), (128, 64), (64, 3))
        for i, (cin, cout) in enumerate(chans):
            layers += _up(cin, cout, 3, out_pad=1 if i in (0, len(chans) - 1) else 0)
    return nn.Sequential(*layers)


class ConvAutoencoder(nn.Module):
    """Encoder, latent feature map, decoder; ``forward`` returns the reconstruction."""

    def __init__(self, arch: str = "model2", image_size: int = 224) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise InvalidOptionError(f"arch must be one of {', '.join(ARCHS)}, not {arch!r}")
        self.arch = arch
        self.image_size = int(image_size)
        # model4's six 3/2 pools leave nothing of an input under ~190 px; there they round
        # up (ceil mode), which keeps 224 px exactly as the report has it.
        self.ceil = arch == "model4" and not _fits(arch, self.image_size)
        latent_shape(arch, self.image_size)  # a clear error if still too small
        self.encoder = _encoder(arch, self.ceil)
        self.decoder = _decoder(arch)
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
                # fan_out of a transposed convolution is its input side
                mode = "fan_in" if isinstance(layer, nn.Conv2d) else "fan_out"
                nn.init.kaiming_normal_(layer.weight, mode=mode, nonlinearity="relu")
                nn.init.zeros_(layer.bias)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The latent feature map."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.decoder(self.encoder(x))
        if out.shape[-2:] != x.shape[-2:]:
            out = F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return out


def _fits(arch: str, size: int, ceil: bool = False) -> bool:
    try:
        latent_shape(arch, size, ceil=ceil)
    except ValueError:
        return False
    return True


def latent_shape(arch: str, size: int, *, ceil: bool | None = None) -> tuple[int, int, int]:
    """(channels, height, width) of the latent at a square input of ``size``; raises a
    clear error when the input is too small for the architecture."""
    if ceil is None:
        ceil = arch == "model4" and not _fits(arch, size, ceil=False)
    s = size
    for _ in range(5 if arch == "model1" else 6):
        if arch == "model4":
            s = -(-(s - 3) // 2) + 1 if ceil else (s - 3) // 2 + 1
        else:
            s //= 2
        if s < 1:
            raise InvalidOptionError(f"{arch} needs a larger --image-size than {size}")
    return (512 if arch == "model1" else 1024, s, s)


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
