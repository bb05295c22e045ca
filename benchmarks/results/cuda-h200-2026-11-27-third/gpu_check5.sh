#!/usr/bin/env bash
export PYTHONPATH=$PWD HYDRAREC_DATA=$PWD/.devdata HYDRAREC_STRICT_DATA=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
PYT="python3 -m pytest -q -p no:cacheprovider -p no:benchmark -o addopts= -rfs --tb=short --ignore tests/test_lint.py --ignore tests/test_notebooks.py --ignore tests/test_readme.py"
{
date
echo "== diag"; timeout 60 python3 .devrun/diag_fused.py 2>&1 | grep -v "Warn\|warn\|DEBUG"
echo "== fused cuda test"; date
timeout 60 $PYT tests/test_fused.py -k cuda 2>&1 | grep -v "DEBUG" | tail -40
echo "== pytest all"; date
timeout 230 $PYT -n 14 tests 2>&1 | grep -v "DEBUG" | tail -40
date
} 2>&1 | tee $OUT/log5.txt
