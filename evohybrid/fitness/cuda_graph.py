"""A training step captured once as a CUDA graph and replayed for every later batch.

A step of the small networks a search evaluates launches hundreds of tiny kernels and the GPU waits
on the launches; a replay launches them all at once (`benchmarks/step_capture.py` measures it).
The optimiser must keep every value the schedule changes on the device, since a replay reads the
memory it was captured with and never the Python numbers of the parameter group.
"""

from __future__ import annotations

from typing import Callable

import torch

WARMUP_STEPS = 3  # eager steps on a side stream first: cuDNN and the optimiser's state initialise outside the capture


class GraphedStep:
    """`step(images, labels) -> loss`: forward, backward, optimiser and schedule step of one batch of fixed shape."""

    def __init__(self, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], optimizer: torch.optim.Adam,
                 scheduler: torch.optim.lr_scheduler.LRScheduler) -> None:
        self.loss_of, self.optimizer, self.scheduler = loss, optimizer, scheduler
        # Per parameter group, the learning rate and beta1 that the captured step reads.
        self.on_device = [(group["betas"][1].new_zeros(()), group["betas"][1].new_zeros(()))
                          for group in optimizer.param_groups]
        self.side = torch.cuda.Stream()
        self.graph: torch.cuda.CUDAGraph | None = None
        self.steps = 0
        self._schedule_on_device()

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.steps < WARMUP_STEPS:
            self.side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side):
                self.optimizer.zero_grad(set_to_none=True)
                loss = self._forward_backward_step(images, labels)
            torch.cuda.current_stream().wait_stream(self.side)
        else:
            if self.graph is None:
                self._capture(images, labels)
            self.images.copy_(images)
            self.labels.copy_(labels)
            self.graph.replay()
            loss = self.loss
        self.scheduler.step()
        self._schedule_on_device()
        self.steps += 1
        return loss

    def _forward_backward_step(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = self.loss_of(images, labels)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def _capture(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images.clone(), labels.clone()  # the buffers every replay reads its batch from
        self.optimizer.zero_grad(set_to_none=True)  # the captured backward writes the gradients, never adds to them
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss = self._forward_backward_step(self.images, self.labels)

    def _schedule_on_device(self) -> None:
        # A schedule may write the learning rate or Adam's beta1 (one-cycle does) as Python numbers: copy them into
        # the tensors that replays read.
        for group, (lr, beta1) in zip(self.optimizer.param_groups, self.on_device):
            if group["lr"] is not lr:
                lr.fill_(group["lr"])
                group["lr"] = lr
            value, beta2 = group["betas"]
            if value is not beta1:
                beta1.fill_(value)
                group["betas"] = (beta1, beta2)


def capturable_adam(params: list[torch.nn.Parameter], lr: float, weight_decay: float,
                    device: torch.device) -> torch.optim.Adam:
    """Adam whose learning rate, betas and step counts live on the device, so a captured step follows the schedule."""
    on_device = lambda value: torch.tensor(value, dtype=torch.float32, device=device)  # noqa: E731
    return torch.optim.Adam(params, lr=on_device(lr), betas=(on_device(0.9), on_device(0.999)),
                            weight_decay=weight_decay, capturable=True)
