#!/usr/bin/env bash
# Set up Hearth from a source checkout in ./.venv.
#
#   installer/setup.sh          install Hearth (then run: .venv/bin/hearth)
#   installer/setup.sh --dev    also install the test tools (then: .venv/bin/python -m pytest)
#
# Torch is installed first, pinned, so pip does not pull a multi-GB CUDA build where a CPU build
# is wanted: on Linux without an NVIDIA GPU the CPU build (torch==X+cpu), from the configured
# index if it has one, else from PyTorch's CPU index. Set HEARTH_TORCH_SPEC to choose another
# (e.g. "torch" on a CUDA machine). llama-cpp-python compiles from source the first time (5 to
# 10 minutes, with progress shown); the wheel is cached.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"
python="${PYTHON:-python3}"
TORCH_VERSION=2.13.0
CPU_INDEX=https://download.pytorch.org/whl/cpu
steps=5
step() { echo "[$1/$steps] $2"; }

step 1 "Python environment in .venv"
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
py=.venv/bin/python
"$py" -m pip install --quiet --upgrade pip

step 2 "PyTorch"
if [[ -n "${HEARTH_TORCH_SPEC:-}" ]]; then
  "$py" -m pip install --quiet "$HEARTH_TORCH_SPEC"
elif [[ "$(uname -s)" == "Linux" ]] && ! command -v nvidia-smi >/dev/null 2>&1; then
  # no NVIDIA GPU: the CPU build, never the CUDA one a plain "torch==X" brings on Linux
  if ! "$py" -m pip install --quiet "torch==$TORCH_VERSION+cpu" 2>/dev/null; then
    echo "      the CPU build is not on the configured index; using PyTorch's ($CPU_INDEX)"
    "$py" -m pip install --quiet "torch==$TORCH_VERSION+cpu" --index-url "$CPU_INDEX"
  fi
else
  "$py" -m pip install --quiet "torch==$TORCH_VERSION"
fi
"$py" -c 'import torch; print(f"      torch {torch.__version__}, " + (f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU build"))'

step 3 "System libraries for Qt"
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
step 4 "llama.cpp (llama-cpp-python)"
# compile_with_progress LOG CMD...: run CMD into LOG, printing the build's step every 15 s
compile_with_progress() {
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  local pid=$! started=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep "${HEARTH_PROGRESS_EVERY:-15}"
    kill -0 "$pid" 2>/dev/null || break
    local at; at=$(grep -oE '\[[0-9]+/[0-9]+\]' "$log" | tail -1 || true)
    echo "      compiling llama.cpp ${at:-(configuring)} · $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
  done
  if ! wait "$pid"; then
    tail -n 40 "$log"
    echo "The llama.cpp build failed (full log: $log). It needs a C/C++ compiler and CMake." >&2
    exit 1
  fi
}
if [[ "$(uname -s)" == "Linux" && "$(uname -m)" == "x86_64" ]]; then
  wheels="${HEARTH_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/wheels}"
  if ! compgen -G "$wheels/llama_cpp_python-*.whl" >/dev/null; then
    mkdir -p "$wheels"
    echo "      building it once for this processor (5 to 10 minutes); later set-ups reuse it"
    no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    CMAKE_ARGS="-DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'" \
      compile_with_progress "$wheels/build.log" \
      "$py" -m pip wheel -v --no-cache-dir --no-deps -w "$wheels" "llama-cpp-python>=0.3"
  fi
  "$py" -m pip install --quiet --force-reinstall --no-deps "$(ls -t "$wheels"/llama_cpp_python-*.whl | head -1)"
else
  echo "      (compiled by pip if no wheel fits this machine: a few minutes)"
fi

step 5 "Hearth${extras:+ and the test tools}"
"$py" -m pip install --quiet -e ".${extras}"
echo "Hearth is installed in .venv: start it with .venv/bin/hearth"
if [[ -n "$extras" ]]; then
  echo "Run the tests with: .venv/bin/python -m pytest"
fi
