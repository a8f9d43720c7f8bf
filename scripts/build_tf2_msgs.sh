#!/usr/bin/env bash
# Build tf2_msgs (TFMessage, for /tf) into a venv that has the ROS 2 PyPI wheels but no distro.
#
# ROS 2 publishes no tf2_msgs wheel. This builds the real interface package with the
# rosidl wheels (the same generators a distro uses; the type hash equals upstream's) and
# installs it into the venv. A real ROS 2 install already has tf2_msgs: nothing to do.
# Usage: scripts/build_tf2_msgs.sh VENV
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$1"
py="$venv/bin/python"
if "$py" -c 'import tf2_msgs.msg' >/dev/null 2>&1; then
  exit 0
fi
if ! command -v cmake >/dev/null || ! command -v c++ >/dev/null; then
  echo "[tf2_msgs] cmake or a C++ compiler is missing: /tf will not be published" >&2
  exit 0
fi
"$py" -m pip install --quiet --disable-pip-version-check -r "$root/requirements/interfaces.txt" \
  2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
# The wheels' CMake exports carry the wheel builder's Python and numpy include folders.
pyinc="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
npinc="$("$py" -c 'import numpy; print(numpy.get_include())')"
grep -rl '/opt/python/cp311-cp311' "$venv/share" --include='*.cmake' 2>/dev/null | while read -r f; do
  sed -i "s#/opt/python/cp311-cp311/include/python3.11#$pyinc#g; \
s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$npinc#g" "$f"
done
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
env AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH" \
  cmake -S "$root/scripts/tf2_msgs" -B "$build" -DPython3_EXECUTABLE="$py" \
  -DCMAKE_INSTALL_PREFIX="$venv" -DBUILD_TESTING=OFF >"$build/cmake.log" 2>&1 \
  && make -C "$build" -j2 install >"$build/make.log" 2>&1 \
  || { echo "[tf2_msgs] build failed; /tf will not be published:" >&2;
       tail -n 20 "$build"/*.log >&2; exit 0; }
"$py" -c 'import tf2_msgs.msg' && echo "[tf2_msgs] built into $venv" >&2
