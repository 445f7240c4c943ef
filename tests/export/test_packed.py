"""Packed export of whole models: metadata, size against the profile, round trip."""

import numpy as np
import pytest

from bnnas.export.bits import unpack_bits
from bnnas.export.fileformat import read_packed
from bnnas.export.packed import export_packed, pack
from bnnas.metrics import profile


def bit_padding(packed) -> int:
    return sum(8 * (-(-e.count // 8)) - e.count for e in packed.entries if e.dtype == "bits")


def test_bresnet_file_is_profile_memory_plus_header(make_zoo_source, tmp_path):
    source = make_zoo_source("bresnet_small", (1, 28, 28))
    report = export_packed(source, tmp_path / "m.bnn")
    size = (tmp_path / "m.bnn").stat().st_size
    memory_bits = profile(source.model, (1, 28, 28)).totals["memory_bits"]
    packed = read_packed(tmp_path / "m.bnn")
    assert report.size.total == size and report.profile_memory_bits == memory_bits
    assert report.size.uncounted == 0
    assert size * 8 == memory_bits + bit_padding(packed) + 8 * report.size.header
    assert bit_padding(packed) < 8 * sum(e.dtype == "bits" for e in packed.entries)
    assert report.size.header < 16_000  # the JSON description stays small
    assert size < memory_bits / 8 * 1.1


def test_pool_statistics_are_the_only_bytes_the_profile_does_not_count(
        make_genotype_source, genotypes, tmp_path):
    """Affine-free BNs after pools have no parameters but need mean and variance."""
    source = make_genotype_source(genotypes["darts"]())
    report = export_packed(source, tmp_path / "m.bnn")
    memory_bits = profile(source.model, source.input_shape).totals["memory_bits"]
    packed = read_packed(tmp_path / "m.bnn")
    pool_bn_channels = sum(m.num_features for name, m in source.model.named_modules()
                           if name.endswith(".bn") and not m.affine)
    assert pool_bn_channels > 0
    assert report.size.uncounted == 2 * 4 * pool_bn_channels
    assert report.size.total * 8 == (memory_bits + bit_padding(packed)
                                     + 8 * (report.size.header + report.size.uncounted))


def test_metadata_describes_the_model(make_genotype_source, genotypes, tmp_path):
    genotype = genotypes["bars"]()
    source = make_genotype_source(genotype)
    source.normalization = {"mean": [0.5], "std": [0.25]}
    export_packed(source, tmp_path / "m.bnn")
    meta = read_packed(tmp_path / "m.bnn").meta
    assert meta["architecture"] == {"kind": "genotype", "genotype": genotype.to_dict()}
    assert meta["input_shape"] == [1, 12, 12] and meta["num_classes"] == 5
    assert meta["normalization"] == {"mean": [0.5], "std": [0.25]}
    assert meta["graph"]["type"] == "cell_network"
    assert [c["output"] for c in meta["graph"]["cells"]] == ["add", "concat_conv", "add",
                                                             "concat_conv"]


def test_binary_weights_are_stored_as_their_signs(make_zoo_source, tmp_path):
    source = make_zoo_source("bresnet_small", (1, 28, 28))
    export_packed(source, tmp_path / "m.bnn")
    packed = read_packed(tmp_path / "m.bnn")
    conv = source.model.blocks[0].conv
    entry = packed.entry("blocks.0.conv.weight")
    assert entry.dtype == "bits" and entry.shape == tuple(conv.weight.shape)
    bits = unpack_bits(packed.arrays["blocks.0.conv.weight"], entry.shape)
    np.testing.assert_array_equal(bits, conv.weight.detach().numpy() >= 0)
    scale = conv.weight.detach().abs().flatten(1).mean(1).numpy()
    np.testing.assert_array_equal(packed.arrays["blocks.0.conv.scale"], scale)


def test_pack_leaves_the_model_untouched(make_zoo_source):
    source = make_zoo_source("bresnet_small", (1, 28, 28))
    before = {k: v.clone() for k, v in source.model.state_dict().items()}
    source.model.train()
    pack(source)
    assert source.model.training
    after = source.model.state_dict()
    assert all((before[k] == after[k]).all() for k in before)


@pytest.mark.parametrize("structure", ["sign-conv-bn", "bn-sign-conv+shortcut+rprelu"])
def test_counted_bits_equal_the_profile_for_structures(make_genotype_source, genotypes,
                                                       structure, tmp_path):
    source = make_genotype_source(genotypes["bars"](structure))
    report = export_packed(source, tmp_path / "m.bnn")
    assert report.size.counted_bits == report.profile_memory_bits
