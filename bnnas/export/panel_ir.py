"""LLVM IR pieces shared by the register-blocked micro-kernels of the fast engine.

The popcount panel of the binary convolutions (:mod:`bnnas.export.fast_kernels`) and the
multiply-add panel of the real ones (:mod:`bnnas.export.fast_real_conv`) both load a vector of
consecutive output positions, broadcast one weight per output channel and store each
channel's vector as one contiguous run; these build those instructions.
"""

from __future__ import annotations

from llvmlite import ir

_I32 = ir.IntType(32)


def load_vector(builder: ir.IRBuilder, data: ir.Value, index: ir.Value, vector: ir.VectorType,
                align: int) -> ir.Value:
    """The ``vector`` of elements ``data[index : index + len(vector)]``."""
    at = builder.gep(data, [index])
    return builder.load(builder.bitcast(at, vector.as_pointer()), align=align)


def broadcast(builder: ir.IRBuilder, data: ir.Value, index: ir.Value,
              vector: ir.VectorType) -> ir.Value:
    """``data[index]`` in every element of a ``vector``."""
    value = builder.insert_element(ir.Constant(vector, ir.Undefined),
                                   builder.load(builder.gep(data, [index])),
                                   ir.Constant(_I32, 0))
    zeros = ir.Constant(ir.VectorType(_I32, vector.count), None)
    return builder.shuffle_vector(value, ir.Constant(vector, ir.Undefined), zeros)


def store_vector(builder: ir.IRBuilder, value: ir.Value, data: ir.Value, index: ir.Value,
                 align: int) -> None:
    """``data[index : index + len(value)] = value``."""
    at = builder.gep(data, [index])
    builder.store(value, builder.bitcast(at, value.type.as_pointer()), align=align)
