"""The GPU path: data resident on the GPU, bf16 autocast, channels_last, on-device augmentation, packed Ray workers.

Skipped without a CUDA GPU; the same code runs on the CPU in test_evaluator.py.
"""

from __future__ import annotations

import random
import subprocess
import sys

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


BREAK_THE_GPU_THEN_EVALUATE = """
import random, torch, evohybrid
from evohybrid.errors import DeviceLost
config = evohybrid.load_config("smoke").override("fitness", device="cuda")
try:  # a label past the last class trips a device-side assert: the process's CUDA context is broken for good
    torch.nn.functional.cross_entropy(torch.zeros(2, 5, device="cuda"), torch.tensor([7, 7], device="cuda")).item()
except Exception:
    pass
try:
    evohybrid.evaluate(evohybrid.load_space("tiny").sample(random.Random(0)), config)
except DeviceLost as error:
    print("device lost:", error)
"""


def test_an_evaluation_on_a_broken_gpu_raises_device_lost_not_a_failed_record():
    # In a process of its own: a device-side assert cannot be undone in the process that raised it.
    out = subprocess.run([sys.executable, "-c", BREAK_THE_GPU_THEN_EVALUATE], capture_output=True, text=True,
                         timeout=120)
    assert "device lost: the device cuda failed (CUDA error" in out.stdout, out.stderr[-2000:]
