"""Import first: pins NumPy/BLAS/Numba to one thread before NumPy loads (a server process
started by the benchmark inherits it). Variables already set are left as they are."""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
