"""Layers that also run *slim*: on fewer channels than they were built for.

PC-DARTS (Xu et al., ICLR 2020) sends only 1/K of an edge's channels through its candidate ops,
and UBNAS (Tan et al., IEEE TCSVT 2024) changes K during the search ("the channel sampling
ratio is adjusted"). Rather than rebuild the ops whenever K changes, every op is built once for
the widest slice (the smallest K) and a narrower call uses the leading ``c`` channels of its
parameters, as slimmable networks share weights between widths (Yu et al., ICLR 2019).
:class:`bnnas.binary.BinaryConv2d` slims itself; this module holds the other layers with
per-channel state, so that the slicing lives in one place.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from bnnas.binary import RPReLU


def _slim_width(x: Tensor, built: int, layer: str) -> int:
    width = x.shape[1]
    if width > built:
        raise ValueError(f"{layer} built for {built} channels got an input of {width}")
    return width


class SlimBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` that normalises an input of ``c <= num_features`` channels with the
    first ``c`` entries of its affine parameters and running statistics.

    In training mode the running-statistic slices are updated in place, so the narrow and the
    full-width calls train one set of statistics. A full-width call is ``BatchNorm2d``'s own.
    """

    def forward(self, x: Tensor) -> Tensor:
        c = _slim_width(x, self.num_features, "SlimBatchNorm2d")
        if c == self.num_features:
            return super().forward(x)
        self._check_input_dim(x)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average, as BatchNorm2d does
                momentum = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or self.running_mean is None
        running_mean = None if self.running_mean is None else self.running_mean[:c]
        running_var = None if self.running_var is None else self.running_var[:c]
        return F.batch_norm(
            x,
            running_mean if not self.training or self.track_running_stats else None,
            running_var if not self.training or self.track_running_stats else None,
            None if self.weight is None else self.weight[:c],
            None if self.bias is None else self.bias[:c],
            use_batch_stats,
            momentum,
            self.eps,
        )


class SlimRPReLU(RPReLU):
    """ReActNet's RPReLU (Liu et al., ECCV 2020) using the first ``c`` of its per-channel
    shifts and slopes on a ``c``-channel input."""

    def forward(self, x: Tensor) -> Tensor:
        c = _slim_width(x, self.slope.shape[1], "SlimRPReLU")
        if c == self.slope.shape[1]:
            return super().forward(x)
        x = x - self.shift_in[:, :c]
        x = x.where(x >= 0, x * self.slope[:, :c])
        return x + self.shift_out[:, :c]
