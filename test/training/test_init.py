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

"""Training from a weights file (--init): architecture, output scales, a frozen depth network."""

import warnings

from mono_depth_ros.core.weights import load_networks
from mono_depth_ros_training.train import train, WEIGHTS
import pytest
from test_training import _state, tiny_config
import torch


def test_init_from_weights_takes_their_architecture(tiny_dataset, tmp_path):
    """--init starts from a weights file (fresh optimiser); --resume refuses one by name."""
    from mono_depth_ros_training.train import config_from_weights

    root = tiny_dataset / 'prepared'
    first = train(tiny_config(root, tmp_path / 'a', 2), progress=False)
    # A configuration of another size: --init replaces it by the weights' architecture.
    other = tiny_config(root, tmp_path / 'b', 0, **{'model.height': 64})
    config = config_from_weights(other, first['weights'])
    assert (config.model.height, config.model.width) == (32, 104)
    train(config, progress=False, init=first['weights'])
    a, _ = _state(tmp_path / 'a' / WEIGHTS)
    b, _ = _state(tmp_path / 'b' / WEIGHTS)
    for name in a:  # zero steps from --init: the weights themselves
        torch.testing.assert_close(a[name], b[name], msg=name)
    with pytest.raises(ValueError, match='--init'):
        train(tiny_config(root, tmp_path / 'c', 2), progress=False, resume=first['weights'])


def test_frozen_depth_network_keeps_weights_and_statistics(tiny_dataset, tmp_path):
    """optim.train_depth=false: the depth network (batch-norm statistics too) stays as given."""
    root = tiny_dataset / 'prepared'
    bn = {'model.batch_norm': 'true'}
    first = train(tiny_config(root, tmp_path / 'a', 2, **bn), progress=False)
    frozen = tiny_config(root, tmp_path / 'b', 3, **bn, **{'optim.train_depth': 'false'})
    train(frozen, progress=False, init=first['weights'])
    a, _ = _state(tmp_path / 'a' / WEIGHTS)
    b, _ = _state(tmp_path / 'b' / WEIGHTS)
    depth = [n for n in a if n.startswith('depth.')]
    assert depth and any('running_mean' in n for n in depth)
    for name in depth:
        assert torch.equal(a[name], b[name]), name
    ego = [n for n in a if n.startswith('egomotion.') and 'running' not in n]
    assert ego and any(not torch.equal(a[n], b[n]) for n in ego)


def test_init_changes_output_scales_only_and_keeps_predictions(tiny_dataset, tmp_path):
    """--init with other ego-motion output scales: same predictions; architecture keys refused."""
    from mono_depth_ros_training.checkpoints import config_from_weights

    root = tiny_dataset / 'prepared'
    first = train(tiny_config(root, tmp_path / 'a', 2), progress=False)
    given = ('egomotion_translation_scale', 'egomotion_scale')
    other = tiny_config(root, tmp_path / 'b', 0, **{'model.egomotion_translation_scale': 10.0,
                                                    'model.egomotion_scale': 0.1})
    config = config_from_weights(other, first['weights'], given=given)
    assert config.model.egomotion_translation_scale == 10.0
    assert config.model.egomotion_scale == 0.1
    # The file's scales count too; without either, the weights' own scales stay.
    assert config_from_weights(other, first['weights'], in_file=given[:1]).model \
        .egomotion_translation_scale == 10.0
    assert config_from_weights(other, first['weights']).model.egomotion_scale == 0.01
    train(config, progress=False, init=first['weights'])
    _, ego_a, _ = load_networks(tmp_path / 'a' / WEIGHTS)
    _, ego_b, meta = load_networks(tmp_path / 'b' / WEIGHTS)
    assert meta['model']['egomotion_translation_scale'] == 10.0
    frames = torch.rand(2, 3, 3, 32, 104)
    with torch.no_grad():
        torch.testing.assert_close(ego_b(frames), ego_a(frames), rtol=1e-5, atol=1e-7)
    # The disparity floor holds no weights: it may change on --init too.
    floor = tiny_config(root, tmp_path / 'd', 0, **{'model.min_disparity': 0.001})
    assert config_from_weights(floor, first['weights'], given=('min_disparity',)).model \
        .min_disparity == 0.001
    # From a configuration file it changes the loaded depth silently otherwise: a warning.
    with pytest.warns(UserWarning, match='model.min_disparity: the configuration file sets '
                      '0.001'):
        assert config_from_weights(floor, first['weights'], in_file=('min_disparity',)) \
            .model.min_disparity == 0.001
    same = tiny_config(root, tmp_path / 'f', 0, **{'model.min_disparity': 0.01})
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        config_from_weights(same, first['weights'], in_file=('min_disparity',))
    # The input size only from the command line (the networks run at any size).
    bigger = tiny_config(root, tmp_path / 'e', 0, **{'model.height': 64, 'model.width': 208})
    assert (config_from_weights(bigger, first['weights'], in_file=('height', 'width'))
            .model.height) == 32
    resized = config_from_weights(bigger, first['weights'], given=('height', 'width'))
    assert (resized.model.height, resized.model.width) == (64, 208)
    assert load_networks(train(resized, progress=False, init=first['weights'])['weights'])[2][
        'input_size'] == [64, 208]
    with pytest.raises(ValueError, match='model.depth_width.*only egomotion_scale'):
        config_from_weights(tiny_config(root, tmp_path / 'c', 0, **{'model.depth_width': 0.5}),
                            first['weights'], given=('depth_width',))
