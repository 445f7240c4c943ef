"""Training and evaluation of binary networks: configs, optimizers, loop, checkpoints."""

from bnnas.train.builder import build_model, load_trained_model
from bnnas.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from bnnas.train.config import DataConfig, DistillConfig, ModelConfig, OptimConfig, TrainConfig
from bnnas.train.trainer import Trainer, evaluate

__all__ = [
    "DataConfig",
    "DistillConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "Trainer",
    "build_model",
    "evaluate",
    "latest_checkpoint",
    "load_checkpoint",
    "load_trained_model",
    "save_checkpoint",
]
