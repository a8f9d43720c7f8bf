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

"""Batch norm folded into the convolutions (``fold_bn``): the same outputs without it."""

from mono_depth_ros.core.config import ModelConfig
from mono_depth_ros.core.networks import build_networks
from mono_depth_ros.core.weights import load_networks, read_weights, save_networks
from mono_depth_ros.core.weights import update_metadata
from mono_depth_ros_training.fold_bn import fold_networks, main
import numpy as np
import pytest
import torch


def _networks(**kwargs):
    """Networks whose batch-norm statistics and affine parameters are far from identity."""
    torch.manual_seed(0)
    config = ModelConfig(height=32, width=64, depth_width=0.25, egomotion_width=0.25,
                         egomotion_scale=0.1, **kwargs)
    depth_net, ego_net = build_networks(config)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for net in (depth_net, ego_net):
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    n = m.num_features
                    m.running_mean.copy_(torch.randn(n, generator=generator) * 0.3)
                    m.running_var.copy_(torch.rand(n, generator=generator) * 2 + 0.1)
                    m.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                    m.bias.copy_(torch.randn(n, generator=generator) * 0.1)
    return depth_net.double().eval(), ego_net.double().eval(), config


def _reference_batch_norm(x, m):
    """Batch norm in eval mode written out in numpy (the definition, not torch's layer)."""
    mean = m.running_mean.numpy()[None, :, None, None]
    var = m.running_var.numpy()[None, :, None, None]
    gamma = m.weight.detach().numpy()[None, :, None, None]
    beta = m.bias.detach().numpy()[None, :, None, None]
    return (x - mean) / np.sqrt(var + m.eps) * gamma + beta


@pytest.mark.parametrize('networks', ['egomotion', 'depth', 'both'])
def test_folded_networks_compute_the_same_in_eval_and_train_mode(networks):
    depth_net, ego_net, config = _networks()
    images = torch.rand(2, 3, 3, 32, 64, dtype=torch.float64)
    with torch.no_grad():
        want_depth = depth_net(images[:, 0])
        want_ego = ego_net(images)
    new_depth, new_ego, new_config = fold_networks(depth_net, ego_net, config, networks)
    folded_ego = networks in ('egomotion', 'both')
    folded_depth = networks in ('depth', 'both')
    assert new_config.egomotion_batch_norm is (not folded_ego)
    assert new_config.batch_norm is (not folded_depth)
    for net, folded in ((new_depth, folded_depth), (new_ego, folded_ego)):
        has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
        assert has_bn is not folded
    # Without batch norm, training mode computes what eval mode does.
    for mode in (False, True):
        new_depth.train(mode and folded_depth)
        new_ego.train(mode and folded_ego)
        with torch.no_grad():
            got_depth = new_depth(images[:, 0])
            got_ego = new_ego(images)
        for got, want in zip(got_depth, want_depth):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got_ego.numpy(), want_ego.numpy(), rtol=1e-10, atol=1e-13)
    # The statistics matter: the same weights with reset statistics give other outputs,
    # so the equality above is the fold's doing.
    for m in ego_net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
    with torch.no_grad():
        assert not torch.allclose(ego_net(images), want_ego, rtol=1e-3)


def test_first_block_matches_a_numpy_convolution_then_batch_norm():
    """One folded block against the unfolded block computed by hand (conv, then the formula)."""
    _, ego_net, config = _networks()
    _, new_ego, _ = fold_networks(build_networks(config)[0].double(), ego_net, config)
    block, folded = ego_net.body[0], new_ego.body[0]
    x = torch.rand(1, 9, 32, 64, dtype=torch.float64)
    with torch.no_grad():
        conv = torch.nn.functional.conv2d(x, block[0].weight, None, block[0].stride,
                                          block[0].padding).numpy()
        want = np.maximum(_reference_batch_norm(conv, block[1]), 0)
        got = folded(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_weights_file_keeps_calibration_and_loads_without_batch_norm(tmp_path):
    depth_net, ego_net, config = _networks()
    source, target = tmp_path / 'in.safetensors', tmp_path / 'out.safetensors'
    save_networks(source, depth_net.float(), ego_net.float(), config, training={'a': 1})
    update_metadata(source, calibration={'metres_per_unit': 0.2})
    assert main([str(source), str(target)]) == 0
    new_depth, new_ego, metadata = load_networks(target)
    assert metadata['calibration'] == {'metres_per_unit': 0.2}
    assert metadata['training'] == {'a': 1}
    assert metadata['model']['egomotion_batch_norm'] is False
    assert metadata['extra']['folded_batch_norm']['networks'] == 'egomotion'
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in new_ego.modules())
    tensors, _ = read_weights(source)
    for key, value in new_depth.state_dict().items():
        assert torch.equal(value, tensors['depth.' + key])
    images = torch.rand(2, 3, 3, 32, 64)
    with torch.no_grad():
        np.testing.assert_allclose(new_ego(images).numpy(), ego_net.float()(images).numpy(),
                                   rtol=1e-4, atol=1e-6)


def test_refuses_a_network_without_batch_norm_and_unknown_choices():
    depth_net, ego_net, config = _networks(egomotion_batch_norm=False)
    with pytest.raises(ValueError, match='ego-motion network has no batch norm'):
        fold_networks(depth_net, ego_net, config, 'egomotion')
    with pytest.raises(ValueError, match='networks must be one of'):
        fold_networks(depth_net, ego_net, config, 'heads')
    # Depth still has batch norm: folding it alone works.
    _, _, new = fold_networks(depth_net, ego_net, config, 'depth')
    assert new.batch_norm is False and new.egomotion_batch_norm is False
