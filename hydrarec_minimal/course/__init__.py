"""Course tooling: experiments, the command line, reports, plots and measurements.

The notebooks and ``python -m hydrarec_minimal`` use it; the core package never imports it.
"""
