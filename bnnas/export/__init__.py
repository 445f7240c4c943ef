"""Deployment: packed 1-bit model files, a numpy reference engine, ONNX export.

* :mod:`~bnnas.export.fileformat`: the versioned, checksummed ``.bnn`` container;
* :mod:`~bnnas.export.graph`: a trained PyTorch model as a node tree plus arrays;
* :mod:`~bnnas.export.packed`: write a ``.bnn`` file and account for its size;
* :mod:`~bnnas.export.engine`: the numpy reference engine (XNOR/popcount convolutions),
  with :mod:`~bnnas.export.kernels` and :mod:`~bnnas.export.bits`;
* :mod:`~bnnas.export.fast`: the same engine with a numba packed convolution (``bnnas[fast]``);
* :mod:`~bnnas.export.onnx_export`: ONNX with the BNN's sign and border (``bnnas[onnx]``);
* :mod:`~bnnas.export.source` and :mod:`~bnnas.export.inputs`: what the commands read.

Nothing is imported here, so that the engine runs where only numpy is installed
(``import bnnas.export.engine`` loads no torch).
"""
