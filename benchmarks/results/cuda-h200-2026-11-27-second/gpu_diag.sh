#!/usr/bin/env bash
export PYTHONPATH=$PWD HYDRAREC_DATA=$PWD/.devdata HYDRAREC_STRICT_DATA=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
date
timeout 75 python3 -X faulthandler -m pytest -x -q -p no:cacheprovider -p no:benchmark -o addopts="" --tb=long tests/test_compiled.py -k cuda > $OUT/compiled_cuda.log 2>&1; echo "rc=$?"
grep -v "^  File \"/opt" $OUT/compiled_cuda.log | grep -iv "^extension modules" | head -60 | cut -c1-400
date
timeout 50 python3 -X faulthandler -c "
import torch, warnings
from hydrarec_minimal.compiled import CompiledInference
f = CompiledInference(lambda x: torch.sin(x) * 2, autotune=False)
x = torch.randn(8, device='cuda')
print('result', (f(x) - torch.sin(x) * 2).abs().max().item(), f.fallback_reason, len(f.programs))
" > $OUT/tiny.log 2>&1; echo "rc=$?"
grep -v "^  File \"/opt" $OUT/tiny.log | head -40 | cut -c1-400
date
