"""Two CPU processes on the gloo backend train exactly like one process with the joint batch."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import TensorDataset

from textmask_ocr.engine import DistributedContext, Trainer, TrainerConfig, load_checkpoint
from textmask_ocr.engine.sampling import shuffled_order


class MeanSquaredError:
    """A deterministic task: DDP's gradient average then equals the joint batch's gradient."""

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch
        return ((model(x).squeeze(1) - y) ** 2).mean(), {}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return {}

    def set_train_mode(self, model: nn.Module) -> None:
        model.train()

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def train(out: Path, batch_size: int, context: DistributedContext) -> Trainer:
    torch.manual_seed(0)
    x = torch.randn(48, 3)
    dataset = TensorDataset(x, x @ torch.tensor([0.5, -1.0, 2.0]))
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(
        model=model,
        model_config={"arch": "linear"},
        optimizer=optimizer,
        scheduler=None,
        dataset=dataset,
        order=shuffled_order(len(dataset)),
        collate_fn=torch.utils.data.default_collate,
        task=MeanSquaredError(),
        config=TrainerConfig(out_dir=out, max_steps=8, batch_size=batch_size, quiet=True),
        context=context,
    )
    trainer.fit()
    return trainer


def _worker(rank: int, out: str, port: int) -> None:
    os.environ.update(
        {"RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank)}
        | {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    )
    context = DistributedContext.from_environment(device="cpu")
    try:
        train(Path(out), batch_size=4, context=context)
    finally:
        context.shutdown()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_gloo_processes_match_one_process(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(str(tmp_path / "ddp"), free_port()), nprocs=2, join=True)
    single = train(tmp_path / "single", batch_size=8, context=DistributedContext())
    saved = load_checkpoint(tmp_path / "ddp" / "last.pt")["state_dict"]
    assert set(saved) == {"weight", "bias"}  # no "module." prefix
    for key, value in single.model.state_dict().items():
        torch.testing.assert_close(saved[key], value, rtol=1e-5, atol=1e-6)
    rows = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 2  # one train line at step 8 and the final val line, from rank 0 only
