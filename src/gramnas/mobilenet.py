"""MobileNetV2 for 32x32 input at any MAC budget: the fair hand-designed baseline.

torchvision's MobileNetV2 is an ImageNet network: on 32x32 input its five
stride-2 stages leave a 1x1 map. CIFAR work uses a stride-adjusted variant
(stride-1 stem, second stage at stride 1, as in the common kuangliu/pytorch-cifar
model), which keeps a 4x4 map before pooling. Its width multiplier is chosen by
:func:`width_for_macs` so that it costs what the SwiftNet it is compared with
costs.
"""

from __future__ import annotations

from torch import nn
from torchvision.models import MobileNetV2
from torchvision.ops.misc import Conv2dNormActivation

from gramnas.counting import count_with_hooks
from gramnas.errors import field_error

# expansion t, channels c, repeats n, first stride s (torchvision's table, strides for 32x32)
CIFAR_SETTING = [
    [1, 16, 1, 1],
    [6, 24, 2, 1],  # ImageNet: stride 2
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
]
WIDTH_RANGE = (0.05, 3.0)


def cifar_mobilenet_v2(
    width_mult: float = 1.0,
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: int | None = None,
) -> MobileNetV2:
    """MobileNetV2 with a stride-1 stem and stride-1 second stage (total stride 8).

    Fully convolutional: ``input_size`` is accepted, as by every model factory
    that ``src/train.py`` instantiates, and not needed.
    """
    if not WIDTH_RANGE[0] <= width_mult <= WIDTH_RANGE[1]:
        raise field_error("model.width_mult", f"must be in {WIDTH_RANGE}, got {width_mult!r}")
    model = MobileNetV2(
        num_classes=num_classes, width_mult=width_mult, inverted_residual_setting=CIFAR_SETTING
    )
    stem = model.features[0]
    model.features[0] = Conv2dNormActivation(
        in_channels,
        stem[0].out_channels,
        stride=1,
        norm_layer=nn.BatchNorm2d,
        activation_layer=nn.ReLU6,
    )
    return model


def width_for_macs(
    macs: int,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    step: float = 0.01,
) -> float:
    """The width multiplier (a multiple of ``step``) whose model's MACs come closest to ``macs``.

    MACs grow with the width (channels round to multiples of 8, so in steps),
    which makes a bisection followed by a look at both neighbours enough.
    """

    def cost(width: float) -> int:
        model = cifar_mobilenet_v2(width, input_shape[0], num_classes)
        return count_with_hooks(model, input_shape)[0]

    low, high = round(WIDTH_RANGE[0] / step), round(WIDTH_RANGE[1] / step)
    if cost(low * step) > macs:
        raise field_error(
            "macs",
            f"{macs / 1e6:.2f} MMACs is below the narrowest MobileNetV2 ({cost(low * step) / 1e6:.2f})",
        )
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if cost(mid * step) <= macs else (low, mid)
    return round(min((low, high), key=lambda k: abs(cost(k * step) - macs)) * step, 4)
