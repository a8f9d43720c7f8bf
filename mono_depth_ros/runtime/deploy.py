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

"""Deployment: the networks as ONNX files, and onnxruntime as the pipeline's backend.

``python -m mono_depth_ros.runtime.deploy export-onnx WEIGHTS OUT.onnx`` writes
``OUT.depth.onnx`` (input ``image`` ``(batch, 3, H, W)`` in ``[0, 1]``; output
``disparity`` ``(batch, 1, H, W)``, the finest scale), ``OUT.egomotion.onnx`` (input
``frames`` ``(batch, S, 3, H, W)``; output ``egomotion`` ``(batch, S - 1, 6)``, ``tx ty tz
rx ry rz``, entry ``i`` mapping camera ``i`` to ``i + 1``) and ``OUT.json`` (input size,
snippet length, opset, the source weights' metadata). The batch axis is dynamic; the
opset is :data:`OPSET`. Export uses torch's TorchScript-based exporter (the dynamo-based
one needs onnxscript, which the package does not depend on).

:func:`onnx_networks` turns loaded torch networks into callables backed by onnxruntime
sessions with the torch networks' interface (torch tensors in and out).
``DepthPipeline(..., backend='onnxruntime')`` runs a frame's resize, depth and ego-motion
as one :class:`FrameSession` call instead: the same values (the resize bit for bit), with
the few numpy steps around it.

May import: numpy, torch, onnxruntime (lazily), :mod:`mono_depth_ros.core`.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any, Dict, Mapping, Sequence, Tuple
import warnings

from mono_depth_ros.core.geometry import pose_vec_to_mat
from mono_depth_ros.core.weights import load_networks
import numpy as np
import torch

__all__ = ['FrameSession', 'OPSET', 'export_onnx', 'main', 'onnx_bytes', 'onnx_networks']

#: the ONNX opset of exported models
OPSET = 17


class _FinestDisparity(torch.nn.Module):
    """The depth network's finest-scale disparity only (what inference uses)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)[0]


def onnx_bytes(depth_net: torch.nn.Module, ego_net: torch.nn.Module,
               metadata: Mapping[str, Any]) -> Tuple[bytes, bytes]:
    """Serialise both networks as ONNX models (eval mode, dynamic batch, :data:`OPSET`)."""
    h, w = (int(v) for v in metadata['input_size'])
    seq = int(metadata['model']['seq_length'])
    out = []
    for module, example, names in (
            (_FinestDisparity(depth_net), torch.rand(1, 3, h, w), ('image', 'disparity')),
            (ego_net, torch.rand(1, seq, 3, h, w), ('frames', 'egomotion'))):
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # tracer and exporter deprecation chatter
            torch.onnx.export(module.eval().cpu(), (example,), buf, input_names=[names[0]],
                              output_names=[names[1]], opset_version=OPSET,
                              dynamic_axes={names[0]: {0: 'batch'}, names[1]: {0: 'batch'}},
                              dynamo=False)
        out.append(buf.getvalue())
    return out[0], out[1]


def export_onnx(weights: str, out: Path) -> Dict[str, Path]:
    """Write both networks of ``weights`` as ONNX files next to ``out`` (see the module)."""
    depth_net, ego_net, metadata = load_networks(weights, 'cpu')
    depth, ego = onnx_bytes(depth_net, ego_net, metadata)
    out = Path(out)
    stem = out.with_suffix('') if out.suffix == '.onnx' else out
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {'depth': Path(f'{stem}.depth.onnx'), 'egomotion': Path(f'{stem}.egomotion.onnx'),
             'metadata': Path(f'{stem}.json')}
    for key, data in (('depth', depth), ('egomotion', ego)):
        tmp = paths[key].with_suffix('.tmp')
        tmp.write_bytes(data)
        tmp.replace(paths[key])  # never a half-written model
    paths['metadata'].write_text(json.dumps({
        'opset': OPSET, 'input_size': list(metadata['input_size']),
        'seq_length': int(metadata['model']['seq_length']), 'source_weights': str(weights),
        'depth': {'input': 'image', 'output': 'disparity (finest scale)'},
        'egomotion': {'input': 'frames', 'output': 'egomotion (tx ty tz rx ry rz)'},
        'weights_metadata': dict(metadata)}, indent=2, default=str))
    return paths


def _cpu_session(model: bytes, threads: int):
    """Return an onnxruntime CPU session of ``model`` with ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(int(threads), 1)
    options.inter_op_num_threads = 1
    # Idle pool threads would spin for work and take CPU the rest of the robot needs.
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(model, options, providers=['CPUExecutionProvider'])


class _Session:
    """An onnxruntime session called like the torch network it replaces."""

    def __init__(self, model: bytes, threads: int, finest_only: bool) -> None:
        self.session = _cpu_session(model, threads)
        self.input = self.session.get_inputs()[0].name
        self.finest_only = finest_only

    def run(self, x: np.ndarray) -> np.ndarray:
        """Return the model's output for a float32 array (the pipeline's per-frame call)."""
        return self.session.run(None, {self.input: x})[0]

    def __call__(self, x: torch.Tensor):
        y = torch.from_numpy(self.run(x.detach().cpu().numpy()))
        return [y] if self.finest_only else y  # the depth network returns a pyramid

    def eval(self) -> '_Session':  # noqa: A003 - the torch module interface
        return self


class _FrameGraph(torch.nn.Module):
    """One frame's whole network work: the box resize, the depth and the window's motion.

    Inputs: the camera frame ``(H0, W0, 3)`` uint8, the resize's two passes
    (:meth:`~mono_depth_ros.core.resize.BoxResize.matrices`, so that one graph serves every
    camera size) and the ``seq_length - 1`` previous network inputs ``(1, 3, H, W)``.
    Outputs: depth ``(H, W)`` (network units), the network input ``(1, 3, H, W)`` and the
    ego-motion network's ``next_T_prev`` of the newest frame ``(4, 4)``.
    """

    def __init__(self, depth_net: torch.nn.Module, ego_net: torch.nn.Module,
                 size: Tuple[int, int]) -> None:
        super().__init__()
        self.depth_net, self.ego_net = depth_net, ego_net
        self.h, self.w = size

    def forward(self, rgb: torch.Tensor, columns: torch.Tensor, column_offset: torch.Tensor,
                rows: torch.Tensor, row_offset: torch.Tensor, *previous: torch.Tensor):
        x = torch.floor(rgb.float().reshape(-1, columns.shape[0]) @ columns + column_offset)
        x = torch.floor(torch.matmul(rows, x.reshape(-1, rows.shape[1], self.w * 3))
                        + row_offset)
        image = (x.reshape(self.h, self.w, 3) / 255.0).permute(2, 0, 1)[None]
        depth = torch.reciprocal(self.depth_net(image)[0][0, 0])
        window = torch.cat(list(previous) + [image])[None]
        return depth, image, pose_vec_to_mat(self.ego_net(window)[0, -1])


class FrameSession:
    """:class:`_FrameGraph` exported once and run by onnxruntime: one call per frame.

    A frame's work in one session call keeps the per-frame Python and numpy calls few:
    each one after a network run finds the caches cold and costs several times its own
    time (``benchmarks/bench_pipeline.py``).
    """

    def __init__(self, depth_net: torch.nn.Module, ego_net: torch.nn.Module,
                 metadata: Mapping[str, Any], threads: int = 1) -> None:
        """Export the graph in memory (dynamic camera size) and open its session."""
        h, w = (int(v) for v in metadata['input_size'])
        self.previous = int(metadata['model']['seq_length']) - 1
        names = ['rgb', 'columns', 'column_offset', 'rows', 'row_offset'] + [
            f'previous_{i}' for i in range(self.previous)]
        example = (torch.zeros(2 * h, 2 * w, 3, dtype=torch.uint8),
                   torch.from_numpy(np.kron(np.full((2, 1), 0.5, np.float32),
                                            np.eye(3, dtype=np.float32))),
                   torch.tensor(0.5), torch.full((1, 2), 0.5), torch.tensor(0.5),
                   *[torch.zeros(1, 3, h, w)] * self.previous)
        dynamic = {'rgb': {0: 'camera_height', 1: 'camera_width'},
                   'columns': {0: 'column_period_in', 1: 'column_period_out'},
                   'rows': {0: 'row_period_out', 1: 'row_period_in'}}
        buf = io.BytesIO()
        graph = _FrameGraph(depth_net, ego_net, (h, w)).eval().cpu()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter('ignore')
            torch.onnx.export(graph, example, buf, input_names=names,
                              output_names=['depth', 'image', 'next_T_prev'],
                              opset_version=OPSET, dynamic_axes=dynamic, dynamo=False)
        self._session = _cpu_session(buf.getvalue(), threads)
        self._names = names

    def run(self, rgb: np.ndarray, matrices: Sequence[np.ndarray],
            previous: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return depth ``(H, W)``, the input ``(1, 3, H, W)`` and ``next_T_prev`` (4, 4).

        ``matrices`` are the resize's four arrays, ``previous`` the previous inputs.
        """
        feed = dict(zip(self._names, [rgb, *matrices, *previous]))
        depth, image, motion = self._session.run(None, feed)
        return depth, image, motion


def onnx_networks(depth_net: torch.nn.Module, ego_net: torch.nn.Module,
                  metadata: Mapping[str, Any], threads: int = 1) -> Tuple[_Session, _Session]:
    """Export both networks in memory; return onnxruntime-backed stand-ins for them."""
    depth, ego = onnx_bytes(depth_net, ego_net, metadata)
    return _Session(depth, threads, True), _Session(ego, threads, False)


def main(argv=None) -> None:
    """``export-onnx WEIGHTS OUT.onnx``: write the ONNX files and say what they hold."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    export = sub.add_parser('export-onnx', help='write both networks as ONNX')
    export.add_argument('weights', help='a .safetensors weights file')
    export.add_argument('out', type=Path, help='OUT.onnx: writes OUT.depth.onnx, '
                        'OUT.egomotion.onnx and OUT.json')
    args = parser.parse_args(argv)
    paths = export_onnx(args.weights, args.out)
    meta = json.loads(paths['metadata'].read_text())
    h, w = meta['input_size']
    print(f'opset {OPSET}, input {w}x{h}, dynamic batch; snippet of {meta["seq_length"]} '
          'frames for ego-motion')
    for key, path in paths.items():
        print(f'{key:>10}: {path} ({path.stat().st_size / 2**20:.1f} MiB)')


if __name__ == '__main__':
    main()
