import pytest
import torch

from bnnas.device import amp_dtype, autocast, select_device
from bnnas.errors import ConfigError


def test_auto_picks_cpu_without_cuda_and_explicit_cpu_works():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected
    assert select_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ConfigError, match="CUDA is not available; use device=cpu"):
        select_device("cuda:0")


def test_unknown_device_is_refused():
    with pytest.raises(ConfigError, match="unknown device 'gpu0'"):
        select_device("gpu0")


def test_mixed_precision_only_on_cuda():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for mode in ("auto", "off", "bf16", "fp16"):
        assert amp_dtype(mode, cpu) is None
    assert amp_dtype("auto", cuda) is torch.bfloat16
    assert amp_dtype("bf16", cuda) is torch.bfloat16
    assert amp_dtype("fp16", cuda) is torch.float16
    assert amp_dtype("off", cuda) is None


def test_autocast_none_is_a_no_op():
    with autocast(torch.device("cpu"), None):
        assert (torch.ones(2) @ torch.ones(2)).dtype == torch.float32
    with autocast(torch.device("cpu"), torch.bfloat16):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
