"""The model zoo: hand-made binary baselines, created by name (timm's ``create_model``).

Importing this package registers every model in :data:`MODELS`.
"""

from bnnas.models import birealnet, reactnet  # noqa: F401  (registers the models)
from bnnas.models.birealnet import BiRealBlock, BiRealNet
from bnnas.models.common import Binarization
from bnnas.models.factory import MODELS, create_model, list_models, register_model
from bnnas.models.reactnet import ReActBlock, ReActNet

__all__ = [
    "MODELS",
    "BiRealBlock",
    "BiRealNet",
    "Binarization",
    "ReActBlock",
    "ReActNet",
    "create_model",
    "list_models",
    "register_model",
]
