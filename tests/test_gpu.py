"""The GPU path: data resident on the GPU, bf16 autocast, channels_last, on-device augmentation, packed Ray workers.

Skipped without a CUDA GPU; the same code runs on the CPU in test_evaluator.py.
"""

from __future__ import annotations

import random

import pytest
import torch

import evohybrid
from evohybrid.distributed.ray_executor import RayExecutor, RayOptions

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def gpu_config() -> evohybrid.Config:
    config = evohybrid.load_config("cifar10-gpu").override("data", dataset="synthetic-cifar10", val_size=1000,
                                                           train_size=4000)
    config = config.override("fitness", steps=20, batch_size=128, val_batch_size=500, device="cuda")
    return config.override("search", budget=6, population=4)


def test_evaluation_on_the_gpu_trains_every_step(gpu_config):
    split = evohybrid.load_search_split(gpu_config).to("cuda")
    space, rng = evohybrid.load_space(gpu_config.space), random.Random(0)
    for genome in [space.sample(rng) for _ in range(3)]:
        record = evohybrid.evaluate(genome, gpu_config, split=split)
        assert record["status"] == "ok", record["error"]
        assert record["device"].startswith("cuda")
        assert record["train_samples"] == gpu_config.fitness.steps * gpu_config.fitness.batch_size
        assert 0.0 <= record["val_acc"] <= 1.0


def test_ray_packs_two_workers_on_one_gpu(gpu_config, tmp_path):
    result = evohybrid.search(gpu_config, out=tmp_path / "run", progress=False,
                              executor_factory=lambda cfg: RayExecutor(cfg, RayOptions(workers=2, gpus_per_eval=0.5)))
    assert len(result.records) == gpu_config.search.budget
    assert all(record["status"] == "ok" and record["device"].startswith("cuda") for record in result.records)
    assert {record["worker"] for record in result.records} == {"ray-0", "ray-1"}
