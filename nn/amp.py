"""Dynamic loss scaling for float16 training (pairs with ``engine.autocast``).

The loss is multiplied by ``scale`` before backward so small float16 gradients don't
underflow; gradients are divided by it before clipping and the step. A step whose
gradients hold inf or NaN is skipped and the scale halves; after ``growth_interval``
good steps it doubles. Same rules as torch.cuda.amp.GradScaler.

>>> from engine import Tensor
>>> from nn import Linear
>>> from nn.optim import SGD
>>> layer = Linear(2, 1); opt = SGD(layer.parameters(), lr=0.1); scaler = GradScaler()
>>> loss = layer(Tensor.randn(4, 2)).sum()
>>> scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
True
"""

from __future__ import annotations

import math

from engine import Tensor, no_grad
from engine.backend import array_module


class GradScaler:
    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True):
        if not (growth_factor > 1 and 0 < backoff_factor < 1 and growth_interval >= 1 and init_scale > 0):
            raise ValueError("GradScaler needs growth_factor > 1, 0 < backoff_factor < 1, growth_interval >= 1, "
                             "init_scale > 0")
        self.scale_value = float(init_scale) if enabled else 1.0
        self.growth_factor, self.backoff_factor, self.growth_interval = growth_factor, backoff_factor, growth_interval
        self.enabled = enabled
        self.good_steps = 0
        self._unscaled = False
        self.found_inf = False

    def scale(self, loss: Tensor) -> Tensor:
        """``loss * scale`` (the loss itself when disabled)."""
        return loss * self.scale_value if self.enabled else loss

    @no_grad()
    def unscale_(self, optimizer) -> bool:
        """Divide every gradient by the scale in place; return whether any is inf/NaN."""
        if self._unscaled:
            return self.found_inf
        inv = 1.0 / self.scale_value
        found = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad._data
                if self.enabled:
                    g *= g.dtype.type(inv)
                found = found or not bool(array_module(g).isfinite(g).all())
        self.found_inf, self._unscaled = found, True
        return found

    def step(self, optimizer) -> bool:
        """Unscale if not done yet, then step unless a gradient is inf/NaN. Returns whether it stepped."""
        if not self.unscale_(optimizer):
            optimizer.step()
            return True
        return False

    def update(self) -> None:
        """Back off after a skipped step; grow after ``growth_interval`` good ones."""
        if self.enabled:
            if self.found_inf:
                self.scale_value *= self.backoff_factor
                self.good_steps = 0
            else:
                self.good_steps += 1
                if self.good_steps == self.growth_interval:
                    self.scale_value *= self.growth_factor
                    self.good_steps = 0
            if not math.isfinite(self.scale_value) or self.scale_value == 0:
                raise RuntimeError(f"GradScaler scale became {self.scale_value}; the gradients are never finite")
        self._unscaled = False
        self.found_inf = False

    def state_dict(self) -> dict:
        return {"scale": self.scale_value, "good_steps": self.good_steps, "enabled": self.enabled}

    def load_state_dict(self, state: dict) -> None:
        self.scale_value, self.good_steps = float(state["scale"]), int(state["good_steps"])
