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

"""ament_python package set-up; also accepted by ``pip install -e .`` in a plain venv."""

from glob import glob
import os

from setuptools import find_packages, setup

package_name = 'mono_depth_ros'
training_package = 'mono_depth_ros_training'


def _files(pattern):
    return [path for path in glob(pattern) if os.path.isfile(path)]


setup(
    name=package_name,
    version='0.1.0',
    # Offline training lives in training/ (the design card's top level) and is installed
    # as the package mono_depth_ros_training: a top-level "training" in site-packages
    # would collide with any other project's.
    packages=find_packages(include=[package_name, package_name + '.*'])
    + [training_package],
    package_dir={training_package: 'training'},
    package_data={package_name: ['weights/*.safetensors'],
                  training_package: ['configs/*.yaml']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', _files('launch/*.py')),
        ('share/' + package_name + '/config', _files('config/*')),
    ],
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='mono_depth_ros maintainers',
    maintainer_email='maintainers@mono-depth-ros.invalid',
    description='Self-supervised monocular depth and ego-motion (vid2depth) for ROS 2.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'depth_node = mono_depth_ros.ros.entry:depth_node',
            'replay = mono_depth_ros.ros.entry:replay',
            'demo = mono_depth_ros.ros.entry:demo',
            'train = mono_depth_ros_training.train:main',
            'prepare_data = mono_depth_ros_training.prepare:main',
            'evaluate = mono_depth_ros_training.evaluate:main',
            'train_demo = mono_depth_ros_training.demo:main',
            'widen = mono_depth_ros_training.widen:main',
            'average_weights = mono_depth_ros_training.average:main',
            'update_bn = mono_depth_ros_training.update_bn:main',
            'fold_bn = mono_depth_ros_training.fold_bn:main',
        ],
    },
)
