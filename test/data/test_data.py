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


"""Loaders and message conversion against independent references and faithful files."""


from mono_depth_ros.data import DataError
from mono_depth_ros.data.bag import odometry_poses, read_camera_bag
from mono_depth_ros.data.kitti import (eigen_test_frames, KittiDrive, read_odometry_intrinsics,
                                       read_odometry_poses)
from mono_depth_ros.data.messages import (compressed_to_rgb, depth_from_message,
                                          fill_depth_message, fill_rgb_message,
                                          rgb_from_message)
from mono_depth_ros.data.snippets import prepare_snippets, SnippetDataset, write_split
from mono_depth_ros.data.video import read_frames
from mono_depth_ros.sim.dataset import (write_bag, write_frames, write_kitti_odometry,
                                        write_kitti_raw, write_video)
import numpy as np
import pytest


class Msg:
    """A plain object with an image message's fields (what the converters read)."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def _image_msg(array, encoding, pad=0):
    h, w = array.shape[:2]
    row = array.reshape(h, -1).view(np.uint8)
    padded = np.zeros((h, row.shape[1] + pad), np.uint8)
    padded[:, :row.shape[1]] = row
    return Msg(height=h, width=w, encoding=encoding, is_bigendian=0,
               step=row.shape[1] + pad, data=padded.tobytes())


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8'])
@pytest.mark.parametrize('pad', [0, 3])
def test_rgb_from_message_matches_rosbags_image(encoding, pad):
    """Every colour encoding against rosbags-image (cv2); padded rows decode the same.

    rosbags-image ignores ``step``, so it converts the unpadded message; ours must give the
    same array for the padded one.
    """
    cv2 = pytest.importorskip('cv2')
    from rosbags.image import message_to_cvimage

    rng = np.random.default_rng(0)
    channels = {'mono8': 1, 'rgb8': 3, 'bgr8': 3}.get(encoding, 4)
    raw = rng.integers(0, 256, (5, 7, channels), dtype=np.uint8)
    msg = _image_msg(raw, encoding, pad)
    reference = message_to_cvimage(_image_msg(raw, encoding), 'rgb8')
    if reference.ndim == 2:
        reference = cv2.cvtColor(reference, cv2.COLOR_GRAY2RGB)
    np.testing.assert_array_equal(rgb_from_message(msg), reference)


def test_image_message_errors_name_the_problem():
    """Unknown encoding, short data, too small a step and an empty image are refused."""
    good = _image_msg(np.zeros((4, 6, 3), np.uint8), 'rgb8')
    with pytest.raises(DataError, match='unsupported encoding'):
        rgb_from_message(Msg(**{**good.__dict__, 'encoding': 'yuv422'}))
    with pytest.raises(DataError, match='needs'):
        rgb_from_message(Msg(**{**good.__dict__, 'data': good.data[:-1]}))
    with pytest.raises(DataError, match='step'):
        rgb_from_message(Msg(**{**good.__dict__, 'step': 17}))
    with pytest.raises(DataError, match='empty'):
        rgb_from_message(Msg(**{**good.__dict__, 'height': 0}))
    with pytest.raises(DataError, match='cannot decode'):
        compressed_to_rgb(Msg(format='jpeg', data=b'not a jpeg'))


def test_depth_messages_round_trip_and_16uc1():
    """32FC1 round trip (NaN kept), 16UC1 millimetres with 0 = invalid (REP 118)."""
    depth = np.array([[1.5, np.nan], [0.25, 80.0]], np.float32)
    msg = fill_depth_message(Msg(), depth)
    assert msg.encoding == '32FC1' and msg.step == 8
    np.testing.assert_array_equal(depth_from_message(msg), depth)
    mm = np.array([[1500, 0], [250, 65535]], '<u2')
    out = depth_from_message(_image_msg(mm[..., None], '16UC1'))
    np.testing.assert_allclose(out, [[1.5, np.nan], [0.25, 65.535]], rtol=1e-6)
    rgb = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    np.testing.assert_array_equal(rgb_from_message(fill_rgb_message(Msg(), rgb, 'bgr8')), rgb)


def test_kitti_raw_reader_on_written_drive(car_sequence, tmp_path):
    """Images, intrinsics, ground-truth depth (1/256 m steps) and oxts speeds read back."""
    drive_dir = write_kitti_raw(car_sequence, tmp_path, drive=7)
    drive = KittiDrive(drive_dir)
    assert drive.name == '2011_09_26_drive_0007_sync' and len(drive.frames) == 24
    np.testing.assert_allclose(drive.intrinsics, car_sequence.intrinsics, rtol=1e-9)
    np.testing.assert_array_equal(drive.image(drive.frames[5]), car_sequence.images[5])
    gt = car_sequence.depths[5]
    np.testing.assert_allclose(drive.depth(drive.frames[5]), gt, atol=0.5 / 256)
    # Speed: distance between consecutive camera centres per second (10 fps).
    steps = np.linalg.norm(np.diff(car_sequence.poses[:, :3, 3], axis=0), axis=1) * 10
    # (oxts speed is horizontal in the camera frame; the camera pitches by <= 0.01 rad)
    np.testing.assert_allclose(drive.speeds()[:-1], steps, rtol=2e-4, atol=1e-6)
    assert (drive.speeds() < 0.3).sum() >= 3  # the stop


def test_kitti_errors_name_the_file(car_sequence, tmp_path):
    """A missing calibration, a wrong-sized frame and a malformed split line are named."""
    drive_dir = write_kitti_raw(car_sequence, tmp_path)
    from PIL import Image
    Image.new('RGB', (50, 20)).save(drive_dir / 'image_02' / 'data' / '0000000003.png')
    with pytest.raises(DataError, match='0000000003.*differs from S_rect'):
        KittiDrive(drive_dir).image('0000000003')
    (tmp_path / '2011_09_26' / 'calib_cam_to_cam.txt').unlink()
    with pytest.raises(DataError, match='calib_cam_to_cam.txt: calibration file not found'):
        KittiDrive(drive_dir)
    split = tmp_path / 'split.txt'
    split.write_text('2011_09_26/x_sync/image_02/data/0000000001.png\nbroken line\n')
    with pytest.raises(DataError, match='split.txt:2'):
        eigen_test_frames(split)


def test_kitti_odometry_round_trip(car_sequence, tmp_path):
    """Poses are first_T_i of the rendered camera; intrinsics from P2."""
    write_kitti_odometry(car_sequence, tmp_path, number=4)
    poses = read_odometry_poses(tmp_path / 'poses' / '04.txt')
    expected = np.linalg.inv(car_sequence.poses[0]) @ car_sequence.poses
    np.testing.assert_allclose(poses, expected, atol=1e-9)
    k = read_odometry_intrinsics(tmp_path / 'sequences' / '04')
    np.testing.assert_allclose(k, car_sequence.intrinsics, rtol=1e-9)


def test_video_and_folder_frames(car_sequence, tmp_path):
    """An MP4 decodes close to the rendered frames; a folder reads exactly; bad input fails."""
    video = write_video(car_sequence, tmp_path / 'clip.mp4')
    frames = list(read_frames(video))
    assert len(frames) == 24 and frames[0].shape == (32, 104, 3)
    assert np.abs(frames[7].astype(float) - car_sequence.images[7]).mean() < 3.0
    folder = write_frames(car_sequence, tmp_path / 'frames')
    np.testing.assert_array_equal(list(read_frames(folder, stride=5))[1],
                                  car_sequence.images[5])
    (tmp_path / 'bad.mp4').write_bytes(b'\x00' * 100)
    with pytest.raises(DataError, match='bad.mp4'):
        list(read_frames(tmp_path / 'bad.mp4'))
    with pytest.raises(DataError, match='no such video'):
        list(read_frames(tmp_path / 'missing.mp4'))
    from PIL import Image
    Image.new('RGB', (10, 10)).save(folder / '999999.png')
    with pytest.raises(DataError, match='frame 24 is 10x10'):
        list(read_frames(folder))


@pytest.mark.parametrize('storage,compressed', [('sqlite3', False), ('mcap', True)])
def test_bag_reader(car_sequence, tmp_path, storage, compressed):
    """rosbag2 in both storages: frames, camera_info, depth and odometry read back exactly."""
    path = write_bag(car_sequence, tmp_path / 'bag', storage, compressed=compressed)
    topic = '/camera/image_raw' + ('/compressed' if compressed else '')
    frames = list(read_camera_bag(path, topic, '/camera/camera_info', '/ground_truth/depth'))
    assert len(frames) == 24
    np.testing.assert_array_equal(frames[9].image, car_sequence.images[9])
    np.testing.assert_allclose(frames[0].intrinsics, car_sequence.intrinsics)
    gt = np.where(np.isfinite(car_sequence.depths[9]), car_sequence.depths[9], np.nan)
    np.testing.assert_array_equal(frames[9].depth, gt)
    assert frames[9].stamp_ns - frames[8].stamp_ns == 100_000_000
    poses = odometry_poses(path, '/ground_truth/odom')
    expected = np.linalg.inv(car_sequence.poses[0]) @ car_sequence.poses[9]
    np.testing.assert_allclose(poses[frames[9].stamp_ns], expected, atol=1e-9)
    with pytest.raises(DataError, match="no topic '/nope'"):
        list(read_camera_bag(path, '/nope'))
    with pytest.raises(DataError, match='has type nav_msgs/msg/Odometry'):
        list(read_camera_bag(path, '/ground_truth/odom'))


def test_snippets_static_frames_and_intrinsics(car_sequence, tmp_path):
    """Static frames are dropped; snippets hold resized frames; intrinsics scale exactly."""
    speeds = np.r_[np.linalg.norm(np.diff(car_sequence.poses[:, :3, 3], axis=0), axis=1),
                   0.6] * 10
    moving = np.flatnonzero(speeds >= 0.3)
    assert len(moving) < 24
    lines = prepare_snippets(car_sequence.images, car_sequence.intrinsics, tmp_path, 'seq',
                             size=(16, 52), speeds=speeds)
    assert len(lines) == len(moving) - 2
    write_split(tmp_path, 'train', lines)
    data = SnippetDataset(tmp_path, 'train', 3, (16, 52))
    item = data[0]
    assert item['images'].shape == (3, 3, 16, 52)
    k = car_sequence.intrinsics
    expected = np.array([[k[0, 0] / 2, 0, (k[0, 2] + 0.5) / 2 - 0.5],
                         [0, k[1, 1] / 2, (k[1, 2] + 0.5) / 2 - 0.5], [0, 0, 1]])
    np.testing.assert_allclose(item['intrinsics'].numpy(), expected, rtol=1e-5)
    # The snippet's frames are consecutive moving frames, averaged 2x2.
    first = car_sequence.images[moving[0]].astype(np.float32).reshape(16, 2, 52, 2, 3)
    np.testing.assert_allclose(item['images'][0].permute(1, 2, 0).numpy() * 255,
                               first.mean((1, 3)), atol=1.01)  # PIL rounds in fixed point
    with pytest.raises(DataError, match='expected 52x16|frames are'):
        SnippetDataset(tmp_path, 'train', 3, (32, 104))[0]


def test_snippet_gap_spaces_the_frames_of_a_snippet(car_sequence, tmp_path):
    """With ``gap=2`` a snippet holds every second moving frame, centred on its name."""
    speeds = np.r_[np.linalg.norm(np.diff(car_sequence.poses[:, :3, 3], axis=0), axis=1),
                   0.6] * 10
    moving = np.flatnonzero(speeds >= 0.3)
    lines = prepare_snippets(car_sequence.images, car_sequence.intrinsics, tmp_path, 'seq',
                             size=(16, 52), speeds=speeds, gap=2)
    assert len(lines) == len(moving) - 4
    assert lines[0] == f'seq {moving[2]:010d}'
    write_split(tmp_path, 'train', lines)
    images = SnippetDataset(tmp_path, 'train', 3, (16, 52))[0]['images']
    for slot, frame in enumerate(moving[[0, 2, 4]]):
        small = car_sequence.images[frame].astype(np.float32).reshape(16, 2, 52, 2, 3)
        np.testing.assert_allclose(images[slot].permute(1, 2, 0).numpy() * 255,
                                   small.mean((1, 3)), atol=1.01)
    with pytest.raises(ValueError, match='gap must be >= 1'):
        prepare_snippets(car_sequence.images, car_sequence.intrinsics, tmp_path, 'seq',
                         size=(16, 52), gap=0)
