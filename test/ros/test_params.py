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

"""The parameter checks name the parameter; config/depth.yaml lists every parameter."""

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip('rcl_interfaces', reason='rcl_interfaces (ROS 2) is not installed')

from mono_depth_ros.ros.params import check_config, NodeConfig, read_only_names  # noqa: E402, I100
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('change, words', [
    ({'device': 'gpu'}, 'device'),
    ({'device': 'cuda:x'}, 'device'),
    ({'output_resolution': 'bogus'}, 'output_resolution'),
    ({'input_qos': 'fast'}, 'input_qos'),
    ({'fallback_intrinsics': [100.0, 100.0, 50.0]}, 'fallback_intrinsics needs 4'),
    ({'fallback_intrinsics': [0.0, 100.0, 50.0, 20.0]}, 'fx and fy must be positive'),
    ({'base_T_camera': [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]}, 'base_T_camera: the quaternion'),
    ({'base_T_camera': [0.0] * 6}, 'base_T_camera needs 7'),
    ({'pose_covariance_diagonal': [0.1] * 5}, 'pose_covariance_diagonal needs 6'),
    ({'twist_covariance_diagonal': [0.1] * 5 + [-1.0]}, 'cannot be negative'),
])
def test_bad_values_name_the_parameter(change, words):
    """Each value that cannot work is refused with the parameter's name in the text."""
    with pytest.raises(ValueError, match=words):
        check_config(dataclasses.replace(NodeConfig(), **change))


def test_defaults_pass_and_yaml_lists_every_parameter():
    """The defaults pass; config/depth.yaml sets exactly the declared parameters."""
    check_config(NodeConfig())
    check_config(dataclasses.replace(NodeConfig(), device='cuda:1',
                                     fallback_intrinsics=[200.0, 200.0, 100.0, 50.0]))
    params = yaml.safe_load((ROOT / 'config' / 'depth.yaml').read_text())
    declared = {f.name for f in dataclasses.fields(NodeConfig)}
    assert set(params['/**']['ros__parameters']) == declared
    defaults = dataclasses.asdict(NodeConfig())
    for name, value in params['/**']['ros__parameters'].items():
        assert value == defaults[name], name
    assert {'weights', 'device', 'compressed', 'input_qos'} <= set(read_only_names())
    assert 'depth_scale' not in read_only_names()
