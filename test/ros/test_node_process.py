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

"""depth_node in its own process: start-up errors, a fuzz corpus over DDS, Ctrl-C."""

import io
from pathlib import Path
import re
import signal
import struct
import subprocess
import sys
import time
import zlib

from mono_depth_ros.data.messages import fill_rgb_message
import numpy as np
from PIL import Image as PILImage
import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')

from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402, I100


#: the console script ``ros2 run`` starts (the venv's, next to this Python)
EXECUTABLE = str(Path(sys.executable).with_name('depth_node'))


class NodeProcess:
    """The installed ``depth_node`` executable with parameters, output to a log file."""

    def __init__(self, tmp_path, weights, *params):
        """Start the node (``params`` as ``name:=value`` strings)."""
        self.log_path = tmp_path / f'node_{time.monotonic_ns()}.log'
        args = [EXECUTABLE, '--ros-args', '-p', f'weights:={weights}']
        for p in params:
            args += ['-p', p]
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        """Everything the node has written so far."""
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def stop(self, sig=signal.SIGINT, timeout=20):
        """Send ``sig`` and wait; return the exit status (None if it did not end)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self.log.close()


@pytest.mark.parametrize('param, words', [
    ('fallback_intrinsics:=[100.0, 100.0, 50.0]', 'fallback_intrinsics needs 4'),
    ('output_resolution:=bogus', 'output_resolution must be one of'),
    ('base_T_camera:=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]', 'base_T_camera: the quaternion'),
    ('device:=cuda', 'sees no CUDA device'),
])
def test_start_up_errors_are_one_fatal_line(tmp_path, weights, param, words):
    """A parameter that cannot work: exit status 1, one FATAL line naming it, no traceback."""
    if 'cuda' in param:
        import torch
        if torch.cuda.is_available():
            pytest.skip('CUDA is available here')
    node = NodeProcess(tmp_path, weights, param)
    try:
        status = node.proc.wait(timeout=60)
    finally:
        node.stop()
    out = node.text()
    assert status == 1, out
    fatal = [line for line in out.splitlines() if '[FATAL]' in line]
    assert len(fatal) == 1 and words in fatal[0], out
    assert 'Traceback' not in out, out


class Client:
    """A client node that feeds ``image``/``camera_info`` and counts ``depth``."""

    def __init__(self):
        """Create the node and its endpoints."""
        rclpy.init()
        self.node = rclpy.create_node('fuzz_client')
        self.depth = []
        self.node.create_subscription(Image, 'depth', self.depth.append, 10)
        self.image = self.node.create_publisher(Image, 'image', 10)
        self.compressed = self.node.create_publisher(CompressedImage, 'image/compressed', 10)
        self.info = self.node.create_publisher(CameraInfo, 'camera_info', 10)
        self.sec = 100

    def spin(self, seconds):
        """Spin for ``seconds``."""
        end = time.time() + seconds
        while time.time() < end:
            rclpy.spin_once(self.node, timeout_sec=0.02)

    def send(self, msg, wait=1.0, stamp=None):
        """Publish ``msg`` (stamped anew unless ``stamp``); True if a depth image followed."""
        self.sec += 1
        msg.header.stamp.sec = self.sec if stamp is None else stamp
        before = len(self.depth)
        (self.compressed if isinstance(msg, CompressedImage) else self.image).publish(msg)
        end = time.time() + wait
        while time.time() < end and len(self.depth) == before:
            rclpy.spin_once(self.node, timeout_sec=0.02)
        return len(self.depth) > before

    def close(self):
        """Shut down."""
        self.node.destroy_node()
        rclpy.try_shutdown()


def _raw(h=48, w=64, encoding='rgb8', seed=0):
    return fill_rgb_message(Image(), np.random.default_rng(seed).integers(
        0, 256, (h, w, 3), np.uint8), encoding)


def _encoded(fmt, h=48, w=64):
    buf = io.BytesIO()
    rgb = np.random.default_rng(1).integers(0, 256, (h, w, 3), np.uint8)
    PILImage.fromarray(rgb).save(buf, format=fmt)
    return buf.getvalue()


def _png_header(w, h):
    def chunk(kind, payload):
        return (struct.pack('>I', len(payload)) + kind + payload
                + struct.pack('>I', zlib.crc32(kind + payload)))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(b'\x00' * 16)) + chunk(b'IEND', b''))


def raw_corpus():
    """(kind of fault, message) for raw images: encodings, sizes, steps, truncation."""
    out = []
    for enc in ('yuv422', '32FC1', '8UC3', '', 'RGB8'):
        m = _raw()
        m.encoding = enc
        out.append(('encoding', m))
    short = _raw()
    short.data = bytes(short.data)[:-1]
    small_step = _raw()
    small_step.step = 10
    empty = _raw()
    empty.height = 0
    lying = _raw()
    lying.height, lying.width = 4000, 4000  # claims more rows than the data has
    huge = _raw()
    huge.height, huge.width, huge.step = 20000, 20000, 60000
    mono16 = _raw()
    mono16.encoding, mono16.step = 'mono16', 128  # a valid encoding, too little data
    mono16.data = bytes(mono16.data)[:1000]
    out += [('layout', short), ('layout', small_step), ('layout', empty),
            ('layout', lying), ('too_large', huge), ('layout', mono16)]
    return out


def compressed_corpus():
    """(kind, CompressedImage) for every format: garbage, truncation, bombs, too large."""
    out = [('decode', CompressedImage(format='png', data=b'')),
           ('decode', CompressedImage(format='jpeg', data=b'\xff\xd8garbage' * 10)),
           ('decode', CompressedImage(format='png', data=_png_header(20000, 20000))),
           ('too_large', CompressedImage(format='png', data=_png_header(5000, 5000))),
           ('too_large', CompressedImage(format='png', data=_encoded('PNG', 3000, 3000)))]
    for fmt in ('PNG', 'JPEG', 'PPM', 'TIFF', 'BMP', 'WEBP'):
        data = _encoded(fmt)
        out.append(('decode', CompressedImage(format=fmt.lower(), data=data[:len(data) // 3])))
        out.append(('decode', CompressedImage(format=fmt.lower(), data=data[:12] + bytes(40))))
    return out


def _warnings_by_kind(text):
    kinds = re.findall(r'\[WARN\] \[[\d.]+\] \[depth_node\]: \[(\w+)\]', text)
    return {k: kinds.count(k) for k in set(kinds)}


def _bad_infos():
    infos = []
    for k in ([0.0] * 9, [100.0, 0, 32, 0, 100.0, 24, 0, 0, 0.0],
              [100.0, 0, 1e300, 0, 100.0, 24, 0, 0, 1.0], [float('nan')] + [1.0] * 8):
        info = CameraInfo(height=48, width=64)
        info.k = k
        infos.append(info)
    return infos


def _run_corpus(client, node, corpus, good):
    for kind, msg in corpus:
        assert not client.send(msg, wait=0.4), kind
        assert node.proc.poll() is None, f'node died on a {kind} fault:\n{node.text()}'
        assert client.send(good()), f'no answer to a good frame after a {kind} fault'


@pytest.mark.slow
@pytest.mark.parametrize('compressed', [False, True], ids=['raw', 'compressed'])
def test_fuzz_corpus_over_dds(tmp_path, weights, compressed):
    """The node survives every message, answers the next good frame, warns once per kind."""
    node = NodeProcess(tmp_path, weights, f'compressed:={str(compressed).lower()}',
                       'warn_period:=600.0', 'max_input_pixels:=4000000')
    client = Client()
    try:
        def good():
            if compressed:
                return CompressedImage(format='png', data=_encoded('PNG'))
            return _raw(seed=client.sec)
        deadline = time.time() + 60
        while time.time() < deadline and not client.depth:
            client.info.publish(CameraInfo(height=48, width=64, k=[
                40.0, 0, 32, 0, 40.0, 24, 0, 0, 1.0]))
            client.send(good(), wait=0.5)
        assert client.depth, node.text()
        _run_corpus(client, node, compressed_corpus() if compressed else raw_corpus(), good)
        for info in _bad_infos():
            client.info.publish(info)
        client.spin(0.5)
        assert not client.send(good(), wait=0.5, stamp=client.sec)  # a repeated stamp
        assert client.send(good())
        if not compressed:  # one row: a valid depth image whose step fits its data
            assert client.send(_raw(h=1, w=64, seed=3))
            depth = client.depth[-1]
            assert depth.height == 1 and depth.step == 4 * depth.width == len(depth.data)
        client.spin(0.5)
        expected = {kind for kind, _ in (compressed_corpus() if compressed else raw_corpus())}
        expected |= {'camera_info', 'duplicate_stamp'}
        warned = _warnings_by_kind(node.text())
        warned.pop('no_intrinsics', None)  # a first frame may beat camera_info over DDS
        assert warned == dict.fromkeys(expected, 1), node.text()
    finally:
        client.close()
        status = node.stop()
    assert status == 0 and 'Traceback' not in node.text(), node.text()


def _wait_for_library(pid: int, name: str, timeout: float = 60.0) -> bool:
    """Wait until process ``pid`` has mapped a shared library whose path contains ``name``."""
    maps = Path(f'/proc/{pid}/maps')
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if name in maps.read_text():
                return True
        except OSError:
            return False  # the process is gone
        time.sleep(0.002)
    return False


@pytest.mark.slow
@pytest.mark.skipif(not Path('/proc/self/maps').is_file(), reason='needs /proc (Linux)')
def test_ctrl_c_at_any_moment_of_the_imports(tmp_path, weights):
    """SIGINT anywhere in the seconds of the node's imports: exit 0, promptly, no traceback.

    A KeyboardInterrupt raised inside an import can be swallowed by a library and leave a
    half-imported module (once: numpy's ``dtypes``, then a RecursionError from scipy), so
    the signal lands at a sweep of moments, counted from when numpy's C extension is mapped
    (the node module's imports have begun; the entry point's handler is in place). Earlier
    than that the signal would land in the interpreter's own start-up (its ``site``
    import), which exits with status 1 before any of the package runs.
    """
    for delay in (0.0, 0.1, 0.3, 0.6, 1.0):
        node = NodeProcess(tmp_path, weights, 'fallback_intrinsics:=[40.0, 40.0, 32.0, 24.0]')
        assert _wait_for_library(node.proc.pid, '_multiarray_umath'), node.text()
        time.sleep(delay)
        start = time.time()
        status = node.stop(signal.SIGINT, timeout=15)
        took = time.time() - start
        out = node.text()
        assert status == 0 and took < 5, (delay, took, out)
        assert 'Traceback' not in out and 'Error' not in out, (delay, out)


@pytest.mark.slow
@pytest.mark.parametrize('delay', [0.5, 2.0, 'streaming'])
def test_ctrl_c_ends_the_node_cleanly(tmp_path, weights, delay):
    """SIGINT while starting or while frames stream in: exit 0 within seconds, no traceback."""
    node = NodeProcess(tmp_path, weights, 'fallback_intrinsics:=[40.0, 40.0, 32.0, 24.0]')
    client = Client()
    try:
        if delay == 'streaming':
            deadline = time.time() + 60
            while time.time() < deadline and len(client.depth) < 3:
                client.send(_raw(seed=client.sec), wait=0.1)
            for _ in range(5):  # frames in flight when the signal lands
                client.image.publish(_raw(seed=client.sec))
                client.sec += 1
                time.sleep(0.005)
        else:
            time.sleep(delay)
        start = time.time()
        status = node.stop(signal.SIGINT, timeout=15)
        took = time.time() - start
    finally:
        client.close()
    out = node.text()
    assert status == 0 and took < 15, out
    assert 'Traceback' not in out and 'RCLError' not in out, out
