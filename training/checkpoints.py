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

"""Training checkpoints and deployable weights: save, restore, export.

A checkpoint is a weights file (:mod:`mono_depth_ros.core.weights`: safetensors + JSON,
atomic) that also holds Adam's state (tensors ``optim.*``), the step and the loss history;
:func:`export` drops those for the node. Nothing is ever unpickled.

May import: :mod:`mono_depth_ros.core` and this package's ``config``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple
import warnings

from mono_depth_ros.core.config import from_dict, ModelConfig
from mono_depth_ros.core.networks import rescale_egomotion_head
from mono_depth_ros.core.weights import load_networks, read_weights, save_networks
from mono_depth_ros_training.config import TrainConfig
import torch

__all__ = ['CHECKPOINT', 'WEIGHTS', 'config_from_weights', 'export', 'load_checkpoint',
           'save_checkpoint']

CHECKPOINT = 'checkpoint.safetensors'
WEIGHTS = 'weights.safetensors'


def _optimiser_state(
        optimiser: torch.optim.Optimizer) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    state = optimiser.state_dict()
    tensors = {}
    for index, values in state['state'].items():
        for name, value in values.items():
            tensors[f'optim.{index}.{name}'] = torch.as_tensor(value).detach().cpu()
    return tensors, {'param_groups': state['param_groups']}


def save_checkpoint(path: Path, depth_net, ego_net, optimiser, config: TrainConfig,
                    step: int, history: List[Dict[str, float]]) -> None:
    """Write networks, Adam state, step and history to ``path`` (atomic)."""
    tensors, meta = _optimiser_state(optimiser)
    save_networks(path, depth_net, ego_net, config.model, training=config.to_dict(),
                  extra={'step': step, 'optimiser': meta, 'history': history[-2000:]},
                  extra_tensors=tensors)


def load_checkpoint(path: Path, depth_net, ego_net, optimiser,
                    config: TrainConfig) -> Tuple[int, List[Dict[str, float]]]:
    """Restore a checkpoint into the given objects; return ``(step, history)``."""
    loaded_depth, loaded_ego, metadata = load_networks(path, expected=config.model)
    extra = metadata.get('extra', {})
    if 'optimiser' not in extra or 'step' not in extra:
        raise ValueError(f'{path}: a weights file without optimiser state, not a training '
                         'checkpoint; start from its weights with --init instead')
    depth_net.load_state_dict(loaded_depth.state_dict())
    ego_net.load_state_dict(loaded_ego.state_dict())
    tensors, _ = read_weights(path)
    state: Dict[int, Dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith('optim.'):
            _, index, name = key.split('.', 2)
            state.setdefault(int(index), {})[name] = value
    optimiser.load_state_dict({'state': state,
                               'param_groups': extra['optimiser']['param_groups']})
    return int(extra['step']), list(extra.get('history', []))


#: model keys that a fine-tune may change from the weights' values (output scales: the head
#: is rescaled so the loaded network predicts the same motion, see ``rescale_egomotion_head``)
RESCALABLE = ('egomotion_scale', 'egomotion_translation_scale')
#: model keys a configuration may change on ``--init``: the output scales, and the depth
#: network's disparity floor (it holds no weights; only depths near the old floor change)
CHANGEABLE = RESCALABLE + ('min_disparity',)
#: model keys only the command line may change on ``--init``: the input size (the depth
#: network is fully convolutional and the ego-motion network pools globally, so the weights
#: run at any size; a configuration file's size is the weights' otherwise, as the default
#: for fine-tuning the shipped weights on one's own data)
RESIZABLE = ('height', 'width')


def config_from_weights(config: TrainConfig, weights: str, in_file: Sequence[str] = (),
                        given: Sequence[str] = ()) -> TrainConfig:
    """Return ``config`` with the architecture and input size of a weights file.

    The model comes from the weights, except the keys of :data:`CHANGEABLE` that
    the configuration sets (``in_file``: keys its YAML file sets; ``given``: keys set on the
    command line) and the input size (:data:`RESIZABLE`) where the command line sets it,
    which keep ``config``'s value. Any other key given on the command line must agree with
    the weights (an error names it); the file's are replaced silently.
    """
    loaded = from_dict(ModelConfig, read_weights(weights)[1]['model'], 'model')
    for key in given:
        if not hasattr(loaded, key):
            raise ValueError(f'model.{key}: no such key')
        if key not in CHANGEABLE + RESIZABLE and \
                getattr(config.model, key) != getattr(loaded, key):
            raise ValueError(f'model.{key}={getattr(config.model, key)!r}: the architecture '
                             f'comes from {weights} ({key}={getattr(loaded, key)!r}); only '
                             f'{", ".join(CHANGEABLE + RESIZABLE)} can change on '
                             '--init')
    changes = {k: getattr(config.model, k) for k in CHANGEABLE
               if k in tuple(in_file) + tuple(given)}
    floor = changes.get('min_disparity', loaded.min_disparity)
    if 'min_disparity' not in given and floor != loaded.min_disparity:
        # The output scales are rescaled to keep the predictions; the floor is not, so a
        # configuration file that sets another one changes the loaded network's depth.
        warnings.warn(f'model.min_disparity: the configuration file sets {floor}, {weights} '
                      f'has {loaded.min_disparity}; the depth of the loaded network changes '
                      f'where it is near the floor (give model.min_disparity='
                      f'{loaded.min_disparity} to keep the floor of the weights)', stacklevel=2)
    changes.update({k: getattr(config.model, k) for k in RESIZABLE if k in given})
    return replace(config, model=replace(loaded, **changes))


def same_architecture(a: ModelConfig, b: ModelConfig) -> bool:
    """Return whether two model configurations differ at most in changeable keys and size."""
    return replace(a, **{k: getattr(b, k) for k in CHANGEABLE + RESIZABLE}) == b


def load_init(path: Path, depth_net, ego_net, model: ModelConfig) -> None:
    """Load a weights file into networks built for ``model`` (``--init``).

    The architecture must be the file's, the ego-motion output scales may differ: the head
    is rescaled so the networks predict what the file's did.
    """
    loaded_depth, loaded_ego, metadata = load_networks(path)
    loaded = from_dict(ModelConfig, metadata['model'], 'model')
    if not same_architecture(loaded, model):
        raise ValueError(f'{path}: architecture {loaded} differs from {model} (beyond the '
                         'ego-motion output scales)')
    depth_net.load_state_dict(loaded_depth.state_dict())
    ego_net.load_state_dict(loaded_ego.state_dict())
    rescale_egomotion_head(ego_net, loaded_ego.factors)


def export(checkpoint: Path, output: Path) -> Path:
    """Write the deployable networks (no optimiser state) from a checkpoint."""
    depth_net, ego_net, metadata = load_networks(checkpoint)
    model = from_dict(ModelConfig, metadata['model'], 'model')
    extra = {k: v for k, v in metadata['extra'].items() if k not in ('optimiser', 'history')}
    history = metadata['extra'].get('history') or []
    if history:
        extra['final_loss'] = history[-1]['total']
    save_networks(output, depth_net, ego_net, model, training=metadata['training'],
                  extra=extra)
    return output
