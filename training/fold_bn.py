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

r"""Fold batch norm into the convolutions: networks without batch norm that compute the same.

In ``eval`` mode a batch-norm layer after a convolution is an affine map per channel,
``y = (x - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)``, so the pair is one
convolution with weights ``w * s`` (per output channel) and bias ``beta + (b - mean) * s``.
The folded network is built with batch norm off (``model.egomotion_batch_norm: false``, or
``model.batch_norm: false`` for depth) and outputs what the given one outputs in ``eval``
mode, to float rounding, in ``train`` mode too.

Why: the ego-motion network is trained with statistics of batches of four snippets and run
with running statistics; re-estimating those over batches of 64 (``update_bn``) raised its
rotation gain on the car test drives from 0.78-0.81 to 0.86-0.88 (README, "Batch-norm
statistics"). A folded network has no statistics left to mismatch: what training sees is
what the node runs, so further training can fit its rotation in the form it is used.

    python -m mono_depth_ros_training.fold_bn IN.safetensors OUT.safetensors \
        [--networks egomotion|depth|both]

The metadata (training configuration, extras, calibration) is kept; the extras record
``folded_batch_norm``. The calibration stays valid: depth in ``eval`` mode is unchanged.

May import: :mod:`mono_depth_ros.core`.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Dict, Optional, Sequence, Tuple

from mono_depth_ros.core.config import from_dict, ModelConfig
from mono_depth_ros.core.networks import build_networks, DispNet, EgoMotionNet
from mono_depth_ros.core.weights import load_networks, save_networks
import torch
from torch import nn

__all__ = ['NETWORKS', 'fold_batch_norm', 'fold_networks', 'fold_weights_file']

#: which networks ``--networks`` can fold
NETWORKS = ('egomotion', 'depth', 'both')


def _folded(conv: nn.Module, bn: nn.BatchNorm2d) -> Tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of the convolution ``conv`` followed by ``bn`` in ``eval`` mode."""
    if not isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)):
        raise TypeError(f'batch norm follows a {type(conv).__name__}, not a convolution')
    if conv.groups != 1:
        raise ValueError('grouped convolutions are not folded')
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    # Conv2d weights are (out, in, k, k); ConvTranspose2d weights are (in, out, k, k).
    shape = (-1, 1, 1, 1) if isinstance(conv, nn.Conv2d) else (1, -1, 1, 1)
    return conv.weight * scale.reshape(shape), bn.bias + (bias - bn.running_mean) * scale


def fold_batch_norm(net: nn.Module, target: nn.Module) -> nn.Module:
    """Load into ``target`` (``net``'s architecture without batch norm) ``net`` folded.

    Every batch-norm layer of ``net`` must be the second entry of an ``nn.Sequential`` whose
    first entry is its convolution; in ``target`` that convolution has a bias and the
    batch-norm layer is gone. Every other parameter is copied. Returns ``target``.

    Raises:
        ValueError: if ``net`` has no batch norm, or ``target``'s parameters do not match.

    """
    state: Dict[str, torch.Tensor] = {}
    folded = set()
    modules = dict(net.named_modules())
    for name, module in modules.items():
        if not isinstance(module, nn.BatchNorm2d):
            continue
        parent, _, index = name.rpartition('.')
        if not isinstance(modules.get(parent), nn.Sequential) or index != '1':
            raise ValueError(f'batch norm {name!r} is not the second layer of a block')
        conv_name = f'{parent}.0'
        weight, bias = _folded(modules[conv_name], module)
        state[f'{conv_name}.weight'] = weight.detach().clone()
        state[f'{conv_name}.bias'] = bias.detach().clone()
        folded.update((conv_name, name))
    if not folded:
        raise ValueError(f'the {type(net).__name__} has no batch norm to fold')
    for key, value in net.state_dict().items():
        if key.rpartition('.')[0] not in folded:
            state[key] = value.detach().clone()
    missing, unexpected = target.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f'the network without batch norm does not match: missing {missing}, '
                         f'unexpected {unexpected}')
    return target.eval()


def fold_networks(depth_net: DispNet, egomotion_net: EgoMotionNet, config: ModelConfig,
                  networks: str = 'egomotion') -> Tuple[DispNet, EgoMotionNet, ModelConfig]:
    """Both networks with batch norm folded in ``networks``, and their configuration.

    The networks not named are returned as given.

    Raises:
        ValueError: for an unknown ``networks`` or a named network without batch norm.

    """
    if networks not in NETWORKS:
        raise ValueError(f'networks must be one of {NETWORKS}, got {networks!r}')
    ego_bn = config.batch_norm if config.egomotion_batch_norm is None \
        else config.egomotion_batch_norm
    fold_depth = networks in ('depth', 'both')
    fold_ego = networks in ('egomotion', 'both')
    new = replace(config, batch_norm=config.batch_norm and not fold_depth,
                  egomotion_batch_norm=ego_bn and not fold_ego)
    chosen = ((fold_depth, depth_net, 'depth'), (fold_ego, egomotion_net, 'ego-motion'))
    for fold, net, label in chosen:
        if fold and not any(isinstance(m, nn.BatchNorm2d) for m in net.modules()):
            raise ValueError(f'the {label} network has no batch norm to fold')
    new_depth, new_ego = build_networks(new)
    dtype = next(depth_net.parameters()).dtype
    new_depth, new_ego = new_depth.to(dtype), new_ego.to(dtype)
    with torch.no_grad():
        depth_out = fold_batch_norm(depth_net, new_depth) if fold_depth else depth_net
        ego_out = fold_batch_norm(egomotion_net, new_ego) if fold_ego else egomotion_net
    return depth_out, ego_out, new


def fold_weights_file(source: str, target: str, networks: str = 'egomotion') -> ModelConfig:
    """Write ``target``: ``source`` with batch norm folded in ``networks``; return its model."""
    depth_net, ego_net, metadata = load_networks(source)
    config = from_dict(ModelConfig, metadata['model'])
    depth_net, ego_net, new = fold_networks(depth_net, ego_net, config, networks)
    extra = dict(metadata.get('extra', {}))
    extra['folded_batch_norm'] = {'source': str(source), 'networks': networks}
    save_networks(target, depth_net, ego_net, new, training=metadata.get('training', {}),
                  extra=extra, calibration=metadata.get('calibration'))
    return new


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: ``fold_bn IN OUT [--networks egomotion|depth|both]``."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('source', help='weights file (.safetensors)')
    parser.add_argument('target', help='weights file to write (.safetensors)')
    parser.add_argument('--networks', choices=NETWORKS, default='egomotion')
    args = parser.parse_args(argv)
    fold_weights_file(args.source, args.target, args.networks)
    print(f'{args.target}: {args.networks} batch norm folded into the convolutions')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
