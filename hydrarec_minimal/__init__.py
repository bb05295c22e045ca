"""hydrarec_minimal: HydraRec (Hydra attention for sequential recommendation), small enough to read.

Core modules, one idea each: ``attention``, ``model``, ``movielens`` and ``download`` (getting
the data), ``data`` (sequences and the split), ``batches``, ``metrics``, ``train``,
``checkpoint``, ``streaming``, ``synthetic``. Opt-in speed-ups: ``fast``; course tooling:
``course``.
"""

__version__ = "0.8.0"

from hydrarec_minimal.attention import hydra_attention  # noqa: E402
from hydrarec_minimal.batches import evaluation_batches, training_batches  # noqa: E402
from hydrarec_minimal.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from hydrarec_minimal.data import SequenceDataset, load_dataset  # noqa: E402
from hydrarec_minimal.model import ModelConfig, SequentialRecommender  # noqa: E402
from hydrarec_minimal.train import TrainConfig, evaluate, fit, recommend  # noqa: E402

__all__ = [
    "ModelConfig",
    "SequenceDataset",
    "SequentialRecommender",
    "TrainConfig",
    "evaluate",
    "evaluation_batches",
    "fit",
    "hydra_attention",
    "load_checkpoint",
    "load_dataset",
    "recommend",
    "save_checkpoint",
    "training_batches",
]
