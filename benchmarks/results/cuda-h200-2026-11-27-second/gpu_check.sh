#!/usr/bin/env bash
# Device call 1 (0.4.x): CUDA tests incl. the compiled step, compiled streaming, epochs, a compile exploration.
export PYTHONPATH=$PWD HYDRAREC_DATA=$PWD/.devdata HYDRAREC_STRICT_DATA=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
{
date; nvidia-smi -L; nproc; which g++ gcc cc
python3 -c "import torch, einops, pandas; print(torch.__version__, einops.__version__, pandas.__version__, torch.cuda.get_device_name())"
echo "== pytest"; date
timeout 200 python3 -m pytest -q -p no:cacheprovider -p no:benchmark -o addopts="" -rfs --tb=short -n 14 tests --ignore tests/test_lint.py --ignore tests/test_notebooks.py --ignore tests/test_readme.py 2>&1 | tail -30
echo "== pytest cuda-only"; date
timeout 120 python3 -m pytest -q -p no:cacheprovider -p no:benchmark -o addopts="" -rfs --tb=short tests -k cuda -v --ignore tests/test_lint.py --ignore tests/test_notebooks.py --ignore tests/test_readme.py 2>&1 | tail -12
echo "== bench_streaming"; date
timeout 200 python3 benchmarks/bench_streaming.py --device cuda --no-autotune --lengths 16 200 1600 2>&1 | grep -v Warning
cp benchmarks/results/streaming_cuda.csv $OUT/
echo "== explore compile 8192"; date
timeout 60 python3 explore_compiled_hydra.py cuda 8192 2>&1 | grep -v "Warn\|warn"
echo "== explore compile 131072"; date
timeout 60 python3 explore_compiled_hydra.py cuda 131072 2>&1 | grep -v "Warn\|warn"
echo "== bench_epoch"; date
timeout 90 python3 benchmarks/bench_epoch.py --device cuda --losses ce ce-chunked bce 2>&1 | grep -v "it/s\|s/it"
cp benchmarks/results/epoch_cuda.csv $OUT/
date
} 2>&1 | tee $OUT/log3.txt
