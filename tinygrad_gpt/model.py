"""The GPT: token + position embeddings, n_layer pre-LayerNorm blocks, a tied LM head.

Parameter names match Hugging Face GPT-2 checkpoints (``transformer.h.0.attn.c_attn.weight``),
so importing real weights is a rename plus the Conv1D transposes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

import engine.functional as F
import nn
from engine import Tensor, no_grad
from engine.backend import array_module, to_numpy
from tinygrad_gpt import decode
from tinygrad_gpt.config import GPTConfig


class Block(nn.Module):
    """x + attn(ln_1(x)), then x + mlp(ln_2(x)). (B, T, C) → (B, T, C)."""

    def __init__(self, config: GPTConfig, window: int | None = None):
        super().__init__()
        c = config
        self.ln_1 = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.attn = nn.CausalSelfAttention(c.n_embd, c.n_head, c.dropout, c.bias, window=window)
        self.ln_2 = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.mlp = nn.MLP(c.n_embd, dropout=c.dropout, bias=c.bias, approximate="tanh")

    def forward(self, x: Tensor, cache: nn.KVCache | None = None) -> Tensor:
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """A GPT-2/GPT-3 style decoder.

    >>> model = GPT(GPTConfig.from_preset("baby", vocab_size=65), seed=0)
    >>> logits, loss = model(np.zeros((2, 8), dtype=np.int64), np.ones((2, 8), dtype=np.int64))
    >>> logits.shape, loss.shape
    ((2, 8, 65), ())
    """

    fast_decode = True  # generate's one-token steps on raw arrays (decode.py); False: through forward

    def __init__(self, config: GPTConfig, seed: int | None = None):
        super().__init__()
        c = self.config = config
        if c.pos_encoding == "learned":
            wpe = nn.LearnedPositionalEmbedding(c.block_size, c.n_embd)
        else:
            wpe = nn.SinusoidalPositionalEncoding(c.block_size, c.n_embd)
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c.vocab_size, c.n_embd),
            wpe=wpe,
            drop=nn.Dropout(c.dropout),
            h=nn.ModuleList(Block(c, c.layer_window(i)) for i in range(c.n_layer)),
            ln_f=nn.LayerNorm(c.n_embd, bias=c.bias),
        ))
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.transformer.wte.weight
        self.init_weights(seed)

    def init_weights(self, seed: int | None = None) -> None:
        """GPT-2 init: N(0, 0.02) weights, zero biases, residual projections N(0, 0.02/sqrt(2·n_layer))."""
        gen = np.random.default_rng(seed) if seed is not None else None
        for mod in self.modules():
            if isinstance(mod, (nn.Linear, nn.Embedding)):
                nn.init.normal_(mod.weight, 0.0, 0.02, generator=gen)
            if isinstance(mod, nn.LayerNorm):
                nn.init.ones_(mod.weight)
            if isinstance(mod, (nn.Linear, nn.LayerNorm)) and mod.bias is not None:
                nn.init.zeros_(mod.bias)
        proj_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, proj_std, generator=gen)

    # ---- forward ----------------------------------------------------------------------------
    def _check_idx(self, idx):
        idx = idx._data if isinstance(idx, Tensor) else idx
        if not hasattr(idx, "dtype"):
            idx = np.asarray(idx)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"token ids must be integers, got dtype {idx.dtype}")
        if idx.ndim != 2:
            raise ValueError(f"token ids must have shape (B, T), got {idx.shape}")
        return idx

    def hidden(self, idx, caches: list[nn.KVCache] | None = None) -> Tensor:
        """Final-LayerNorm activations (B, T, C) for token ids (B, T)."""
        idx = self._check_idx(idx)
        B, T = idx.shape
        start = caches[0].length if caches else 0
        if start + T > self.config.block_size:
            raise ValueError(
                f"sequence length {start + T} exceeds block_size {self.config.block_size}; crop the context"
            )
        pos = array_module(self.transformer.wte.weight._data).arange(start, start + T)  # (T,)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)  # (B, T, C)
        x = self.transformer.drop(x)
        for i, block in enumerate(self.transformer.h):
            x = block(x, caches[i] if caches else None)
        return self.transformer.ln_f(x)

    def forward(self, idx, targets=None) -> tuple[Tensor, Tensor | None]:
        """Logits (B, T, vocab) and, given targets (B, T), the mean cross-entropy (targets of -1 are ignored)."""
        logits = self.lm_head(self.hidden(idx))
        loss = None
        if targets is not None:
            targets = targets._data if isinstance(targets, Tensor) else targets
            if targets.shape != logits.shape[:-1]:
                raise ValueError(f"GPT: targets shape {targets.shape} must be (B, T) = {logits.shape[:-1]}")
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    # ---- generation -------------------------------------------------------------------------
    def generate(
        self,
        idx,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop_token: int | None = None,
        use_cache: bool = True,
        vocab_limit: int | None = None,
        callback=None,
    ) -> np.ndarray:
        """Sample ``max_new_tokens`` after the prompt ``idx`` (B, T); returns (B, T + new) ids.

        With the KV cache the prompt runs once and then one token per step. A context longer
        than block_size is cropped to its last block_size tokens, as nanoGPT does (the cache is
        then refilled from the cropped context, so results equal the no-cache path).
        ``temperature=0`` is greedy. Stops early once every row has produced ``stop_token``.
        ``vocab_limit`` samples only ids below it: a tokenizer smaller than a vocabulary padded
        for speed (50257 in 50304) cannot decode the others. ``callback(ids)`` gets each step's
        new ids (B,) as they are drawn, for streaming.

        >>> m = GPT(GPTConfig.from_preset("baby", vocab_size=65), seed=0)
        >>> m.generate(np.zeros((1, 3), dtype=np.int64), 5, temperature=0).shape
        (1, 8)
        """
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        if top_p is not None and not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        if vocab_limit is not None and not 1 <= vocab_limit <= self.config.vocab_size:
            raise ValueError(f"vocab_limit must be in [1, {self.config.vocab_size}], got {vocab_limit}")
        idx = to_numpy(self._check_idx(idx)).astype(np.int64)
        if idx.shape[1] == 0:
            raise ValueError("generate needs a prompt of at least one token")
        rng = np.random.default_rng(seed)
        bs = self.config.block_size
        caches: list[nn.KVCache] | None = None
        stopped = np.zeros(idx.shape[0], dtype=bool)
        n = idx.shape[1]  # ids so far: out[:, :n], written in place (no copy of the whole context per token)
        out = np.empty((idx.shape[0], n + max_new_tokens), dtype=np.int64)
        out[:, :n] = idx
        was_training = self.training
        self.eval()
        decoder = None  # the speed path for one new token a step (tinygrad_gpt/decode.py)
        if use_cache and self.fast_decode and decode.supported(self):
            decoder = decode.Decoder(self, idx.shape[0])
        try:
            with no_grad():
                for _ in range(max_new_tokens):
                    if use_cache and caches is not None and caches[0].length < bs:
                        if decoder is not None:
                            logits = decoder.step(out[:, n - 1], caches)[:, :vocab_limit]  # (B, V)
                        else:
                            h = self.hidden(out[:, n - 1 : n], caches)  # one new token
                            logits = to_numpy(self.lm_head(h[:, -1, :])._data)[:, :vocab_limit]  # (B, V)
                    else:
                        if use_cache:  # the caches keep their arrays: a refill writes over them
                            caches = caches or [nn.KVCache(bs) for _ in range(self.config.n_layer)]
                            for cache in caches:
                                cache.length = 0
                        h = self.hidden(out[:, max(0, n - bs) : n], caches)  # (re)fill from the cropped context
                        logits = to_numpy(self.lm_head(h[:, -1, :])._data)[:, :vocab_limit]  # (B, V)
                    if temperature != 0:  # greedy's argmax is the same in float32
                        logits = logits.astype(np.float64)
                    nxt = sample_next(logits, temperature, top_k, top_p, rng)
                    out[:, n] = nxt
                    n += 1
                    if callback is not None:
                        callback(nxt)
                    if stop_token is not None:
                        stopped |= nxt == stop_token
                        if stopped.all():
                            break
        finally:
            self.train(was_training)
        return np.ascontiguousarray(out[:, :n])  # a copy only after an early stop

    # ---- accounting -------------------------------------------------------------------------
    def estimate_flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token: 6N + 12·L·C·T (N without position embeddings; matmuls only)."""
        c = self.config
        n = self.num_parameters(exclude=("transformer.wpe.weight",))
        t = seq_len or c.block_size
        return 6 * n + 12 * c.n_layer * c.n_embd * t

    def mfu(self, tokens_per_s: float, peak_flops: float, seq_len: int | None = None) -> float:
        """Model FLOPs utilization: achieved training FLOP/s over ``peak_flops``."""
        return self.estimate_flops_per_token(seq_len) * tokens_per_s / peak_flops

    def optimizer(self, lr: float, weight_decay: float, betas=(0.9, 0.99), eps: float = 1e-8) -> nn.optim.AdamW:
        """AdamW with decay on 2-D weights only (matmuls and embeddings), none on biases and LayerNorms."""
        params = self.parameters()
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return nn.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=betas, eps=eps)

    # ---- Hugging Face GPT-2 format ---------------------------------------------------------
    _CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")

    @classmethod
    def from_pretrained(cls, path: str | Path) -> GPT:
        """Load a local Hugging Face GPT-2 folder (``config.json`` + ``model.safetensors``)."""
        from safetensors.numpy import load_file

        path = Path(path)
        cfg_file, weights = path / "config.json", path / "model.safetensors"
        for f in (cfg_file, weights):
            if not f.is_file():
                raise FileNotFoundError(f"{f} not found: from_pretrained needs a Hugging Face GPT-2 folder")
        hf = json.loads(cfg_file.read_text())
        cls._check_hf_config(hf, cfg_file)
        config = GPTConfig(
            vocab_size=hf["vocab_size"], block_size=hf.get("n_positions", hf.get("n_ctx", 1024)),
            n_layer=hf["n_layer"], n_head=hf["n_head"], n_embd=hf["n_embd"], dropout=0.0, bias=True,
            tie_weights=hf.get("tie_word_embeddings", True),
        )
        model = cls(config)
        sd = {}
        for k, v in load_file(str(weights)).items():
            if k.endswith((".attn.bias", ".attn.masked_bias")):
                continue  # old checkpoints keep the causal mask as a buffer
            k = k if k.startswith(("transformer.", "lm_head.")) else "transformer." + k
            sd[k] = v.T if k.endswith(cls._CONV1D) else v
        if config.tie_weights:
            sd.setdefault("lm_head.weight", sd.get("transformer.wte.weight"))
        model.load_state_dict(sd)
        return model

    @staticmethod
    def _check_hf_config(hf: dict, where: Path) -> None:
        """Refuse GPT-2 variants this model would load without complaint but compute differently."""
        problems = []
        act = hf.get("activation_function", "gelu_new")
        if act not in ("gelu_new", "gelu_pytorch_tanh"):
            problems.append(f"activation_function {act!r} (only GPT-2's tanh GELU, 'gelu_new')")
        eps = hf.get("layer_norm_epsilon", 1e-5)
        if eps != 1e-5:
            problems.append(f"layer_norm_epsilon {eps!r} (only 1e-05)")
        if not hf.get("scale_attn_weights", True):
            problems.append("scale_attn_weights False (attention is always scaled by 1/sqrt(head size))")
        if hf.get("scale_attn_by_inverse_layer_idx", False):
            problems.append("scale_attn_by_inverse_layer_idx True")
        n_inner = hf.get("n_inner")
        if n_inner is not None and n_inner != 4 * hf["n_embd"]:
            problems.append(f"n_inner {n_inner} (only 4 * n_embd = {4 * hf['n_embd']})")
        if hf.get("add_cross_attention", False):
            problems.append("add_cross_attention True")
        if problems:
            raise ValueError(f"{where} describes a GPT-2 variant this GPT does not compute: " + "; ".join(problems))

    def save_pretrained(self, path: str | Path) -> Path:
        """Write ``config.json`` + ``model.safetensors`` that ``transformers.GPT2LMHeadModel`` loads."""
        from safetensors.numpy import save_file

        c = self.config
        if c.pos_encoding != "learned" or c.attn_pattern != "dense" or not c.bias:
            raise ValueError("save_pretrained writes GPT-2 format: it needs learned positions, dense attention, biases")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        sd = {}
        for k, v in self.state_dict().items():
            if c.tie_weights and k == "lm_head.weight":
                continue  # tied to wte; transformers re-ties it
            sd[k] = np.ascontiguousarray(v.T if k.endswith(self._CONV1D) else v)
        hf = dict(
            architectures=["GPT2LMHeadModel"], model_type="gpt2", vocab_size=c.vocab_size, n_positions=c.block_size,
            n_ctx=c.block_size, n_embd=c.n_embd, n_layer=c.n_layer, n_head=c.n_head, n_inner=None,
            activation_function="gelu_new", layer_norm_epsilon=1e-5, resid_pdrop=c.dropout, embd_pdrop=c.dropout,
            attn_pdrop=c.dropout, initializer_range=0.02, tie_word_embeddings=c.tie_weights,
            bos_token_id=50256, eos_token_id=50256,
        )
        nn.serialization.atomic_write(path / "model.safetensors", lambda tmp: save_file(sd, tmp, {"format": "pt"}))
        nn.serialization.atomic_write(path / "config.json", lambda tmp: Path(tmp).write_text(json.dumps(hf, indent=2)))
        return path


def sample_next(logits: np.ndarray, temperature: float, top_k: int | None, top_p: float | None,
                rng: np.random.Generator) -> np.ndarray:
    """Pick one id per row of ``logits`` (B, V): greedy at temperature 0, else top-k/top-p sampling.

    >>> sample_next(np.array([[0.0, 5.0, 1.0]]), 0.0, None, None, np.random.default_rng(0)).tolist()
    [1]
    """
    if temperature == 0:
        return logits.argmax(axis=-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = np.sort(logits, axis=-1)[:, -top_k][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1:
        order = np.argsort(-probs, axis=-1)
        sorted_p = np.take_along_axis(probs, order, axis=-1)
        # Keep the smallest prefix whose mass reaches top_p (the top token always stays).
        drop = np.cumsum(sorted_p, axis=-1) - sorted_p >= top_p
        sorted_p[drop] = 0
        probs = np.zeros_like(probs)
        np.put_along_axis(probs, order, sorted_p, axis=-1)
        probs /= probs.sum(axis=-1, keepdims=True)
    # Inverse CDF: the first id whose cumulative mass exceeds u·total. Scaling u by the rounded total
    # (not assuming it is 1) and clamping to the last id still in play keeps removed ids out of reach.
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random((probs.shape[0], 1)) * cdf[:, -1:]
    last = probs.shape[-1] - 1 - np.argmax(probs[:, ::-1] > 0, axis=-1)
    return np.minimum((cdf <= u).sum(axis=-1), last)
