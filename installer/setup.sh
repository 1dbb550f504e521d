#!/usr/bin/env bash
# Set up Hearth from a source checkout in ./.venv.
#
#   installer/setup.sh          install Hearth (then run: .venv/bin/hearth)
#   installer/setup.sh --dev    also install the test tools (then: .venv/bin/python -m pytest)
#
# Torch is installed first, pinned, so pip does not pull a multi-GB CUDA build where a CPU build
# is wanted; set HEARTH_TORCH_SPEC to choose another (e.g. "torch" on a CUDA machine).
# llama-cpp-python compiles from source the first time (a few minutes); pip caches the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"
python="${PYTHON:-python3}"

if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
py=.venv/bin/python
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet "${HEARTH_TORCH_SPEC:-torch==2.13.0}"

# Qt needs a few system libraries even when it draws off-screen (xcb/EGL/fontconfig).
if [[ "$(uname -s)" == "Linux" ]] && command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
  missing=()
  for pkg in libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xinerama0 libfontconfig1 libdbus-1-3 libglib2.0-0; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if (( ${#missing[@]} )); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

# llama.cpp's CPU backend is compiled for this processor (-march=native) but without AMX: some
# virtual machines list AMX in /proc/cpuinfo and then fault on its first tile instruction (q8_0
# matrix products), and laptops have none. pip's own wheel cache ignores CMAKE_ARGS, so the wheel
# is built once into a cache of Hearth's and installed from there.
if [[ "$(uname -s)" == "Linux" && "$(uname -m)" == "x86_64" ]]; then
  wheels="${HEARTH_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/wheels}"
  if ! compgen -G "$wheels/llama_cpp_python-*.whl" >/dev/null; then
    mkdir -p "$wheels"
    no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    CMAKE_ARGS="-DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'" \
      "$py" -m pip wheel --quiet --no-cache-dir --no-deps -w "$wheels" "llama-cpp-python>=0.3"
  fi
  "$py" -m pip install --quiet --force-reinstall --no-deps "$(ls -t "$wheels"/llama_cpp_python-*.whl | head -1)"
fi

"$py" -m pip install --quiet -e ".${extras}"
echo "Hearth is installed in .venv: start it with .venv/bin/hearth"
