#!/usr/bin/env bash
# Third GPU session (0.5.x): CUDA tests incl. fused attention and the CPU-only compiled step,
# bench_attention with the fused rows (8,192 tokens), bench_epoch --fused, then the suite.
export PYTHONPATH=$PWD HYDRAREC_DATA=$PWD/.devdata HYDRAREC_STRICT_DATA=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
PYT="python3 -m pytest -q -p no:cacheprovider -p no:benchmark -o addopts= -rfs --tb=short --ignore tests/test_lint.py --ignore tests/test_notebooks.py --ignore tests/test_readme.py"
{
date; nvidia-smi -L; nproc
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
echo "== pytest cuda-only"; date
timeout 150 $PYT tests -k cuda -v 2>&1 | grep -v "^$" | tail -20
echo "== bench_attention 8192"; date
timeout 240 python3 benchmarks/bench_attention.py --device cuda 2>&1 | grep -v "Warn\|warn"
cp benchmarks/results/attention_cuda.csv figures/bench_attention_cuda.png $OUT/
echo "== bench_epoch fused"; date
timeout 80 python3 benchmarks/bench_epoch.py --device cuda --fused --losses ce 2>&1 | grep -v "it/s\|s/it"
cp benchmarks/results/epoch_cuda_fused.csv $OUT/
echo "== pytest all"; date
timeout 100 $PYT -n 14 tests -x 2>&1 | tail -15
date
} 2>&1 | tee $OUT/log4.txt
