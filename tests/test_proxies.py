"""Proxy implementations on tiny inputs, against values computed by hand or by a direct solve."""

from __future__ import annotations

import math

import torch
from torch import nn

from evohybrid.fitness.proxies import naswot_score, readout_accuracy, ridge_fit, ridge_predict, synflow_score
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
