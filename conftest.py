"""Settings for every pytest run, notebooks included (nbval kernels inherit this environment).

Notebooks run in quick mode under pytest unless you ask otherwise (``HYDRAREC_QUICK=0 pytest``):
same code paths, smaller sizes, so the whole suite fits in CI's budget on 2 CPU cores.
"""

import os

os.environ.setdefault("HYDRAREC_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
