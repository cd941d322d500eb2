"""Conv layer lists of the Caffe-FPGA paper's benchmark networks, at full size.

DiCecco et al., "Caffeinated FPGAs" (FPT 2016) ran AlexNet, GoogLeNet, VGG A
and OverFeat with their 3x3 convolutions on a Virtex-7 Winograd engine (50
GFLOPS, 32-bit float). The layers below are the convolutions of those
networks, batch 1, as published:

* ``alexnet``: Caffe's BVLC AlexNet (227x227 input); conv2, conv4 and conv5
  are grouped (``groups=2``), as in the two-GPU original.
* ``googlenet``: Caffe's BVLC GoogLeNet (Inception v1, 224x224): stem and
  nine inception modules (1x1, 3x3 reduce + 3x3, 5x5 reduce + 5x5, pool
  projection).
* ``vgg-a``: VGG model A (11 weight layers, 224x224): eight 3x3 pad-1 convs.
* ``overfeat``: OverFeat "fast" (231x231), as in the convnet-benchmarks suite.

Pooling, LRN and fully connected layers are not listed: the paper's figure is
over 3x3 convolutions, and the engine projection (:mod:`winnow.runtime.projection`)
is over conv layers. Shares of direct-convolution MACs in 3x3 stride-1 layers
(checked in the tests): VGG-A 100%, OverFeat 82.7%, GoogLeNet 60.9%, AlexNet
50.5%.
"""

from __future__ import annotations

from dataclasses import dataclass

from winnow.hls.errors import WinnowParameterError


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


@dataclass(frozen=True)
class Conv:
    """One conv layer ``x[n, c, h, w] -> y[n, k, ho, wo]``.

    ``kernel``, ``stride`` and ``dilation`` are an int or ``(y, x)``; ``pad`` an int or
    ONNX-order ``(top, left, bottom, right)``; they are stored as tuples.
    """

    name: str
    c: int
    h: int
    w: int
    k: int
    kernel: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    pad: int | tuple[int, int, int, int] = 0
    groups: int = 1
    n: int = 1
    dilation: int | tuple[int, int] = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel", _pair(self.kernel))
        object.__setattr__(self, "stride", _pair(self.stride))
        object.__setattr__(self, "dilation", _pair(self.dilation))
        p = self.pad
        object.__setattr__(self, "pad", (p, p, p, p) if isinstance(p, int) else tuple(p))
        if self.groups < 1 or self.c % self.groups or self.k % self.groups:
            raise WinnowParameterError(
                f"{self.name}: groups={self.groups} must divide C={self.c} and K={self.k}")
        if self.ho < 1 or self.wo < 1:
            raise WinnowParameterError(f"{self.name}: output would be {self.ho}x{self.wo}")

    def _out(self, size: int, axis: int) -> int:
        span = self.dilation[axis] * (self.kernel[axis] - 1) + 1
        return (size + self.pad[axis] + self.pad[axis + 2] - span) // self.stride[axis] + 1

    @property
    def ho(self) -> int:
        return self._out(self.h, 0)

    @property
    def wo(self) -> int:
        return self._out(self.w, 1)

    @property
    def macs(self) -> int:
        """Direct-convolution multiply-accumulates (2 ops each)."""
        kh, kw = self.kernel
        return self.n * self.k * (self.c // self.groups) * kh * kw * self.ho * self.wo

    def shape(self) -> str:
        kh, kw = self.kernel
        g = f" g{self.groups}" if self.groups > 1 else ""
        s = f"/{self.stride[0]}" if self.stride != (1, 1) else ""
        p = self.pad[0] if len(set(self.pad)) == 1 else ",".join(map(str, self.pad))
        return f"{self.c}x{self.h}x{self.w} -> {self.k}, {kh}x{kw}{s} p{p}{g}"


def _inception(name: str, c: int, hw: int, b1: int, r3: int, b3: int, r5: int, b5: int,
               pp: int) -> tuple[list[Conv], int]:
    layers = [Conv(f"{name}/1x1", c, hw, hw, b1, 1),
              Conv(f"{name}/3x3_reduce", c, hw, hw, r3, 1),
              Conv(f"{name}/3x3", r3, hw, hw, b3, 3, pad=1),
              Conv(f"{name}/5x5_reduce", c, hw, hw, r5, 1),
              Conv(f"{name}/5x5", r5, hw, hw, b5, 5, pad=2),
              Conv(f"{name}/pool_proj", c, hw, hw, pp, 1)]
    return layers, b1 + b3 + b5 + pp


def _googlenet() -> list[Conv]:
    layers = [Conv("conv1/7x7_s2", 3, 224, 224, 64, 7, stride=2, pad=3),
              Conv("conv2/3x3_reduce", 64, 56, 56, 64, 1),
              Conv("conv2/3x3", 64, 56, 56, 192, 3, pad=1)]
    c = 192
    for name, hw, *branches in (
            ("inception_3a", 28, 64, 96, 128, 16, 32, 32),
            ("inception_3b", 28, 128, 128, 192, 32, 96, 64),
            ("inception_4a", 14, 192, 96, 208, 16, 48, 64),
            ("inception_4b", 14, 160, 112, 224, 24, 64, 64),
            ("inception_4c", 14, 128, 128, 256, 24, 64, 64),
            ("inception_4d", 14, 112, 144, 288, 32, 64, 64),
            ("inception_4e", 14, 256, 160, 320, 32, 128, 128),
            ("inception_5a", 7, 256, 160, 320, 32, 128, 128),
            ("inception_5b", 7, 384, 192, 384, 48, 128, 128)):
        mod, c = _inception(name, c, hw, *branches)
        layers += mod
    return layers


NETWORKS: dict[str, tuple[Conv, ...]] = {
    "alexnet": (
        Conv("conv1", 3, 227, 227, 96, 11, stride=4),
        Conv("conv2", 96, 27, 27, 256, 5, pad=2, groups=2),
        Conv("conv3", 256, 13, 13, 384, 3, pad=1),
        Conv("conv4", 384, 13, 13, 384, 3, pad=1, groups=2),
        Conv("conv5", 384, 13, 13, 256, 3, pad=1, groups=2),
    ),
    "googlenet": tuple(_googlenet()),
    "vgg-a": (
        Conv("conv1_1", 3, 224, 224, 64, 3, pad=1),
        Conv("conv2_1", 64, 112, 112, 128, 3, pad=1),
        Conv("conv3_1", 128, 56, 56, 256, 3, pad=1),
        Conv("conv3_2", 256, 56, 56, 256, 3, pad=1),
        Conv("conv4_1", 256, 28, 28, 512, 3, pad=1),
        Conv("conv4_2", 512, 28, 28, 512, 3, pad=1),
        Conv("conv5_1", 512, 14, 14, 512, 3, pad=1),
        Conv("conv5_2", 512, 14, 14, 512, 3, pad=1),
    ),
    "overfeat": (
        Conv("conv1", 3, 231, 231, 96, 11, stride=4),
        Conv("conv2", 96, 28, 28, 256, 5),
        Conv("conv3", 256, 12, 12, 512, 3, pad=1),
        Conv("conv4", 512, 12, 12, 1024, 3, pad=1),
        Conv("conv5", 1024, 12, 12, 1024, 3, pad=1),
    ),
}

#: The paper's reported throughput over 3x3 convolutions (32-bit float, Virtex-7).
PAPER_GFLOPS = 50.0
PAPER_REF = 'DiCecco et al., "Caffeinated FPGAs: FPGA Framework for CNNs", FPT 2016'


def network(name: str) -> tuple[Conv, ...]:
    """The conv layers of a benchmark network by name (case-insensitive)."""
    key = name.lower()
    if key not in NETWORKS:
        raise WinnowParameterError(
            f"unknown network {name!r}; known: {', '.join(sorted(NETWORKS))}")
    return NETWORKS[key]
