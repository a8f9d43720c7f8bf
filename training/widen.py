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

"""Wider networks that compute what the given ones compute (function-preserving widening).

Every hidden channel of a network is copied ``factor`` times (its filter, its batch-norm
parameters and running statistics), and every layer that reads a copied channel splits
that channel's input weights between the copies: random shares that sum to one per weight.
The copies see the same input and so carry the same activation; the shares then add back
to the original weight, and the wide network's outputs equal the narrow one's (to float
rounding), in ``eval`` and in ``train`` mode. The shares differ between copies, so their
gradients differ and training moves them apart (copies with equal shares would stay equal
for ever). This is the widening operator of Net2Net (Chen, Goodfellow, Shlens, ICLR 2016),
written here for the two networks of :mod:`mono_depth_ros.core.networks`.

Why: a training step on this CPU is bound by per-operation overhead, not arithmetic (the
compact networks run at about a tenth of the machine's convolution rate), so wider networks
cost far less than their FLOPs, and widening starts a wider network at the quality of the
shipped weights instead of from scratch.

    python -m mono_depth_ros_training.widen IN.safetensors OUT.safetensors --factor 2

May import: :mod:`mono_depth_ros.core`.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import List, Optional, Sequence, Tuple

from mono_depth_ros.core.config import from_dict, ModelConfig
from mono_depth_ros.core.networks import build_networks, DispNet, EgoMotionNet
from mono_depth_ros.core.weights import load_networks, save_networks
import torch
from torch import nn

__all__ = ['widen_networks', 'widen_weights_file']

# A layer's input channels in order: (channels in the narrow network, whether they are copied).
Segments = List[Tuple[int, bool]]


def _input_segments(name: str, narrow: nn.Module, cin: int) -> Segments:
    """How the ``cin`` input channels of the narrow layer ``name`` are laid out.

    Every layer reads hidden (copied) channels, except the first, which reads the images,
    and the decoder's ``iconvs`` 4-6, which also read the coarser disparity.
    """
    if isinstance(narrow, DispNet) and name.startswith('iconvs.'):
        level = int(name.split('.')[1])
        up = narrow.upconvs[level][0].weight.shape[1]
        extra = 1 if level >= 4 else 0  # the coarser disparity, one channel, never copied
        segments = [(up, True), (cin - up - extra, True)]
        return [s for s in segments if s[0] > 0] + ([(1, False)] if extra else [])
    return [(cin, name not in ('encoder.0.0.0', 'body.0.0'))]


def _split_inputs(weight: torch.Tensor, segments: Segments, factor: int, noise: float,
                  generator: torch.Generator) -> torch.Tensor:
    """Copy the input channels (dim 1) of ``weight``, splitting each weight into shares."""
    parts, start = [], 0
    for channels, copied in segments:
        block = weight[:, start:start + channels]
        start += channels
        if not copied:
            parts.append(block)
            continue
        z = torch.randn((factor,) + tuple(block.shape), generator=generator,
                        dtype=torch.float64)
        shares = (1.0 + noise * (z - z.mean(dim=0))) / factor
        parts.extend((block.double() * shares[i]).to(block.dtype) for i in range(factor))
    if start != weight.shape[1]:
        raise ValueError(f'input layout {segments} does not add up to {weight.shape[1]}')
    return torch.cat(parts, dim=1)


def _copy_outputs(tensor: torch.Tensor, old: int, new: int, factor: int) -> torch.Tensor:
    """Copy dim 0 of ``tensor`` ``factor`` times when the layer's outputs are widened."""
    if new == old:
        return tensor
    return torch.cat([tensor] * factor, dim=0)


def _widen_module(narrow: nn.Module, wide: nn.Module, factor: int, noise: float,
                  generator: torch.Generator) -> None:
    wide_modules = dict(wide.named_modules())
    with torch.no_grad():
        for name, layer in narrow.named_modules():
            target = wide_modules[name]
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                transposed = isinstance(layer, nn.ConvTranspose2d)
                weight = layer.weight.transpose(0, 1) if transposed else layer.weight
                out_old = weight.shape[0]
                out_new = target.weight.shape[1 if transposed else 0]
                segments = _input_segments(name, narrow, weight.shape[1])
                grown = _split_inputs(weight, segments, factor, noise, generator)
                grown = _copy_outputs(grown, out_old, out_new, factor)
                target.weight.copy_(grown.transpose(0, 1) if transposed else grown)
                if layer.bias is not None:
                    target.bias.copy_(_copy_outputs(layer.bias, out_old, out_new, factor))
            elif isinstance(layer, nn.BatchNorm2d):
                new = target.num_features
                for key in ('weight', 'bias', 'running_mean', 'running_var'):
                    getattr(target, key).copy_(_copy_outputs(getattr(layer, key),
                                                             layer.num_features, new, factor))
                target.num_batches_tracked.copy_(layer.num_batches_tracked)


def _check_shapes(narrow: nn.Module, wide: nn.Module, factor: int, what: str) -> None:
    """Every parameter of ``wide`` must be ``narrow``'s with some dims times ``factor``.

    (Or, for the layers that read the coarser disparity too, all channels but that one.)
    """
    wide_state = wide.state_dict()
    for name, value in narrow.state_dict().items():
        new = wide_state[name].shape
        if len(new) != value.dim() or any(n not in (o, o * factor, (o - 1) * factor + 1)
                                          for n, o in zip(new, value.shape)):
            raise ValueError(f'{what}: {name} {tuple(value.shape)} -> {tuple(new)} is not a '
                             f'widening by {factor} (channel counts are rounded at this '
                             f'width; choose another factor)')


def widen_networks(depth_net: DispNet, egomotion_net: EgoMotionNet, config: ModelConfig,
                   factor: int = 2, noise: float = 0.2, seed: int = 0,
                   depth: bool = True, egomotion: bool = True
                   ) -> Tuple[DispNet, EgoMotionNet, ModelConfig]:
    """Networks ``factor`` times as wide that compute the same outputs.

    Args:
        depth_net: the depth network to widen (not modified).
        egomotion_net: the ego-motion network (not modified).
        config: their architecture.
        factor: how many copies of each hidden channel (an integer >= 2).
        noise: spread of the shares that split each input weight between the copies (the
            shares are ``(1 + noise * z) / factor`` with ``z`` centred over the copies).
        seed: seeds the shares.
        depth: widen the depth network.
        egomotion: widen the ego-motion network.

    Returns:
        ``(depth_net, egomotion_net, config)``, the new networks in ``eval`` mode.

    Raises:
        ValueError: for a factor below 2, or a width at which channel counts are rounded
            (the compact widths 0.25 and 0.5 widen exactly).

    """
    if not isinstance(factor, int) or factor < 2:
        raise ValueError(f'factor must be an integer >= 2, got {factor!r}')
    if noise < 0:
        raise ValueError(f'noise must be >= 0, got {noise}')
    wide_config = replace(
        config,
        depth_width=config.depth_width * (factor if depth else 1),
        egomotion_width=config.egomotion_width * (factor if egomotion else 1))
    wide_depth, wide_ego = build_networks(wide_config)
    wide_depth.to(next(depth_net.parameters()).dtype)  # float64 networks widen in float64
    wide_ego.to(next(egomotion_net.parameters()).dtype)
    wide_ego.factors.copy_(egomotion_net.factors)
    generator = torch.Generator().manual_seed(seed)
    for narrow, wide, on, what in ((depth_net, wide_depth, depth, 'depth network'),
                                   (egomotion_net, wide_ego, egomotion,
                                    'ego-motion network')):
        if not on:
            wide.load_state_dict(narrow.state_dict())
            continue
        _check_shapes(narrow, wide, factor, what)
        _widen_module(narrow, wide, factor, noise, generator)
    return wide_depth.eval(), wide_ego.eval(), wide_config


def widen_weights_file(source: str, target: str, factor: int = 2, noise: float = 0.2,
                       seed: int = 0, depth: bool = True, egomotion: bool = True) -> ModelConfig:
    """Write ``target``: the networks of weights file ``source``, widened; return its model."""
    depth_net, ego_net, metadata = load_networks(source)
    config = from_dict(ModelConfig, metadata['model'], 'model')
    wide_depth, wide_ego, wide_config = widen_networks(depth_net, ego_net, config, factor,
                                                       noise, seed, depth, egomotion)
    save_networks(target, wide_depth, wide_ego, wide_config,
                  training=metadata.get('training', {}),
                  extra={'widened_from': str(source), 'widen_factor': factor,
                         'widen_noise': noise, 'widen_seed': seed,
                         'widened': [n for n, on in (('depth', depth), ('egomotion', egomotion))
                                     if on]})
    return wide_config


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: ``widen IN OUT [--factor N] [--noise X] [--seed S] [--only NET]``."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('source', help='weights file to widen (.safetensors)')
    parser.add_argument('target', help='weights file to write (.safetensors)')
    parser.add_argument('--factor', type=int, default=2)
    parser.add_argument('--noise', type=float, default=0.2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--only', choices=('depth', 'egomotion'), default=None,
                        help='widen one network and keep the other as it is')
    args = parser.parse_args(argv)
    config = widen_weights_file(args.source, args.target, args.factor, args.noise, args.seed,
                                depth=args.only in (None, 'depth'),
                                egomotion=args.only in (None, 'egomotion'))
    print(f'{args.target}: depth width {config.depth_width}, '
          f'ego-motion width {config.egomotion_width}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
