"""hydrarec_minimal: HydraRec (Hydra attention for sequential recommendation), small enough to read.

One idea per module:

- ``attention``: softmax, linear, LinRec and Hydra attention kernels (causal or bidirectional,
  with padding masks), the slow-but-obvious Hydra reference, and the ``SelfAttention`` layer.
- ``cli``: ``python -m hydrarec_minimal ...`` (the command line).
"""

__version__ = "0.6.0"
