#!/usr/bin/env bash
# Install ROS 2's launch system into a venv that has the ROS 2 PyPI wheels but no distro.
#
# launch and launch_ros have no PyPI release. Where the
# workplace provides their unmodified upstream sources (../shared/vendor/ros2, next to the
# repository), this installs them (each folder copied first: that tree is read-only and pip
# writes build files into the folder it builds) and builds composition_interfaces, which
# launch_ros imports, from its interface files with the rosidl wheels (as
# build_tf2_msgs.sh does for tf2_msgs). A real ROS 2 install already has all of them.
# Without the sources it does nothing: the launch and colcon tests then skip with a reason.
# Usage: scripts/install_launch.sh VENV
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$1"
py="$venv/bin/python"
vendor="${MONO_DEPTH_ROS_VENDOR:-$root/../shared/vendor/ros2}"
if "$py" -c 'import launch, launch_ros, composition_interfaces.srv' >/dev/null 2>&1; then
  exit 0
fi
if [[ ! -d "$vendor/launch" ]]; then
  echo "[launch] no launch sources at $vendor: the launch and colcon tests will skip" >&2
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pip() {  # build warnings of the upstream setup.py files go to a log, shown on failure
  "$py" -m pip install --quiet --disable-pip-version-check "$@" >>"$work/pip.log" 2>&1 \
    || { echo "[launch] pip install $* failed:" >&2; tail -n 30 "$work/pip.log" >&2; exit 1; }
}
pip -r "$root/requirements/launch.txt"
# launch_testing / launch_pytest are left out: their pytest plugins do not load under
# pytest 9 (removed py.path hook arguments, FixtureFunctionDefinition); the launch test
# drives launch.LaunchService in a child process instead, as `ros2 launch` does.
for pkg in launch launch_yaml launch_xml launch_ros; do
  [[ -d "$vendor/$pkg" ]] || continue
  cp -r "$vendor/$pkg" "$work/$pkg"
  pip --no-deps "$work/$pkg"
done
if ! command -v cmake >/dev/null || ! command -v c++ >/dev/null; then
  echo "[launch] cmake or a C++ compiler is missing: composition_interfaces not built" >&2
  exit 0
fi
cp -r "$vendor/composition_interfaces" "$work/composition_interfaces"
env AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH" \
  cmake -S "$work/composition_interfaces" -B "$work/build" -DPython3_EXECUTABLE="$py" \
  -DCMAKE_INSTALL_PREFIX="$venv" -DBUILD_TESTING=OFF >"$work/cmake.log" 2>&1 \
  && make -C "$work/build" -j2 install >"$work/make.log" 2>&1 \
  || { echo "[launch] composition_interfaces build failed:" >&2;
       tail -n 20 "$work"/*.log >&2; exit 0; }
"$py" -c 'import launch, launch_ros, composition_interfaces.srv' \
  && echo "[launch] launch and launch_ros installed into $venv" >&2
