"""Binary primitives: sign estimators, quantizers and binary layers."""

from bnnas.binary.functional import approx_sign, hard_sign, ste_sign, swish_sign
from bnnas.binary.layers import SCALINGS, BinaryConv2d, BinaryLinear, RPReLU, binary_conv_group
from bnnas.binary.quantizers import QUANTIZERS, Quantizer, RSign, SharedInput, make_quantizer

__all__ = [
    "QUANTIZERS",
    "SCALINGS",
    "BinaryConv2d",
    "BinaryLinear",
    "Quantizer",
    "RPReLU",
    "RSign",
    "SharedInput",
    "approx_sign",
    "binary_conv_group",
    "hard_sign",
    "make_quantizer",
    "ste_sign",
    "swish_sign",
]
