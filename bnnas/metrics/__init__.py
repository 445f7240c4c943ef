"""Cost metrics of binary networks: BOPs, FLOPs, OPs, parameters and memory by bit width.

``profile(model, input_size)`` runs one forward pass with hooks and returns a :class:`Profile`;
``summary_table(profile)`` prints it. Conventions: :mod:`bnnas.metrics.counting`.
"""

from bnnas.metrics.profile import LayerProfile, Profile, profile
from bnnas.metrics.table import format_bytes, format_count, summary_table

__all__ = [
    "LayerProfile",
    "Profile",
    "format_bytes",
    "format_count",
    "profile",
    "summary_table",
]
