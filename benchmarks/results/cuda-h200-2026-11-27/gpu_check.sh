#!/usr/bin/env bash
# One device call: CUDA tests, the three benchmarks on the GPU, four ML-100K training runs.
export PYTHONPATH=$PWD HYDRAREC_DATA=$PWD/.devdata HYDRAREC_STRICT_DATA=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
L=$OUT/log.txt
save() { cp benchmarks/results/*_cuda.csv figures/*_cuda.png "$OUT"/ 2>/dev/null; true; }
{
date; nvidia-smi -L; nproc
python3 -c "import torch, einops, pandas; print(torch.__version__, einops.__version__, pandas.__version__, torch.cuda.get_device_name())"
echo "== pytest"; timeout 170 python3 -m pytest -q -p no:cacheprovider -o addopts="-ra" -n 8 tests --ignore tests/test_lint.py --ignore tests/test_notebooks.py --ignore tests/test_readme.py 2>&1 | tail -25
echo "== pytest cuda-only"; timeout 60 python3 -m pytest -q -p no:cacheprovider -o addopts="-ra" tests -k cuda -v --ignore tests/test_lint.py --ignore tests/test_notebooks.py --ignore tests/test_readme.py 2>&1 | tail -8
echo "== bench_attention"; date; timeout 150 python3 benchmarks/bench_attention.py --device cuda 2>&1 | grep -v "it/s\|s/it"; save
echo "== bench_streaming"; date; timeout 80 python3 benchmarks/bench_streaming.py --device cuda; save
echo "== bench_epoch"; date; timeout 80 python3 benchmarks/bench_epoch.py --device cuda; save
for run in "hydra causal" "softmax causal" "hydra bidirectional" "softmax bidirectional"; do
  set -- $run; echo "== train $1 $2"; date
  timeout 60 python3 -m hydrarec_minimal train --attention $1 --direction $2 --seed 0 --device cuda --quiet --output /tmp/train_$1_$2.json 2>&1 | tail -12
  { echo "== $1 $2"; cat /tmp/train_$1_$2.json; } >> $OUT/train_runs.txt
done
date
} 2>&1 | tee $L
