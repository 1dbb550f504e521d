#!/usr/bin/env bash
# The training paths that need an NVIDIA GPU, in one short run on the bundled Gemma 3 270M:
# LoRA, QLoRA and DPO on CUDA through Hearth's CLI, then the references on the same GPU --
# Hearth vs HF Trainer + peft (benchmarks/bench_train.py) and vs TRL's DPOTrainer
# (benchmarks/bench_dpo.py) -- and the GPU-marked tests. About 10 minutes on one H100.
#
#   HEARTH_TORCH_SPEC=torch installer/setup.sh --dev && .venv/bin/pip install bitsandbytes
#   benchmarks/gpu_paths.sh [OUT_DIR]        # every result as JSON in OUT_DIR (default gpu-results)
#
# The text is Python's documentation as Debian ships it (python3.11-doc, installed by the
# benchmarks' set-up); on a machine without network, copy /usr/share/doc/python3.11/html/_sources
# there first.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-results}
mkdir -p "$out"
py=${PYTHON:-.venv/bin/python}
engine=${HEARTH_ENGINE:-.venv/bin/hearth-engine}
export HEARTH_HOME=${HEARTH_HOME:-$(mktemp -d)}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.csv"
"$py" -c "import torch, sys; assert torch.cuda.is_available(), 'CUDA torch is not installed'; print(torch.__version__, torch.version.cuda)" | tee "$out/torch.txt"
"$engine" doctor --json > "$out/doctor.json"

gemma=$("$engine" models list --json | "$py" -c "import json,sys; print(next(m['id'] for m in json.load(sys.stdin) if m['role']=='llm' and m['bundled']))")
"$py" - "$HEARTH_HOME/pairs.jsonl" "$HEARTH_HOME/rows.jsonl" <<'PY'
import json, sys
sys.path.insert(0, "benchmarks")
from bench_dpo import pairs_from
from python_docs import ensure_docs, read_dir
ensure_docs()
pairs = pairs_from(read_dir("tutorial"), 64)
open(sys.argv[1], "w").write("".join(json.dumps(p) + "\n" for p in pairs))
open(sys.argv[2], "w").write("".join(json.dumps({"instruction": p["prompt"], "output": p["chosen"]}) + "\n" for p in pairs))
PY
common=(--model "$gemma" --max-steps 20 --seq-len 256 --batch 4 --device cuda --eval-every 0 --force --json)
for method in lora qlora; do
  "$engine" train lora --method "$method" --dataset "$HEARTH_HOME/rows.jsonl" "${common[@]}" > "$out/train-$method.json"
done
"$engine" train dpo --dataset "$HEARTH_HOME/pairs.jsonl" --lr 5e-5 "${common[@]}" > "$out/train-dpo.json"

"$py" benchmarks/bench_train.py --device cuda --json > "$out/bench-train.json"
"$py" benchmarks/bench_dpo.py --device cuda --steps 20 --json > "$out/bench-dpo.json"
"$py" -m pytest -q -p no:cacheprovider -m gpu tests | tee "$out/pytest-gpu.txt"
echo "results in $out"
