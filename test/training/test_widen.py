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

"""Function-preserving widening (the wide networks compute what the narrow ones do); averaging."""

from mono_depth_ros.core.config import ModelConfig
from mono_depth_ros.core.networks import build_networks
from mono_depth_ros.core.weights import load_networks, save_networks
from mono_depth_ros_training.widen import main, widen_networks
import pytest
import torch


def _trained_like(config: ModelConfig, seed: int):
    """Networks with random weights and non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    depth_net, ego_net = build_networks(config)
    with torch.no_grad():
        for net in (depth_net, ego_net):
            for module in net.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.uniform_(-0.5, 0.5)
                    module.running_var.uniform_(0.5, 2.0)
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.2, 0.2)
                elif getattr(module, 'bias', None) is not None:
                    module.bias.uniform_(-0.1, 0.1)
    return depth_net.eval(), ego_net.eval()


def _outputs(depth_net, ego_net, images, frames):
    with torch.no_grad():
        return list(depth_net(images)) + [ego_net(frames)]


@pytest.mark.parametrize('batch_norm,factor', [(True, 2), (False, 2), (True, 3)])
def test_widened_networks_compute_the_same_outputs(batch_norm, factor):
    config = ModelConfig(height=32, width=64, depth_width=0.25, egomotion_width=0.25,
                         batch_norm=batch_norm, egomotion_scale=0.1)
    depth_net, ego_net = _trained_like(config, seed=factor)
    # In float64, so that what is left is the widening's error, not float32 rounding.
    depth_net.double()
    ego_net.double()
    wide_depth, wide_ego, wide_config = widen_networks(depth_net, ego_net, config, factor)
    assert wide_config.depth_width == 0.25 * factor
    assert wide_config.egomotion_width == 0.25 * factor
    narrow_params = sum(p.numel() for p in depth_net.parameters())
    assert sum(p.numel() for p in wide_depth.parameters()) > 0.8 * factor ** 2 * narrow_params
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(3, 3, 32, 64, generator=generator, dtype=torch.float64)
    frames = torch.rand(3, 3, 3, 32, 64, generator=generator, dtype=torch.float64)
    for mode in ('eval', 'train'):  # train: batch statistics of copied channels agree too
        for net in (depth_net, ego_net, wide_depth, wide_ego):
            net.train(mode == 'train')
        narrow = _outputs(depth_net, ego_net, images, frames)
        wide = _outputs(wide_depth, wide_ego, images, frames)
        for a, b in zip(narrow, wide):
            assert a.shape == b.shape
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)
        assert narrow[-1].abs().max() > 1e-3  # the comparison is not of zeros


def test_copies_split_each_weight_into_shares_that_differ():
    config = ModelConfig(height=32, width=64, depth_width=0.25, egomotion_width=0.25)
    depth_net, ego_net = _trained_like(config, seed=0)
    wide_depth, _, _ = widen_networks(depth_net, ego_net, config, 2, noise=0.2)
    narrow = depth_net.encoder[1][0][0].weight  # (16, 8, 5, 5): reads 8 copied channels
    wide = wide_depth.encoder[1][0][0].weight   # (32, 16, 5, 5)
    first, second = wide[:16, :8], wide[:16, 8:]
    torch.testing.assert_close(first + second, narrow, rtol=1e-5, atol=1e-7)
    assert (first - second).abs().mean() > 0.05 * narrow.abs().mean()  # symmetry broken
    torch.testing.assert_close(wide[16:], wide[:16])  # copied filters are the same filter
    # One gradient step moves the copies apart.
    wide_depth.train()
    wide_depth(torch.rand(2, 3, 32, 64))[0].mean().backward()
    grad = wide_depth.encoder[0][1][0].weight.grad  # the copied outputs of encoder stage 0
    assert not torch.allclose(grad[:8], grad[8:])


def test_widen_rejects_what_it_cannot_widen():
    config = ModelConfig(height=32, width=64, depth_width=0.2, egomotion_width=0.2)
    depth_net, ego_net = build_networks(config)
    with pytest.raises(ValueError, match='rounded'):
        widen_networks(depth_net, ego_net, config, 2)  # 16 * 0.2 rounds up to 4 channels
    with pytest.raises(ValueError, match='integer >= 2'):
        widen_networks(depth_net, ego_net, config, 1)


def test_widen_command_writes_a_loadable_file(tmp_path, capsys):
    config = ModelConfig(height=32, width=64, depth_width=0.25, egomotion_width=0.25,
                         egomotion_scale=0.1, egomotion_translation_scale=10.0)
    depth_net, ego_net = _trained_like(config, seed=4)
    source, target = tmp_path / 'narrow.safetensors', tmp_path / 'wide.safetensors'
    save_networks(source, depth_net, ego_net, config)
    assert main([str(source), str(target), '--only', 'depth']) == 0
    assert 'depth width 0.5, ego-motion width 0.25' in capsys.readouterr().out
    wide_depth, wide_ego, metadata = load_networks(target)
    assert metadata['model']['depth_width'] == 0.5
    assert metadata['extra']['widened'] == ['depth']
    images = torch.rand(1, 3, 32, 64)
    frames = torch.rand(1, 3, 3, 32, 64)
    for a, b in zip(_outputs(depth_net, ego_net, images, frames),
                    _outputs(wide_depth, wide_ego, images, frames)):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_average_is_the_parameter_mean_and_refuses_other_architectures(tmp_path):
    from mono_depth_ros_training.average import average_weights

    config = ModelConfig(height=32, width=64, depth_width=0.25, egomotion_width=0.25)
    paths, states = [], []
    for seed in range(3):
        depth_net, ego_net = _trained_like(config, seed=seed)
        paths.append(str(tmp_path / f'w{seed}.safetensors'))
        save_networks(paths[-1], depth_net, ego_net, config)
        states.append(depth_net.state_dict())
    average_weights(paths, str(tmp_path / 'mean.safetensors'))
    mean_depth, _, metadata = load_networks(tmp_path / 'mean.safetensors')
    assert metadata['extra']['averaged_from'] == paths
    for name, value in mean_depth.state_dict().items():
        if value.is_floating_point():
            expected = sum(s[name].double() for s in states) / 3
            torch.testing.assert_close(value.double(), expected, rtol=1e-6, atol=1e-7)
    other = ModelConfig(height=32, width=64, depth_width=0.5, egomotion_width=0.25)
    save_networks(tmp_path / 'other.safetensors', *build_networks(other), other)
    with pytest.raises(ValueError, match='architecture'):
        average_weights([paths[0], str(tmp_path / 'other.safetensors')],
                        str(tmp_path / 'bad.safetensors'))
    with pytest.raises(ValueError, match='at least two'):
        average_weights(paths[:1], str(tmp_path / 'bad.safetensors'))
