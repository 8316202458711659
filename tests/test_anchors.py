"""The series space holds the deep networks that do well on the UCR archive: FCN and ResNet (Wang et al. 2017) and
InceptionTime (Fawaz et al. 2020), written as genomes, with odd kernels where the papers use even ones (8 -> 7,
40 -> 39). Each is a member of the space, builds with the size its layer list gives by hand, and classifies series."""

from __future__ import annotations

import pytest
import torch

import evohybrid
from evohybrid.spaces.genome import Genome, StageGene

ABSENT = StageGene(0, 0, 0, 1, ())
CLASSES = 5


def _stage(depth: int, width: int, kernel: int, block: str, residual: bool) -> StageGene:
    return StageGene(depth, width, kernel, 1, (residual,) * depth, block=block)


# FCN: three conv-BN-ReLU layers of 128, 256 and 128 channels (kernels 8, 5, 3), no stem, global pooling, softmax.
FCN = Genome(0, (_stage(1, 128, 7, "plain", False), _stage(1, 256, 5, "plain", False),
                 _stage(1, 128, 3, "plain", False)), "conv1d")
# ResNet: three residual blocks of 64, 128 and 128 channels, each three convolutions (8, 5, 3 taps).
RESNET = Genome(0, (_stage(1, 64, 7, "resnet", True), _stage(1, 128, 7, "resnet", True),
                    _stage(1, 128, 7, "resnet", True)), "conv1d")
# InceptionTime's network: six inception modules of 4 x 32 channels (kernels 40, 20, 10 and a max-pool branch, a
# bottleneck of 32), a shortcut every three modules.
INCEPTION_TIME = Genome(0, (_stage(2, 128, 39, "inception", True), ABSENT, ABSENT), "conv1d")


def _fcn_size(channels: int) -> int:
    convs = 7 * channels * 128 + 5 * 128 * 256 + 3 * 256 * 128
    return convs + 2 * (128 + 256 + 128) + 128 * CLASSES + CLASSES


def _resnet_size(channels: int) -> int:
    total, width_in = 0, channels
    for width in (64, 128, 128):
        total += (7 * width_in + 5 * width + 3 * width) * width + 3 * 2 * width  # three conv-BN
        # the shortcut: a 1x1 projection with BN where the width changes, a BN on the identity otherwise
        total += (width_in * width if width_in != width else 0) + 2 * width
        width_in = width
    return total + 128 * CLASSES + CLASSES


def _inception_module_size(width_in: int) -> int:
    bottleneck = width_in * 32 if width_in > 1 else 0
    inner = 32 if width_in > 1 else width_in
    return bottleneck + (39 + 19 + 9) * inner * 32 + width_in * 32 + 2 * 128  # branches, pool's 1x1, BN


def _inception_time_size(channels: int) -> int:
    modules = _inception_module_size(channels) + 5 * _inception_module_size(128)
    shortcuts = (channels * 128 + 2 * 128) + 2 * 128  # a projection from the input, then a BN'd identity
    return modules + shortcuts + 128 * CLASSES + CLASSES


@pytest.mark.parametrize("genome, size", [(FCN, _fcn_size), (RESNET, _resnet_size),
                                          (INCEPTION_TIME, _inception_time_size)], ids=["fcn", "resnet", "inceptiontime"])
@pytest.mark.parametrize("channels", [1, 3])
def test_an_anchor_is_a_member_of_the_series_space_with_the_size_of_its_layer_list(genome, size, channels):
    evohybrid.load_space("series").validate(genome)
    evohybrid.load_space("series-strides").validate(genome)  # a choice of stride keeps the full-length networks
    model = evohybrid.build_model(genome, in_channels=channels, num_classes=CLASSES)
    assert evohybrid.count_parameters(model) == size(channels)


@pytest.mark.parametrize("genome", [FCN, RESNET, INCEPTION_TIME], ids=["fcn", "resnet", "inceptiontime"])
def test_an_anchor_keeps_the_full_length_and_classifies_a_series(genome):
    model = evohybrid.build_model(genome, in_channels=1, num_classes=CLASSES, seed=0).eval()
    series = torch.randn(4, 1, 50, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(series)
        features = model.blocks(model.stem(series))
    assert logits.shape == (4, CLASSES) and torch.isfinite(logits).all()
    assert features.shape[-1] == 50  # no stage halves the length


def test_anchors_train_only_their_batchnorm_by_default():
    for genome in (FCN, RESNET, INCEPTION_TIME):
        model = evohybrid.build_model(genome, in_channels=1, num_classes=CLASSES)
        trainable = {name.rsplit(".", 1)[0] for name, param in model.named_parameters() if param.requires_grad}
        assert trainable and all(isinstance(model.get_submodule(name), torch.nn.BatchNorm1d) for name in trainable)
