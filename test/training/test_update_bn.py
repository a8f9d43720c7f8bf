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

"""Batch-norm statistics re-estimated on training snippets (``update_bn``)."""

from mono_depth_ros.core.config import ModelConfig
from mono_depth_ros.core.networks import build_networks
from mono_depth_ros.core.weights import load_networks, read_weights, update_metadata
from mono_depth_ros_training.update_bn import main, update_batch_norm
import numpy as np
import pytest
import torch


class _Snippets(torch.utils.data.Dataset):

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {'images': self.images[i]}


def _networks():
    torch.manual_seed(0)
    config = ModelConfig(height=32, width=64, depth_width=0.25, egomotion_width=0.25)
    depth_net, ego_net = build_networks(config)
    return depth_net.eval(), ego_net.eval()


def _batch_norm_inputs(net, x):
    """Return the inputs of every batch-norm layer in training mode on ``x`` (hooks)."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, inp, out: seen.append(inp[0].double().numpy()))
             for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    net.train()
    with torch.no_grad():
        net(x)
    net.eval()
    for h in hooks:
        h.remove()
    return seen


def _layers(net):
    return [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def test_one_batch_gives_each_layers_mean_and_unbiased_variance():
    depth_net, ego_net = _networks()
    images = torch.rand(8, 3, 3, 32, 64, generator=torch.Generator().manual_seed(1))
    depth_before = {k: v.clone() for k, v in depth_net.state_dict().items()}
    used = update_batch_norm(depth_net, ego_net, _Snippets(images), 'egomotion',
                             batch_size=8, batches=5)
    assert used == 1  # eight snippets make one batch of eight
    inputs = _batch_norm_inputs(ego_net, images)  # the one batch, whatever its order
    assert len(inputs) == len(_layers(ego_net)) > 3
    for layer, x in zip(_layers(ego_net), inputs):
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3), ddof=1)
        np.testing.assert_allclose(layer.running_mean.double().numpy(), mean, rtol=1e-4,
                                   atol=1e-6)
        np.testing.assert_allclose(layer.running_var.double().numpy(), var, rtol=1e-4,
                                   atol=1e-6)
    assert not ego_net.training and not depth_net.training
    for name, value in depth_net.state_dict().items():  # depth left exactly as it was
        assert torch.equal(value, depth_before[name]), name


def test_several_batches_average_their_statistics():
    depth_net, ego_net = _networks()
    images = torch.rand(6, 3, 3, 32, 64, generator=torch.Generator().manual_seed(2))
    images[:3] *= 0.2  # batches of very different brightness, in whichever order
    update_batch_norm(depth_net, ego_net, _Snippets(images), 'depth', batch_size=3,
                      batches=10, seed=4)
    order = torch.randperm(6, generator=torch.Generator().manual_seed(4))
    fresh, _ = _networks()
    # The first layer's input does not depend on any batch statistics: per batch, the mean
    # of what it sees, computed on a fresh copy of the same weights.
    means = [_batch_norm_inputs(fresh, images[order[i:i + 3]].flatten(0, 1))[0]
             .mean(axis=(0, 2, 3)) for i in (0, 3)]
    assert not np.allclose(means[0], means[1], rtol=0.05)
    np.testing.assert_allclose(_layers(depth_net)[0].running_mean.double().numpy(),
                               (means[0] + means[1]) / 2, rtol=1e-4, atol=1e-6)


def test_bad_requests_are_refused():
    depth_net, ego_net = _networks()
    data = _Snippets(torch.rand(4, 3, 3, 32, 64))
    with pytest.raises(ValueError, match='networks must be one of'):
        update_batch_norm(depth_net, ego_net, data, 'pose')
    with pytest.raises(ValueError, match='fewer than one batch'):
        update_batch_norm(depth_net, ego_net, data, batch_size=8)
    with pytest.raises(ValueError, match='batches >= 1'):
        update_batch_norm(depth_net, ego_net, data, batch_size=2, batches=0)
    config = ModelConfig(height=32, width=64, depth_width=0.25, egomotion_width=0.25,
                         batch_norm=False)
    plain_depth, plain_ego = build_networks(config)
    with pytest.raises(ValueError, match='no batch norm'):
        update_batch_norm(plain_depth, plain_ego, data, batch_size=2)


def test_the_command_keeps_depth_and_calibration(tiny_dataset, weights, tmp_path):
    source = tmp_path / 'calibrated.safetensors'
    source.write_bytes(weights.read_bytes())
    update_metadata(source, calibration={'metric_scale': 0.2})
    config = tmp_path / 'data.yaml'
    config.write_text(f'data:\n  root: {tiny_dataset / "prepared"}\n')
    target = tmp_path / 'out.safetensors'
    assert main([str(source), str(target), '--config', str(config), '--batch-size', '4',
                 '--batches', '3']) == 0
    before, meta_before = read_weights(source)
    after, meta = read_weights(target)
    assert meta['calibration'] == {'metric_scale': 0.2}
    assert meta['extra']['batch_norm_statistics']['networks'] == 'egomotion'
    assert meta['extra']['batch_norm_statistics']['batches'] == 3
    assert meta['model'] == meta_before['model']
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed and all(k.startswith('egomotion.') and ('running' in k or 'num_batches' in k)
                           for k in changed)
    load_networks(target)  # a valid weights file
    both = tmp_path / 'both.safetensors'
    main([str(source), str(both), '--config', str(config), '--batch-size', '4',
          '--batches', '2', '--networks', 'both'])
    tensors, meta_both = read_weights(both)
    assert 'calibration' not in meta_both  # depth changed: the scale must be measured again
    assert any(k.startswith('depth.') and not torch.equal(tensors[k], before[k])
               for k in tensors)
