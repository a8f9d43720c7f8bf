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

"""Launch depth_node: ``ros2 launch mono_depth_ros depth.launch.py [arg:=value ...]``."""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


# name, default, description of every launch argument but params_file
ARGUMENTS = (
    ('image', '/camera/image_raw', 'input image topic (sensor_msgs/Image)'),
    ('camera_info', '/camera/camera_info', 'input camera_info topic'),
    ('weights', '', 'weights file or shipped name (street, ...); empty = the default'),
    ('device', 'cpu', 'cpu or cuda'),
    ('online_training', 'false', 'fine-tune on the incoming video'),
    ('namespace', '', 'namespace of the node and its outputs'),
    ('rviz', 'false', 'start RViz with config/depth.rviz'),
)


def generate_launch_description():
    """Build the launch description (arguments, the node, optionally RViz)."""
    share = get_package_share_directory('mono_depth_ros')
    args = [DeclareLaunchArgument('params_file', default_value=os.path.join(
        share, 'config', 'depth.yaml'), description='YAML parameters of depth_node')]
    args += [DeclareLaunchArgument(name, default_value=default, description=text)
             for name, default, text in ARGUMENTS]
    node = Node(
        package='mono_depth_ros', executable='depth_node', name='depth_node',
        namespace=LaunchConfiguration('namespace'), output='screen',
        parameters=[LaunchConfiguration('params_file'), {
            'weights': ParameterValue(LaunchConfiguration('weights'), value_type=str),
            'device': ParameterValue(LaunchConfiguration('device'), value_type=str),
            'online_training': ParameterValue(LaunchConfiguration('online_training'),
                                              value_type=bool),
        }],
        remappings=[('image', LaunchConfiguration('image')),
                    ('image/compressed', [LaunchConfiguration('image'), '/compressed']),
                    ('camera_info', LaunchConfiguration('camera_info'))])
    rviz = Node(package='rviz2', executable='rviz2', name='rviz2', output='screen',
                arguments=['-d', os.path.join(share, 'config', 'depth.rviz')],
                condition=IfCondition(LaunchConfiguration('rviz')))
    return LaunchDescription(args + [node, rviz])
