"""Proxy implementations on tiny inputs, against values computed by hand or by a direct solve."""

from __future__ import annotations

import math

import torch
from torch import nn

from evohybrid.fitness.proxies import (depth_score, naswot_score, readout_accuracy, ridge_fit, ridge_predict,
                                      synflow_score, zico_score)
from evohybrid.spaces.builder import build_model
from evohybrid.spaces.genome import Genome, StageGene


def test_naswot_counts_shared_activation_codes():
    # One ReLU over 3 units; codes per image: a=[1,1,0], b=[1,0,0], c=[0,0,1].
    model = nn.Sequential(nn.Identity(), nn.ReLU())
    images = torch.tensor([[1.0, 2.0, -1.0], [3.0, -1.0, -2.0], [-1.0, -1.0, 5.0]])
    # K[i, j] = units where i and j agree: a-b agree on 2, a-c on 0, b-c on 1; the diagonal is 3.
    expected = torch.tensor([[3.0, 2.0, 0.0], [2.0, 3.0, 1.0], [0.0, 1.0, 3.0]], dtype=torch.float64)
    assert math.isclose(naswot_score(model, images), float(torch.linalg.slogdet(expected)[1]), rel_tol=1e-12)


def test_naswot_sums_over_every_relu():
    model = nn.Sequential(nn.ReLU(), nn.ReLU())  # the second sees the first's output: identical codes
    images = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    # Per ReLU: K = [[2, 0], [0, 2]]; summed over two: [[4, 0], [0, 4]], log det = log 16.
    assert math.isclose(naswot_score(model, images), math.log(16.0), rel_tol=1e-12)


def test_synflow_of_a_two_layer_linear_net():
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 4.0]]))
        model[1].weight.copy_(torch.tensor([[-5.0, 6.0]]))
    # |W1| = [[1,2],[3,4]], |W2| = [5,6], x = 1: R = 5*(1+2) + 6*(3+4) = 57.
    # dR/dW1[i,j] = |W2|[i]; dR/dW2[i] = row sum of |W1|[i]. Score = sum |w * grad|:
    # W1: 1*5 + 2*5 + 3*6 + 4*6 = 57; W2: 5*3 + 6*7 = 57. Total 114.
    assert math.isclose(synflow_score(model, (2,)), 114.0, rel_tol=1e-12)


def test_synflow_leaves_the_model_untouched():
    genome = Genome(4, (StageGene(1, 4, 3, 1, (True,)),))
    model = build_model(genome, seed=3)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    assert synflow_score(model, (1, 8, 8)) > 0
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())


def test_ridge_fit_matches_a_direct_least_squares_solve():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(50, 4, generator=generator, dtype=torch.float64)
    targets = torch.randn(50, 3, generator=generator, dtype=torch.float64)
    ridge = 0.5
    # Direct solve of the augmented system [X 1; sqrt(ridge) I 0] W = [Y; 0].
    x = torch.cat([features, torch.ones(50, 1, dtype=torch.float64)], dim=1)
    augmented = torch.cat([x, ridge ** 0.5 * torch.eye(5, dtype=torch.float64)])
    expected = torch.linalg.lstsq(augmented, torch.cat([targets, torch.zeros(5, 3, dtype=torch.float64)])).solution
    weights = ridge_fit(features, targets, ridge)
    assert torch.allclose(weights, expected, atol=1e-10)
    assert torch.allclose(ridge_predict(weights, features), x @ expected, atol=1e-10)


def test_readout_accuracy_is_a_fraction(smoke_split):
    genome = Genome(4, (StageGene(1, 8, 3, 1, (True,)), StageGene(0, 0, 0, 1, ())))
    model = build_model(genome, in_channels=smoke_split.input_shape[0], num_classes=smoke_split.num_classes)
    assert 0.0 <= readout_accuracy(model, smoke_split) <= 1.0


def test_zico_of_a_linear_layer_by_hand():
    # Zero weights, two classes: softmax is [0.5, 0.5], so the weight gradient of one input x with label y is
    # (p - onehot(y)) x^T. Batch A: x = [1, 2], y = 0 -> [[-0.5, -1], [0.5, 1]]; batch B: x = [2, 0], y = 0 ->
    # [[-1, 0], [1, 0]]. Per weight, mean |g| / std(g) over the two batches: (0.75 / 0.25) = 3 for the first column,
    # (0.5 / 0.5) = 1 for the second; summed over the four weights: 8; one layer: log 8.
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    batches = [(torch.tensor([[1.0, 2.0]]), torch.tensor([0])), (torch.tensor([[2.0, 0.0]]), torch.tensor([0]))]
    assert math.isclose(zico_score(model, batches), math.log(8.0), rel_tol=1e-9)


def test_zico_leaves_out_weights_whose_gradient_does_not_vary_and_sums_layers_in_log():
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[1].weight.zero_()
    # The second layer's weights are zero, so the first gets no gradient: it varies nowhere and adds nothing. The
    # second sees the first's output, the input itself: the hand-computed case above, log 8.
    batches = [(torch.tensor([[1.0, 2.0]]), torch.tensor([0])), (torch.tensor([[2.0, 0.0]]), torch.tensor([0]))]
    assert math.isclose(zico_score(model, batches), math.log(8.0), rel_tol=1e-9)


def test_depth_counts_every_convolution_and_linear_layer():
    # Stem conv, one block of two convs with a 1x1 projection shortcut (the width changes), a second block without a
    # shortcut, and the head: 1 + (2 + 1) + 2 + 1 = 7.
    genome = Genome(8, (StageGene(1, 16, 3, 1, (True,)), StageGene(1, 16, 3, 2, (False,))))
    assert depth_score(build_model(genome)) == 7.0
