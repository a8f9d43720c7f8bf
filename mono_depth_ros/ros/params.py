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

"""The depth node's parameters: one typed :class:`NodeConfig`, declared in one loop.

Each field carries its description, its range and whether it is read-only in the
dataclass field's metadata; :func:`declare_config` turns them into ROS parameter
descriptors, declares every parameter and returns the values as a ``NodeConfig``.
:func:`check_config` rejects values no range can express (choices, list lengths), naming
the parameter; the node runs it at start (a FATAL line) and on every run-time change (the
change is refused with the reason). Read-only parameters are those a running node cannot
apply (they shape the endpoints, the networks or the fine-tuning thread).

May import: rclpy's parameter types, numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
import math
from typing import Any, List

import numpy as np
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

__all__ = ['NodeConfig', 'check_config', 'declare_config', 'read_only_names']

#: choices of the string parameters that have them
CHOICES = {'output_resolution': ('input', 'network'), 'input_qos': ('sensor_data', 'reliable'),
           'backend': ('auto', 'torch', 'onnxruntime')}


def _p(default: Any, description: str, read_only: bool = False, limits=None) -> Any:
    """Make a field with its parameter description (list defaults copied per instance)."""
    meta = {'description': description, 'read_only': read_only, 'limits': limits}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class NodeConfig:
    """Every parameter of ``depth_node`` (names, defaults and descriptions as declared)."""

    weights: str = _p('', 'weights file (.safetensors) or a shipped name (street, previous, '
                      'first); empty = the shipped default', True)
    device: str = _p('cpu', "'cpu', 'cuda' or 'cuda:N'", True)
    backend: str = _p('auto', "'auto' (onnxruntime on the CPU without online fine-tuning, "
                      "torch otherwise), 'torch' or 'onnxruntime' (the networks exported to "
                      'ONNX at start)', True)
    threads: int = _p(1, 'torch CPU threads for inference (0 = torch default, one per '
                      'core); 1 keeps camera rate when other processes load the CPU',
                      limits=(0, 256))
    max_input_pixels: int = _p(8_388_608, 'frames with more pixels (width x height) are '
                               'skipped before decoding; default 8 MP (3840x2160)',
                               limits=(1, 2**31 - 1))
    input_qos: str = _p('sensor_data', "'sensor_data' (best effort, newest frame only) or "
                        "'reliable' (for large images over lossy links); per-topic QoS "
                        'overrides (qos_overrides.<topic>.subscription.*) apply on top',
                        True)
    depth_scale: float = _p(0.0, "metres per network depth unit; 0 = the weights' "
                            'calibration (1 if they carry none; with camera_height the '
                            'ground plane sets the scale)', limits=(0.0, 1e6))
    camera_height: float = _p(0.0, 'if > 0: metres from the camera to the ground; fixes the '
                              'monocular scale from a fitted ground plane',
                              limits=(0.0, 100.0))
    max_depth: float = _p(80.0, 'depths beyond this become NaN (metres)', limits=(0.1, 1000.0))
    pose_refinement_iterations: int = _p(3, "photometric refinement steps of each frame's "
                                         'motion on the previous depth (0 = the ego-motion '
                                         "network's motion as it is)", limits=(0, 50))
    pose_refinement_translation_prior: float = _p(
        0.0, "weight keeping each refined translation near the network's (network depth "
        'units; 0 = none; 0.01-0.1 for slow robot paths)', limits=(0.0, 1e6))
    output_resolution: str = _p('input', "'input' (the camera's size) or 'network'")
    publish_depth: bool = _p(True, 'publish depth and depth/camera_info')
    publish_points: bool = _p(True, 'publish the point cloud')
    publish_odom: bool = _p(True, 'publish odometry')
    publish_tf: bool = _p(True, 'broadcast odom -> camera (or base) on /tf')
    points_stride: int = _p(2, 'keep every n-th pixel in rows and columns', limits=(1, 64))
    odom_frame: str = _p('odom', 'odometry frame (REP 105)')
    camera_frame: str = _p('', "optical frame of the camera; empty = the image's "
                           'header.frame_id')
    base_frame: str = _p('', 'if set, odometry is published for this frame through the '
                         'static extrinsic base_T_camera')
    base_T_camera: List[float] = _p([0.0, 0.0, 0.0, -0.5, 0.5, -0.5, 0.5],
                                    'x y z qx qy qz qw of the camera optical frame in '
                                    'base_frame')
    fallback_intrinsics: List[float] = _p([0.0, 0.0, 0.0, 0.0], 'fx fy cx cy used until '
                                          'camera_info arrives (zeros: wait)')
    publish_static_tf: bool = _p(True, 'with base_frame set: broadcast base_frame -> camera '
                                 'frame (base_T_camera) on /tf_static')
    pose_covariance_diagonal: List[float] = _p(
        [0.01, 0.01, 0.01, 0.001, 0.001, 0.001], 'odometry pose covariance diagonal: x y z '
        '(m^2) roll pitch yaw (rad^2)')
    twist_covariance_diagonal: List[float] = _p(
        [0.04, 0.04, 0.04, 0.01, 0.01, 0.01], 'odometry twist covariance diagonal: vx vy vz '
        '((m/s)^2) wx wy wz ((rad/s)^2)')
    diagnostics_period: float = _p(1.0, 'seconds between /diagnostics messages (0 = none)',
                                   True, (0.0, 3600.0))
    compressed: bool = _p(False, 'subscribe to image/compressed instead of image', True)
    warn_period: float = _p(5.0, 'seconds between repeated warnings', limits=(0.0, 3600.0))
    online_training: bool = _p(False, 'fine-tune the networks on the incoming video in a '
                               'background thread', True)
    online_lr: float = _p(1e-4, 'learning rate of online fine-tuning', True, (1e-8, 1.0))
    online_buffer: int = _p(30, 'frames kept for online fine-tuning', True, (4, 10000))
    online_duty: float = _p(0.5, 'largest share of time spent fine-tuning', True, (0.01, 1.0))
    online_depth_lr_scale: float = _p(0.1, "the depth network's online learning rate as a "
                                      'share of online_lr (0 = depth frozen)', True, (0.0, 1.0))
    online_adapt_batch_norm: bool = _p(False, 'online steps re-estimate the batch-norm '
                                       'statistics (default: keep the offline ones)', True)
    online_save_path: str = _p('', 'where adapted weights are saved (service ~/save_weights '
                               'and shutdown); empty = do not save on shutdown', True)


def _descriptor(meta: dict, default: Any) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(description=meta['description'],
                                     read_only=meta['read_only'])
    limits = meta['limits']
    if limits is not None and isinstance(default, float):
        descriptor.floating_point_range = [FloatingPointRange(
            from_value=float(limits[0]), to_value=float(limits[1]))]
    elif limits is not None:
        descriptor.integer_range = [IntegerRange(from_value=int(limits[0]),
                                                 to_value=int(limits[1]), step=1)]
    return descriptor


def read_only_names() -> List[str]:
    """Names of the parameters a running node cannot change."""
    return [f.name for f in fields(NodeConfig) if f.metadata['read_only']]


def _finite(values, name: str, count: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size != count or not np.isfinite(array).all():
        raise ValueError(f'{name} needs {count} finite numbers, got {list(values)}')
    return array


def check_config(config: NodeConfig) -> None:
    """Raise ValueError naming the parameter if a value cannot work.

    Checks the choices of string parameters, ``device``, the lengths and values of the list
    parameters; numeric ranges are the descriptors' (rclpy enforces them).
    """
    for name, options in CHOICES.items():
        if getattr(config, name) not in options:
            raise ValueError(f'{name} must be one of {list(options)}, got '
                             f'{getattr(config, name)!r}')
    device = config.device
    if not (device == 'cpu' or device == 'cuda' or (
            device.startswith('cuda:') and device[5:].isdigit())):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if config.backend == 'onnxruntime' and (config.online_training or device != 'cpu'):
        raise ValueError("backend 'onnxruntime' runs on the CPU without online fine-tuning; "
                         "use backend 'torch' for device cuda or online_training")
    fx, fy, cx, cy = _finite(config.fallback_intrinsics, 'fallback_intrinsics', 4)
    if any((fx, fy, cx, cy)) and not (fx > 0 and fy > 0):
        raise ValueError(f'fallback_intrinsics: fx and fy must be positive (or all four '
                         f'zero: wait for camera_info), got {list(config.fallback_intrinsics)}')
    pose = _finite(config.base_T_camera, 'base_T_camera', 7)
    if math.isclose(float(np.linalg.norm(pose[3:])), 0.0, abs_tol=1e-12):
        raise ValueError('base_T_camera: the quaternion (the last four numbers) is zero')
    for name in ('pose_covariance_diagonal', 'twist_covariance_diagonal'):
        if (_finite(getattr(config, name), name, 6) < 0).any():
            raise ValueError(f'{name}: variances cannot be negative, got '
                             f'{list(getattr(config, name))}')


def declare_config(node) -> NodeConfig:
    """Declare every :class:`NodeConfig` field as a parameter of ``node``; return the values."""
    defaults = NodeConfig()
    values = {}
    for f in fields(NodeConfig):
        default = getattr(defaults, f.name)
        values[f.name] = node.declare_parameter(
            f.name, default, _descriptor(f.metadata, default)).value
    return NodeConfig(**values)
