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


"""The one inference object the ROS node wraps: frames in, depth, points and odometry out.

Pure torch and numpy (no ROS): :class:`DepthPipeline` takes RGB frames with their stamps
and intrinsics and returns metric-scaled depth (NaN where there is no estimate), a coloured
point cloud in the camera optical frame, and ``odom_T_camera`` chained from the ego-motion
network. Depth and odometry share one scale: ``depth_scale`` times, optionally, the factor
that makes the fitted ground plane lie ``camera_height`` metres below the camera.
"""

from __future__ import annotations

from dataclasses import dataclass
import threading
from typing import Optional, Tuple, Union

from mono_depth_ros.core.geometry import pose_vec_to_mat, scale_intrinsics
from mono_depth_ros.core.weights import load_networks
from mono_depth_ros.inference import frames_to_tensor
import numpy as np
import torch

__all__ = ['DepthPipeline', 'FrameResult', 'ground_plane_height']


@dataclass
class FrameResult:
    """What one frame gives.

    Attributes:
        stamp_ns: the input's stamp.
        depth: ``(H, W)`` float32 metres (network resolution), NaN = no estimate.
        intrinsics: ``(3, 3)`` for ``depth``'s resolution.
        image: ``(H, W, 3)`` uint8, the input resized to ``depth``'s resolution.
        odom_T_camera: ``(4, 4)`` float64 pose of the camera in the odometry frame.
        scale: the metric scale applied to the network's depth and translation.
        reset: the odometry was reset at this frame.

    """

    stamp_ns: int
    depth: np.ndarray
    intrinsics: np.ndarray
    image: np.ndarray
    odom_T_camera: np.ndarray
    scale: float
    reset: bool


def ground_plane_height(points: np.ndarray, iterations: int = 60, threshold: float = 0.02,
                        seed: int = 0) -> Optional[float]:
    """Distance from the camera to the dominant plane below it (RANSAC), or None.

    ``points`` ``(N, 3)`` are in the optical frame (y down); only points below the optical
    axis (y > 0) are used, and a plane counts as ground if its normal is within 30 degrees
    of the y axis. A point is an inlier within ``threshold`` times its own distance (depth
    noise grows with range).
    """
    below = points[np.isfinite(points).all(1) & (points[:, 1] > 0)]
    if len(below) < 50:
        return None
    rng = np.random.default_rng(seed)
    tol = threshold * np.linalg.norm(below, axis=1)
    best, best_count = None, 0
    for _ in range(iterations):
        a, b, c = below[rng.choice(len(below), 3, replace=False)]
        normal = np.cross(b - a, c - a)
        norm = np.linalg.norm(normal)
        if norm < 1e-9:
            continue
        normal /= norm
        if abs(normal[1]) < np.cos(np.radians(30)):
            continue
        count = int((np.abs((below - a) @ normal) < tol).sum())
        if count > best_count:
            best, best_count = (normal, a), count
    if best is None or best_count < 30:
        return None
    normal, centre = best
    for shrink in (1.0, 0.5, 0.25):  # refit on the inliers with a tightening band
        inliers = below[np.abs((below - centre) @ normal) < shrink * tol]
        if len(inliers) < 3:
            break
        centre = inliers.mean(0)
        _, _, vt = np.linalg.svd(inliers - centre, full_matrices=False)
        normal = vt[-1]
    return float(abs(centre @ normal))


class DepthPipeline:
    """Networks plus the state of a running camera (previous frames, odometry).

    Args:
        weights: a weights file (safetensors + metadata).
        device: ``'cpu'`` or ``'cuda'``.
        depth_scale: fixed factor from network units to metres.
        camera_height: if set (metres), rescale so the fitted ground plane lies this far
            below the camera (smoothed over frames); depth and odometry use the result.
        scale_smoothing: weight of the newest ground-plane estimate (0 to 1).
        max_depth: depths beyond this (metres) become NaN.

    """

    def __init__(self, weights: Union[str, 'object'], device: str = 'cpu',
                 depth_scale: float = 1.0, camera_height: Optional[float] = None,
                 scale_smoothing: float = 0.1, max_depth: float = 80.0) -> None:
        """Load the networks (a bad file raises :class:`~mono_depth_ros.core.WeightsError`)."""
        if depth_scale <= 0:
            raise ValueError(f'depth_scale must be positive, got {depth_scale}')
        self.depth_net, self.ego_net, self.metadata = load_networks(weights, device)
        self.size: Tuple[int, int] = tuple(self.metadata['input_size'])
        self.seq_length = int(self.metadata['model']['seq_length'])
        self.device = device
        self.depth_scale = depth_scale
        self.camera_height = camera_height
        self.scale_smoothing = scale_smoothing
        self.max_depth = max_depth
        self.lock = threading.Lock()  # guards the networks (online fine-tuning swaps them)
        self.reset()

    def reset(self) -> None:
        """Forget previous frames and restart odometry at the identity."""
        self._frames = []
        self._last_stamp: Optional[int] = None
        self._pose = np.eye(4)
        self._ground_scale: Optional[float] = None
        self._pending_reset = True

    def swap_networks(self, depth_state: dict, ego_state: dict) -> None:
        """Load new weights into the inference networks atomically (between frames)."""
        with self.lock:
            self.depth_net.load_state_dict(depth_state)
            self.ego_net.load_state_dict(ego_state)

    def _scale(self, points: np.ndarray) -> float:
        if self.camera_height is None:
            return self.depth_scale
        height = ground_plane_height(points)
        if height is not None and height > 0:
            estimate = self.camera_height / height
            if self._ground_scale is None:
                self._ground_scale = estimate
            else:
                a = self.scale_smoothing
                self._ground_scale = (1 - a) * self._ground_scale + a * estimate
        return self.depth_scale * (self._ground_scale or 1.0)

    @torch.no_grad()
    def process(self, rgb: np.ndarray, stamp_ns: int,
                intrinsics: np.ndarray) -> FrameResult:
        """Estimate depth and update odometry for one frame.

        Args:
            rgb: ``(H0, W0, 3)`` uint8.
            stamp_ns: the frame's time; a stamp earlier than the previous one (a bag loop)
                resets odometry.
            intrinsics: ``(3, 3)`` of the ``H0 x W0`` image.

        Raises:
            ValueError: the image is not ``(H, W, 3)`` uint8, has non-finite values, or the
                intrinsics are not a finite ``(3, 3)`` with positive focal lengths.

        """
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or rgb.size == 0:
            raise ValueError(f'expected an (H, W, 3) uint8 image, got {rgb.shape} {rgb.dtype}')
        k0 = np.asarray(intrinsics, dtype=np.float64)
        if k0.shape != (3, 3) or not np.isfinite(k0).all() or k0[0, 0] <= 0 or k0[1, 1] <= 0:
            raise ValueError(f'intrinsics must be a finite 3x3 with positive focal lengths, '
                             f'got {k0.tolist()}')
        if self._last_stamp is not None and stamp_ns < self._last_stamp:
            self.reset()
        h0, w0 = rgb.shape[:2]
        h, w = self.size
        k = scale_intrinsics(torch.from_numpy(k0)[None], w / w0, h / h0)[0].numpy()
        image = frames_to_tensor([rgb], self.size, self.device)
        with self.lock:
            depth = (1.0 / self.depth_net(image)[0])[0, 0].double().cpu().numpy()
            motion = None
            if self._frames:
                window = (self._frames + [image])[-self.seq_length:]
                while len(window) < self.seq_length:
                    window.insert(0, window[0])
                vec = self.ego_net(torch.cat(window)[None])[0, -1]
                motion = pose_vec_to_mat(vec.double().cpu()[None])[0].numpy()
        grid_v, grid_u = np.mgrid[0:h, 0:w]
        rays = np.stack([(grid_u - k[0, 2]) / k[0, 0], (grid_v - k[1, 2]) / k[1, 1],
                         np.ones((h, w))], -1)
        scale = self._scale((rays * depth[..., None]).reshape(-1, 3))
        depth_m = (depth * scale).astype(np.float32)
        depth_m[~np.isfinite(depth_m) | (depth_m <= 0) | (depth_m > self.max_depth)] = np.nan
        if motion is not None:
            motion = motion.copy()
            motion[:3, 3] *= scale
            self._pose = self._pose @ np.linalg.inv(motion)
        self._frames = (self._frames + [image])[-(self.seq_length - 1):]
        self._last_stamp = stamp_ns
        reset, self._pending_reset = self._pending_reset, False
        small = (image[0].permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        return FrameResult(stamp_ns, depth_m, k, small, self._pose.copy(), scale, reset)
