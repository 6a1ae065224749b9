"""Training checkpoints: model, optimizer, iteration, RNG states, configs and tokenizer in one file.

One safetensors file per checkpoint, written atomically by ``nn.save``: arrays under
``model.<name>`` and ``optim.<index>.<key>``, everything else as JSON in its metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import nn


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: nn.optim.Optimizer, info: dict[str, Any]) -> Path:
    """Write everything needed to resume exactly. ``info`` must be JSON-serializable."""
    arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for i, state in opt["state"].items():
        for k, v in state.items():
            if isinstance(v, np.ndarray):
                arrays[f"optim.{i}.{k}"] = v
            else:
                scalars.setdefault(str(i), {})[k] = v
    meta = {"info": json.dumps(info), "optim_groups": json.dumps(opt["param_groups"]),
            "optim_scalars": json.dumps(scalars)}
    return nn.save(arrays, path, metadata=meta)


def load_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], dict, dict[str, Any]]:
    """(model state_dict, optimizer state_dict, info) from ``save_checkpoint``'s file."""
    arrays, meta = nn.load(path, with_metadata=True)
    try:
        info = json.loads(meta["info"])
        groups = json.loads(meta["optim_groups"])
        scalars = json.loads(meta["optim_scalars"])
    except (KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not a tinygrad_gpt training checkpoint ({e})") from None
    model_sd = {k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")}
    state: dict[int, dict[str, Any]] = {int(i): dict(s) for i, s in scalars.items()}
    for k, v in arrays.items():
        if k.startswith("optim."):
            _, i, key = k.split(".", 2)
            state.setdefault(int(i), {})[key] = v
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    return model_sd, {"state": state, "param_groups": groups}, info
