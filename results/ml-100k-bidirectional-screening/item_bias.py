"""Screening run: every model with ``ModelConfig.item_bias`` (a learned per-item score bias).

    python results/ml-100k-bidirectional-screening/item_bias.py reproduce ...

``item_bias`` is a field of ``ModelConfig`` but not an option of the command line; the results
files record it (``config.model.item_bias``).
"""

import sys

import hydrarec_minimal.model as model
from hydrarec_minimal.course.cli import main

check_config = model.ModelConfig.__post_init__


def with_item_bias(self: model.ModelConfig) -> None:
    self.item_bias = True
    check_config(self)


model.ModelConfig.__post_init__ = with_item_bias
sys.exit(main(sys.argv[1:]))
