"""`GPTConfig` and the named presets (GPT-2 sizes, GPT-3 Table 2.1 sizes, and `baby` for CPUs)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class GPTConfig:
    """Shape and options of a GPT.

    >>> GPTConfig.from_preset("baby", vocab_size=65).n_embd
    128
    """

    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True
    pos_encoding: str = "learned"  # "learned" | "sinusoidal"
    tie_weights: bool = True
    attn_pattern: str = "dense"  # "dense" | "alternating" (dense, then locally banded, …)
    local_window: int = 256  # tokens a banded layer sees, its own included

    def __post_init__(self):
        problems = []
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "local_window"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive int, got {value!r}")
        if not problems and self.n_embd % self.n_head:
            problems.append(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        if not 0 <= self.dropout < 1:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        if self.pos_encoding not in ("learned", "sinusoidal"):
            problems.append(f"pos_encoding must be 'learned' or 'sinusoidal', got {self.pos_encoding!r}")
        if self.attn_pattern not in ("dense", "alternating"):
            problems.append(f"attn_pattern must be 'dense' or 'alternating', got {self.attn_pattern!r}")
        if problems:
            raise ValueError("invalid GPTConfig: " + "; ".join(problems))

    def layer_window(self, layer: int) -> int | None:
        """The attention window of a layer: None (dense) or ``local_window`` on odd layers when alternating."""
        return self.local_window if self.attn_pattern == "alternating" and layer % 2 == 1 else None

    @classmethod
    def from_preset(cls, name: str, **overrides) -> GPTConfig:
        """A named preset with fields overridden, e.g. ``from_preset("gpt2", dropout=0.1)``."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(overrides) - fields
        if unknown:
            raise ValueError(f"unknown GPTConfig fields {sorted(unknown)}; valid fields are {sorted(fields)}")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def num_parameters(self, exclude_positions: bool = False) -> int:
        """Parameters of the GPT this config builds, counted without building it (tied head once).

        >>> GPTConfig.from_preset("gpt2").num_parameters()
        124439808
        """
        c, b = self.n_embd, int(self.bias)
        per_layer = 12 * c * c + (2 + 2 * b) * c + b * (3 * c + c + 4 * c + c)  # 2 LayerNorms, attention, MLP
        n = self.n_layer * per_layer + (1 + b) * c + self.vocab_size * c  # blocks, ln_f, wte
        if self.pos_encoding == "learned" and not exclude_positions:
            n += self.block_size * c
        if not self.tie_weights:
            n += self.vocab_size * c
        return n


def describe_preset(name: str, vocab_size: int | None = None) -> str:
    """One line: the preset's parameters, layers, width and context.

    >>> describe_preset("gpt2")
    'gpt2: 124M params, 12 layers, 768 wide, context 1024'
    """
    cfg = GPTConfig.from_preset(name, **({"vocab_size": vocab_size} if vocab_size else {}))
    n = cfg.num_parameters()
    size = f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M" if n >= 1e7 else f"{n / 1e6:.1f}M"
    return f"{name}: {size} params, {cfg.n_layer} layers, {cfg.n_embd} wide, context {cfg.block_size}"


def _gpt3(n_layer: int, n_embd: int, n_head: int) -> dict:
    # GPT-3 paper, Table 2.1; context 2048; dense and locally banded layers alternate.
    return dict(n_layer=n_layer, n_embd=n_embd, n_head=n_head, block_size=2048, attn_pattern="alternating")


PRESETS: dict[str, dict] = {
    "baby": dict(n_layer=4, n_head=4, n_embd=128, block_size=64),
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768),
    "gpt2-medium": dict(n_layer=24, n_head=16, n_embd=1024),
    "gpt2-large": dict(n_layer=36, n_head=20, n_embd=1280),
    "gpt2-xl": dict(n_layer=48, n_head=25, n_embd=1600),
    "gpt3-small": _gpt3(12, 768, 12),
    "gpt3-medium": _gpt3(24, 1024, 16),
    "gpt3-large": _gpt3(24, 1536, 16),
    "gpt3-xl": _gpt3(24, 2048, 16),  # the paper's 24 heads do not divide 2048; 16 x 128 keeps its d_head
    "gpt3-2.7b": _gpt3(32, 2560, 32),
    "gpt3-6.7b": _gpt3(32, 4096, 32),
    "gpt3-13b": _gpt3(40, 5120, 40),  # the paper's 5140 is not 40 heads x 128; 5120 is
    "gpt3-175b": _gpt3(96, 12288, 96),
}
