# Copyright 2026 mono_depth_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""The paper's networks: DispNet for depth and the ego-motion network.

Images enter both networks as ``float`` tensors in ``[0, 1]``. Batch norm follows every
hidden convolution (as in the paper); call ``.eval()`` for inference so that it uses its
running statistics - the networks never look at ``training`` anywhere else.

May import: torch, numpy, scipy, safetensors and other ``mono_depth_ros.core`` modules.
"""

from __future__ import annotations

from typing import List, Tuple

from mono_depth_ros.core.checks import check_shape
from mono_depth_ros.core.config import ModelConfig
import torch
from torch import nn
import torch.nn.functional as F

__all__ = ['DispNet', 'EgoMotionNet', 'build_networks', 'disparity_to_depth',
           'train_on_running_statistics']

DISP_SCALE = 10.0
MIN_DISP = 0.01
_ENCODER = ((32, 7), (64, 5), (128, 3), (256, 3), (512, 3), (512, 3), (512, 3))
_DECODER = (512, 512, 256, 128, 64, 32, 16)
_EGOMOTION = ((16, 7), (32, 5), (64, 3), (128, 3), (256, 3), (256, 3), (256, 3))


def _channels(base: int, multiplier: float) -> int:
    return max(4, int(round(base * multiplier)))


def _conv(cin: int, cout: int, kernel: int, stride: int, batch_norm: bool) -> nn.Sequential:
    layers: List[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2,
                                         bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _init_without_batch_norm(module: nn.Module) -> None:
    """He initialisation for a ReLU stack without batch norm (zero biases).

    torch's default initialisation shrinks the signal by about sqrt(3) per layer; seven
    stride-2 layers without batch norm then give an almost constant output whose gradients
    vanish (measured: the ego-motion network predicted the same 4 mm for every snippet
    after 300 joint training steps). Batch-normalised stacks keep torch's default.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity='relu')
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def _upconv(cin: int, cout: int, batch_norm: bool) -> nn.Sequential:
    layers: List[nn.Module] = [nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1,
                                                  bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _normalise(images: torch.Tensor) -> torch.Tensor:
    return (images - 0.45) / 0.225


def _resize_like(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    if x.shape[-2:] == ref.shape[-2:]:
        return x
    return F.interpolate(x, size=ref.shape[-2:], mode='nearest')


def disparity_to_depth(disparity: torch.Tensor) -> torch.Tensor:
    """Depth ``1 / disparity`` (any shape); DispNet keeps disparity above its floor."""
    return 1.0 / disparity


class DispNet(nn.Module):
    """Depth network: 7-stage encoder, skip decoder, 4 disparity heads.

    ``forward(images)`` takes images of shape ``(B, 3, H, W)`` in ``[0, 1]`` and returns a
    list of 4 disparities, finest first: shapes ``(B, 1, H / 2**s, W / 2**s)`` for
    ``s = 0..3`` (sizes rounded up where ``H`` or ``W`` is not a multiple of 8). Disparity
    is ``10 * sigmoid(x) + min_disparity`` (the paper: 0.01); depth is its inverse, so the
    farthest depth the network can give is ``1 / min_disparity`` in its own unit.

    Example:
        >>> net = DispNet(width=0.25).eval()
        >>> [d.shape[-1] for d in net(torch.rand(1, 3, 128, 416))]
        [416, 208, 104, 52]

    """

    def __init__(self, width: float = 1.0, batch_norm: bool = True,
                 min_disparity: float = MIN_DISP) -> None:
        """Build the layers; ``width`` multiplies every channel count."""
        super().__init__()
        self.min_disparity = float(min_disparity)
        enc = [(_channels(c, width), k) for c, k in _ENCODER]
        dec = [_channels(c, width) for c in _DECODER]
        self.encoder = nn.ModuleList()
        cin = 3
        for cout, kernel in enc:
            self.encoder.append(nn.Sequential(_conv(cin, cout, kernel, 2, batch_norm),
                                              _conv(cout, cout, kernel, 1, batch_norm)))
            cin = cout
        skips = [c for c, _ in enc[:-1]][::-1] + [0]  # conv6b ... conv1b, then none
        self.upconvs = nn.ModuleList()
        self.iconvs = nn.ModuleList()
        self.heads = nn.ModuleDict()
        cin = enc[-1][0]
        for level, cout in enumerate(dec):  # level 0 = upconv7 ... level 6 = upconv1
            self.upconvs.append(_upconv(cin, cout, batch_norm))
            extra_disp = 1 if level >= 4 else 0  # iconv3, iconv2, iconv1 see the coarser disp
            self.iconvs.append(_conv(cout + skips[level] + extra_disp, cout, 3, 1,
                                     batch_norm))
            if level >= 3:  # iconv4 ... iconv1 carry a disparity head
                self.heads[str(level)] = nn.Conv2d(cout, 1, 3, 1, 1)
            cin = cout

    def forward(self, images: torch.Tensor) -> List[torch.Tensor]:
        """Disparities at 4 scales, finest first (see the class docstring)."""
        check_shape(images, ('B', 3, 'H', 'W'), 'images')
        x = _normalise(images)
        features = []
        for stage in self.encoder:
            x = stage(x)
            features.append(x)
        skips = features[:-1][::-1] + [images]  # the last "skip" only fixes the output size
        disparities: List[torch.Tensor] = []
        for level, (upconv, iconv) in enumerate(zip(self.upconvs, self.iconvs)):
            x = _resize_like(upconv(x), skips[level])
            parts = [x] if level == 6 else [x, skips[level]]
            if level >= 4:
                parts.append(F.interpolate(disparities[-1], size=x.shape[-2:],
                                           mode='bilinear', align_corners=False))
            x = iconv(torch.cat(parts, dim=1))
            if str(level) in self.heads:
                disp = (DISP_SCALE * torch.sigmoid(self.heads[str(level)](x))
                        + self.min_disparity)
                disparities.append(disp)
        return disparities[::-1]


class EgoMotionNet(nn.Module):
    """Ego-motion network: 6-DoF motion between each pair of consecutive frames.

    ``forward(frames)`` takes a snippet of shape ``(B, S, 3, H, W)`` in ``[0, 1]`` and returns
    motion vectors ``(tx, ty, tz, rx, ry, rz)`` of shape ``(B, S - 1, 6)``; entry ``i`` is
    ``next_T_prev`` for frames ``(i, i + 1)``: it maps points in camera ``i`` to camera
    ``i + 1`` (see :mod:`mono_depth_ros.core.geometry` for the convention).
    """

    def __init__(self, seq_length: int = 3, width: float = 1.0,
                 batch_norm: bool = True, output_scale: float = 0.01,
                 translation_scale: float = 1.0) -> None:
        """Build the layers; ``width`` multiplies every channel count.

        ``output_scale`` multiplies the head's output (the paper: 0.01), and
        ``translation_scale`` the translation outputs on top of it.
        """
        super().__init__()
        self.seq_length = seq_length
        self.output_scale = output_scale
        factors = torch.tensor([translation_scale] * 3 + [1.0] * 3) * output_scale
        self.register_buffer('factors', factors, persistent=False)
        layers: List[nn.Module] = []
        cin = 3 * seq_length
        for cout, kernel in _EGOMOTION:
            cout = _channels(cout, width)
            layers.append(_conv(cin, cout, kernel, 2, batch_norm))
            cin = cout
        self.body = nn.Sequential(*layers)
        if not batch_norm:
            _init_without_batch_norm(self.body)
        self.head = nn.Conv2d(cin, 6 * (seq_length - 1), 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Motion vectors of shape ``(B, S - 1, 6)``."""
        check_shape(frames, ('B', self.seq_length, 3, 'H', 'W'), 'frames')
        b, s, c, h, w = frames.shape
        x = self.body(_normalise(frames).reshape(b, s * c, h, w))
        motion = self.head(x).mean(dim=(2, 3)).reshape(b, s - 1, 6)
        return motion * self.factors


def rescale_egomotion_head(net: EgoMotionNet, old_factors: torch.Tensor) -> None:
    """Make ``net`` (whose head was trained with ``old_factors``) output the same motion.

    The head's weights and bias of each motion component are multiplied by
    ``old_factors / net.factors``, so a network loaded from weights trained at another
    ``egomotion_scale`` or ``egomotion_translation_scale`` predicts what it predicted before,
    while the optimiser's steps now move that component at the new scale.
    """
    old = torch.as_tensor(old_factors, dtype=net.factors.dtype, device=net.factors.device)
    if old.shape != net.factors.shape or not torch.all(old > 0):
        raise ValueError(f'old factors must be 6 positive values, got {old.tolist()}')
    ratio = (old / net.factors).repeat(net.seq_length - 1)
    with torch.no_grad():
        net.head.weight.mul_(ratio.reshape(-1, 1, 1, 1).to(net.head.weight.dtype))
        net.head.bias.mul_(ratio.to(net.head.bias.dtype))


def build_networks(config: ModelConfig) -> Tuple[DispNet, EgoMotionNet]:
    """Both networks for ``config``."""
    return (DispNet(config.depth_width, config.batch_norm, config.min_disparity),
            EgoMotionNet(config.seq_length, config.egomotion_width,
                         config.batch_norm if config.egomotion_batch_norm is None
                         else config.egomotion_batch_norm, config.egomotion_scale,
                         config.egomotion_translation_scale))


def train_on_running_statistics(*nets: nn.Module) -> None:
    """Put ``nets`` in training mode with batch norm on its running statistics.

    For fine-tuning on a snippet or two, which is no batch to take statistics from.
    """
    for net in nets:
        net.train()
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
