"""TaskSet's optimizer search spaces, their update rules (each written once, run on ``[K, P]``
buffers or as ``torch.optim``) and single-config optimizers."""

from taskset_torch.optimizers.base import HParam, SearchSpace, VectorizedOptimizer
from taskset_torch.optimizers.kernels import ADAM8P, NADAMW, TF_ADAGRAD, TF_ADAM
from taskset_torch.optimizers.rules import RuleOptimizer, UpdateRule, VectorizedRule
from taskset_torch.optimizers.schedules import (
    WARMUP_SEMANTICS,
    adam8p_learning_rate,
    cosine_learning_rate,
    one_minus_pow,
)
from taskset_torch.optimizers.spaces import (
    FIXED_OPTIMIZERS,
    SPACES,
    AdagradSpace,
    Adam1PSpace,
    Adam4PSpace,
    Adam6PSpace,
    Adam8PSpace,
    NAdamWSpace,
    get_space,
    optimizer_config,
    resolve_optimizer,
)
from taskset_torch.optimizers.torch_optim import (
    Adam8P,
    NAdamW,
    TFAdagrad,
    TFAdam,
    VectorizedAdam8P,
    VectorizedNAdamW,
    VectorizedTFAdagrad,
    VectorizedTFAdam,
)

__all__ = [
    "HParam",
    "SearchSpace",
    "VectorizedOptimizer",
    "UpdateRule",
    "VectorizedRule",
    "RuleOptimizer",
    "TF_ADAM",
    "ADAM8P",
    "NADAMW",
    "TF_ADAGRAD",
    "VectorizedTFAdam",
    "VectorizedAdam8P",
    "VectorizedNAdamW",
    "VectorizedTFAdagrad",
    "WARMUP_SEMANTICS",
    "cosine_learning_rate",
    "adam8p_learning_rate",
    "one_minus_pow",
    "SPACES",
    "FIXED_OPTIMIZERS",
    "get_space",
    "optimizer_config",
    "resolve_optimizer",
    "Adam1PSpace",
    "Adam4PSpace",
    "Adam6PSpace",
    "Adam8PSpace",
    "NAdamWSpace",
    "AdagradSpace",
    "TFAdam",
    "Adam8P",
    "NAdamW",
    "TFAdagrad",
]
