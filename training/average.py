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

"""The mean of several weights files of one architecture (snapshot averaging).

The snapshots a run writes every ``output.snapshot_every`` steps lie along one trajectory;
their parameter mean (stochastic weight averaging, Izmailov et al., UAI 2018) smooths the
step-to-step wander that single snapshots show on the validation set. Batch-norm running
statistics are averaged too (the mean of the snapshots' estimates; SWA proper re-estimates
them on training data, which needs the data and changes nothing here when the snapshots'
statistics agree).

    python -m mono_depth_ros_training.average OUT.safetensors IN1.safetensors IN2.safetensors ...

May import: :mod:`mono_depth_ros.core`.
"""

from __future__ import annotations

import argparse
from typing import Dict, Optional, Sequence

from mono_depth_ros.core.config import from_dict, ModelConfig
from mono_depth_ros.core.networks import build_networks
from mono_depth_ros.core.weights import read_weights, save_networks
import torch

__all__ = ['average_weights']


def average_weights(sources: Sequence[str], target: str) -> ModelConfig:
    """Write ``target``, the mean of the networks in ``sources``; return its architecture.

    Floating-point tensors are averaged (in float64, stored in their own type); integer
    tensors (batch norm's step counters) take their largest value. The metadata is the
    last source's, with the sources listed.

    Raises:
        ValueError: for fewer than two sources, or sources whose architecture or tensors
            differ.

    """
    if len(sources) < 2:
        raise ValueError(f'average needs at least two weights files, got {len(sources)}')
    sums: Dict[str, torch.Tensor] = {}
    config: Optional[ModelConfig] = None
    metadata: Dict = {}
    for source in sources:
        tensors, metadata = read_weights(source)
        model = from_dict(ModelConfig, metadata['model'], 'model')
        if config is not None and model != config:
            raise ValueError(f'{source}: architecture {model} differs from that of '
                             f'{sources[0]}: {config}')
        config = model
        nets = {k: v for k, v in tensors.items() if k.startswith(('depth.', 'egomotion.'))}
        if sums and set(nets) != set(sums):
            raise ValueError(f'{source}: its tensors differ from those of {sources[0]}')
        for name, value in nets.items():
            if value.is_floating_point():
                sums[name] = sums.get(name, 0) + value.double()
            else:
                sums[name] = torch.maximum(sums.get(name, value), value)
    assert config is not None
    depth_net, ego_net = build_networks(config)
    for prefix, net in (('depth.', depth_net), ('egomotion.', ego_net)):
        state = net.state_dict()
        for name, value in state.items():
            total = sums[prefix + name]
            state[name] = (total / len(sources)).to(value.dtype) if value.is_floating_point() \
                else total.to(value.dtype)
        net.load_state_dict(state)
    save_networks(target, depth_net.eval(), ego_net.eval(), config,
                  training=metadata.get('training', {}),
                  extra={'averaged_from': [str(s) for s in sources]})
    return config


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: ``average OUT IN1 IN2 [...]``."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('target', help='weights file to write (.safetensors)')
    parser.add_argument('sources', nargs='+', help='weights files of one architecture')
    args = parser.parse_args(argv)
    average_weights(args.sources, args.target)
    print(f'{args.target}: mean of {len(args.sources)} weights files')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
