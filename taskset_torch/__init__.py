"""taskset-torch: TaskSet's optimization tasks, training curves and hyperparameter lists in PyTorch."""

__version__ = "0.1.0"

__all__ = ["__version__"]
