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
and intrinsics and returns metric-scaled depth (NaN where there is no estimate), the
camera-frame points of that depth (back-projected once, here), and ``odom_T_camera``
chained from the ego-motion network. Depth, points and odometry share one scale, from
:mod:`mono_depth_ros.runtime.scale`.

May import: :mod:`mono_depth_ros.core`, the other runtime modules (``deploy`` lazily).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

from mono_depth_ros.core.camera import pixel_grid, resize_intrinsics
from mono_depth_ros.core.inference import frame_to_input
from mono_depth_ros.core.refine import refine_motion, RefineConfig
from mono_depth_ros.core.resize import resize_plan
from mono_depth_ros.core.weights import load_networks, metric_scale
from mono_depth_ros.runtime.odometry import ChainedOdometry, motion_matrix
from mono_depth_ros.runtime.scale import make_scale
from mono_depth_ros.runtime.slot import NetworkSlot
import numpy as np
import torch

__all__ = ['BACKENDS', 'back_project', 'DepthPipeline', 'FrameRejected', 'FrameResult',
           'resolve_backend', 'upsample_depth']

#: inference backends of :class:`DepthPipeline`
BACKENDS = ('torch', 'onnxruntime')


def resolve_backend(backend: str, device: str = 'cpu', online_training: bool = False) -> str:
    """Return the backend to use; other names than ``'auto'`` come back as given.

    ``'auto'`` is onnxruntime where it applies (CPU, no online fine-tuning) and is installed:
    it is faster at batch 1 on one CPU thread (``benchmarks/bench_pipeline.py``); else torch.
    """
    if backend != 'auto':
        return backend
    if device != 'cpu' or online_training:
        return 'torch'
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return 'torch'
    return 'onnxruntime'


@dataclass
class FrameResult:
    """What one frame gives (all at the network's resolution ``H x W``).

    Attributes:
        stamp_ns: the input's stamp.
        depth: ``(H, W)`` float32 metres, NaN = no estimate.
        rays: ``(H, W, 3)`` float32 ``K^-1 (u, v, 1)`` per pixel (shared between frames:
            read only); :attr:`points` and :meth:`points_every` are ``depth`` times them.
        intrinsics: ``(3, 3)`` float64 for ``depth``'s resolution (shared between the
            frames of one camera: do not modify it).
        image: ``(3, H, W)`` float32 CPU tensor in ``[0, 1]``: the network's input.
        odom_T_camera: ``(4, 4)`` float64 pose of the camera in the odometry frame.
        scale: the metric scale applied to the network's depth and translation.
        reset: the odometry was (re)started at this frame.

    """

    stamp_ns: int
    depth: np.ndarray
    rays: np.ndarray
    intrinsics: np.ndarray
    image: torch.Tensor
    odom_T_camera: np.ndarray
    scale: float
    reset: bool

    @property
    def points(self) -> np.ndarray:
        """Return the ``(H, W, 3)`` float32 camera-frame points of ``depth`` (NaN with it)."""
        return self.points_every(1)

    def points_every(self, stride: int) -> np.ndarray:
        """Return the points of every ``stride``-th row and column, ``(H', W', 3)``.

        Built on request: a node that publishes a subsampled cloud, or none, does not pay
        for the full one.
        """
        return back_project(self.depth, self.rays, stride)

    def colours(self) -> np.ndarray:
        """Return the input at ``depth``'s resolution as RGB uint8 ``(H, W, 3)``."""
        return (self.image.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)


class FrameRejected(ValueError):
    """A frame the pipeline will not process; ``kind`` names the reason in a few words."""

    def __init__(self, message: str, kind: str) -> None:
        """Keep the message and the kind."""
        super().__init__(message)
        self.kind = kind


def _check_frame(rgb: np.ndarray, intrinsics: np.ndarray,
                 accepted: Optional[Tuple[bytes, Tuple[int, int]]] = None
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """Return the frame and float64 intrinsics, or raise :class:`FrameRejected`.

    ``accepted`` is the camera key (intrinsics bytes, input size) last accepted: the same
    calibration again needs no second check.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or rgb.size == 0:
        raise FrameRejected(f'expected an (H, W, 3) uint8 image, got {rgb.shape} '
                            f'{rgb.dtype}', 'image')
    k = np.asarray(intrinsics, dtype=np.float64)
    if accepted is not None and k.shape == (3, 3) and k.tobytes() == accepted[0]:
        return rgb, k
    if k.shape != (3, 3) or not np.isfinite(k).all() or k[0, 0] <= 0 or k[1, 1] <= 0:
        raise FrameRejected(f'intrinsics must be a finite 3x3 with positive focal lengths, '
                            f'got {k.tolist()}', 'intrinsics')
    return rgb, k


class DepthPipeline:
    """Networks plus the state of a running camera (previous frames, scale, odometry).

    Args:
        weights: a weights file (safetensors + metadata).
        device: ``'cpu'`` or ``'cuda'``.
        depth_scale: factor from network units to metres; None: the weights' calibration
            (:func:`~mono_depth_ros.core.weights.metric_scale`; 1 if they carry none) for the
            fixed scale, 1 with ``camera_height`` (the ground plane makes it metric).
        camera_height: if set (metres), rescale so the fitted ground plane lies this far
            below the camera (smoothed over frames); depth and odometry use the result.
        scale_smoothing: weight of the newest ground-plane estimate (0 to 1).
        max_depth: depths beyond this (metres) become NaN.
        scale_interval: fit the ground plane every this many frames (the scale changes
            slowly and is smoothed anyway; 1 = every frame), ...
        scale_stride: ... on every ``scale_stride``-th pixel in rows and columns.
        backend: ``'torch'`` or ``'onnxruntime'`` (a frame's resize and both networks
            exported to one ONNX graph in memory at start,
            :class:`~mono_depth_ros.runtime.deploy.FrameSession`, run by onnxruntime on the
            CPU; ``slot`` keeps the torch networks; online fine-tuning needs torch).
        threads: onnxruntime's intra-op threads (torch's are set process-wide by the caller).
        refine_iterations: photometric refinement steps of each frame's motion on the
            previous frame's depth (:mod:`mono_depth_ros.core.refine`; 0 = the ego-motion
            network's motion as it is). The network alone misses about a quarter of the
            rotation; three steps bring the rotation gain near 1 on the held-out streets.
        refine_translation_prior: weight of the refinement's prior that keeps each
            translation near the network's (``RefineConfig.translation_prior``; network
            depth units; 0 = none, the best on the validation paths with the default
            weights; 0.01 or more holds slow robot paths nearer the network's translation).

    Per frame only what the frame needs is computed: the back-projection rays are built
    once per intrinsics, everything stays float32, and the ground-plane fit runs at its
    interval on a subsample.
    """

    def __init__(self, weights: Union[str, 'object'], device: str = 'cpu',
                 depth_scale: Optional[float] = None, camera_height: Optional[float] = None,
                 scale_smoothing: float = 0.1, max_depth: float = 80.0,
                 scale_interval: int = 5, scale_stride: int = 2, backend: str = 'torch',
                 threads: int = 1, refine_iterations: int = RefineConfig.iterations,
                 refine_translation_prior: float = RefineConfig.translation_prior) -> None:
        """Load the networks (a bad file raises :class:`~mono_depth_ros.core.WeightsError`)."""
        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
        if backend == 'onnxruntime' and device != 'cpu':
            raise ValueError("backend 'onnxruntime' runs on the CPU here; use device 'cpu'")
        depth_net, ego_net, self.metadata = load_networks(weights, device)
        #: the weights' metres per depth unit (None: uncalibrated)
        self.calibration = metric_scale(self.metadata)
        self.set_scale(depth_scale, camera_height, scale_smoothing)
        #: onnxruntime's one call per frame (None: torch runs the networks of ``slot``)
        self._graph = None
        if backend == 'onnxruntime':
            from mono_depth_ros.runtime.deploy import FrameSession
            self._graph = FrameSession(depth_net, ego_net, self.metadata, threads)
        self.backend = backend
        self.slot = NetworkSlot(depth_net, ego_net)
        self.size: Tuple[int, int] = tuple(self.metadata['input_size'])
        self.seq_length = int(self.metadata['model']['seq_length'])
        self.device = device
        self.max_depth = max_depth
        self.odometry = ChainedOdometry()
        self._frames: List[torch.Tensor] = []
        self._input_size: Optional[Tuple[int, int]] = None
        if scale_interval < 1 or scale_stride < 1:
            raise ValueError(f'scale_interval and scale_stride must be >= 1, got '
                             f'{scale_interval} and {scale_stride}')
        self.scale_interval, self.scale_stride = scale_interval, scale_stride
        self._scale_value: Optional[float] = None
        self._since_fit = 0
        self._camera_key: Optional[Tuple[bytes, Tuple[int, int]]] = None
        self._k_rays: Optional[Tuple[np.ndarray, np.ndarray]] = None
        self.set_refinement(refine_iterations, refine_translation_prior)
        self._prev_depth: Optional[torch.Tensor] = None

    def reset(self) -> None:
        """Forget previous frames and the scale; restart odometry at the identity."""
        self._frames = []
        self._prev_depth = None
        self._input_size = None
        self._scale_value = None
        self.scale.reset()
        self.odometry.reset()

    def set_scale(self, depth_scale: Optional[float], camera_height: Optional[float] = None,
                  scale_smoothing: float = 0.1) -> None:
        """Replace the scale source (a fixed factor, or the ground plane if a height is set).

        ``depth_scale`` None: the weights' calibration for a fixed factor, 1 with the
        ground plane (see the class).

        Raises:
            ValueError: a non-positive factor or height (the old source stays).

        """
        kind = 'fixed' if camera_height is None else 'ground_plane'
        if depth_scale is None:
            depth_scale = (self.calibration or 1.0) if kind == 'fixed' else 1.0
        self.scale = make_scale(kind, depth_scale=depth_scale, camera_height=camera_height,
                                smoothing=scale_smoothing)
        self._scale_value = None

    def set_refinement(self, iterations: int,
                       translation_prior: float = RefineConfig.translation_prior) -> None:
        """Set the refinement steps per frame (0 = off) and its translation prior.

        Raises:
            ValueError: a negative count or prior (the old settings stay).

        """
        self.refine = RefineConfig(iterations=int(iterations),
                                   translation_prior=float(translation_prior))

    @torch.no_grad()
    def process(self, rgb: np.ndarray, stamp_ns: int, intrinsics: np.ndarray) -> FrameResult:
        """Estimate depth and update odometry for one frame.

        Args:
            rgb: ``(H0, W0, 3)`` uint8.
            stamp_ns: the frame's time; a stamp earlier than the previous one (a bag loop)
                resets odometry, and so does a change of the input's size (another camera
                or mode: the previous frames and the scale no longer apply).
            intrinsics: ``(3, 3)`` of the ``H0 x W0`` image.

        Raises:
            FrameRejected: the image is not ``(H, W, 3)`` uint8 (kind ``'image'``), the
                intrinsics are not a finite ``(3, 3)`` with positive focal lengths
                (``'intrinsics'``), or the stamp equals the previous frame's
                (``'duplicate_stamp'``: a second pose for one time would contradict the
                first on ``/tf``).

        """
        rgb, k0 = _check_frame(rgb, intrinsics, self._camera_key)
        last = self.odometry.last_stamp
        if last is not None and stamp_ns == last:
            raise FrameRejected(f"stamp {stamp_ns} ns repeats the previous frame's",
                                'duplicate_stamp')
        if (last is not None and stamp_ns < last) or (
                self._input_size not in (None, rgb.shape[:2])):
            self.reset()
        self._input_size = rgb.shape[:2]
        k, rays = self._camera(k0, rgb.shape[:2])
        image, depth, motion = self._infer(rgb, k)
        scale = self._update_scale(depth, rays)
        depth_m = depth * np.float32(scale)  # a copy: the refinement keeps ``depth``
        depth_m[~(depth_m > 0) | (depth_m > self.max_depth)] = np.nan  # NaN compares False
        pose = self.odometry.advance(stamp_ns, motion, scale)
        self._frames = (self._frames + [image])[-(self.seq_length - 1):]
        return FrameResult(stamp_ns, depth_m, rays, k, torch.from_numpy(image[0]), pose,
                           scale, self.odometry.take_reset())

    def _camera(self, k0: np.ndarray, input_size: Tuple[int, int]
                ) -> Tuple[np.ndarray, np.ndarray]:
        """Return the network-size intrinsics of ``k0`` and their rays ``K^-1 (u, v, 1)``.

        Both are kept until the camera (``k0`` or the input size) changes: a camera sends the
        same calibration with every frame.
        """
        key = (k0.tobytes(), tuple(input_size))
        if key != self._camera_key:
            k = resize_intrinsics(k0, input_size, self.size)
            grid = pixel_grid(*self.size, torch.float64)[0].reshape(3, -1).numpy()
            rays = (np.linalg.inv(k) @ grid).T.reshape(*self.size, 3).astype(np.float32)
            rays.flags.writeable = False  # shared by every frame's result
            self._camera_key, self._k_rays = key, (k, rays)
        return self._k_rays

    def _update_scale(self, depth: np.ndarray, rays: np.ndarray) -> float:
        """Return the scale; the ground plane is refitted every ``scale_interval`` frames."""
        if not self.scale.needs_points:
            return self.scale.update(None)
        self._since_fit += 1
        if self._scale_value is None or self._since_fit >= self.scale_interval:
            # float32 serves the fit
            sample = back_project(depth, rays, self.scale_stride).reshape(-1, 3)
            self._scale_value, self._since_fit = self.scale.update(sample), 0
        return self._scale_value

    def _infer(self, rgb: np.ndarray, k: np.ndarray
               ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """Return one frame's network input ``(1, 3, H, W)``, depth ``(H, W)`` and motion.

        The motion is ``next_T_prev`` (float64 4x4; None at a first frame), refined when
        refinement is on.
        """
        if self._graph is not None:
            image, depth, motion = self._run_graph(rgb)
        else:
            image = frame_to_input(rgb, self.size)
            depth, motion = self._run_torch(image)
        prev_depth, self._prev_depth = self._prev_depth, depth
        if motion is None or self.refine.iterations == 0 or prev_depth is None:
            return image, depth, motion
        tensor = self._tensor
        refined = refine_motion(tensor(motion[None]), tensor(self._frames[-1]), tensor(image),
                                tensor(prev_depth[None, None]), tensor(k), self.refine)
        return image, depth, refined[0].double().cpu().numpy()

    def _run_graph(self, rgb: np.ndarray
                   ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """One :class:`~mono_depth_ros.runtime.deploy.FrameSession` call for the frame."""
        plan = resize_plan(tuple(rgb.shape[:2]), self.size)
        matrices = plan.matrices()
        if matrices is None:  # no short period: Pillow resizes, the graph's passes are 1
            rgb, matrices = plan(rgb), resize_plan(self.size, self.size).matrices()
        frames = self._frames[-(self.seq_length - 1):]
        if frames:  # padded with the oldest frame, as the torch path pads its window
            previous = [frames[0]] * (self.seq_length - 1 - len(frames)) + frames
        else:  # a first frame: the motion output is not used
            previous = [np.zeros((1, 3, *self.size), np.float32)] * (self.seq_length - 1)
        depth, image, motion = self._graph.run(np.ascontiguousarray(rgb), matrices, previous)
        return image, depth, motion.astype(np.float64) if frames else None

    def _run_torch(self, image: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Run the torch networks on ``(1, 3, H, W)`` input: depth ``(H, W)``, motion.

        numpy in and out: torch on the CPU shares their memory; only a CUDA device copies.
        """
        with self.slot.use() as (depth_net, ego_net):
            depth = np.reciprocal(self._run(depth_net, image)[0, 0])
            if not self._frames:
                return depth, None
            window = (self._frames + [image])[-self.seq_length:]
            while len(window) < self.seq_length:
                window.insert(0, window[0])
            vec = self._run(ego_net, np.concatenate(window)[None])[0, -1]
        return depth, motion_matrix(vec)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        """``array`` as a float32 tensor on the pipeline's device (no copy on the CPU)."""
        return torch.from_numpy(np.asarray(array, dtype=np.float32)).to(self.device)

    def _run(self, net: torch.nn.Module, array: np.ndarray) -> np.ndarray:
        """One torch network's (finest) output for ``array`` as a float32 array."""
        out = net(self._tensor(array))
        out = out[0] if isinstance(out, (list, tuple)) else out
        return out.float().cpu().numpy()


def back_project(depth: np.ndarray, rays: np.ndarray, stride: int = 1) -> np.ndarray:
    """Return the points ``(H', W', 3)`` of every ``stride``-th pixel (NaN with ``depth``)."""
    return depth[::stride, ::stride, None] * rays[::stride, ::stride]


def upsample_depth(depth: np.ndarray, intrinsics: np.ndarray,
                   size: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour resize of a depth map to ``size = (H, W)``, keeping NaN holes.

    Returns the resized depth and its intrinsics
    (:func:`~mono_depth_ros.core.camera.resize_intrinsics`).
    """
    h, w = depth.shape
    out_h, out_w = size
    rows = np.minimum(((np.arange(out_h) + 0.5) * h / out_h).astype(int), h - 1)
    cols = np.minimum(((np.arange(out_w) + 0.5) * w / out_w).astype(int), w - 1)
    return depth[rows][:, cols], resize_intrinsics(intrinsics, (h, w), (out_h, out_w))
