"""Connectionist temporal classification loss, composed of engine ops (its gradient is the engine's).

The forward (alpha) recursion runs in log space over the extended label sequence
l' = (blank, y1, blank, y2, ..., yS, blank) of length L = 2S + 1, one step per frame:

    alpha_t(s) = logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), alpha_{t-1}(s-2) if l'(s) != blank, l'(s-2))
                 + log_probs[t, l'(s)]

and -log p(y|x) = -logsumexp(alpha_{T-1}(L-1), alpha_{T-1}(L-2)). Unreachable states hold a large
negative finite number rather than -inf, so that logsumexp's backward never meets (-inf) - (-inf);
whether a target can be aligned at all (T >= S + repeats) is decided exactly from the lengths.
"""

from __future__ import annotations

import numpy as np

from engine.backend import to_numpy
from engine.tensor import Tensor

# Stands for log 0. Far below any real log-likelihood, far above float32's -3.4e38, and never
# summed with itself (each step adds one emission to a logsumexp), so it never overflows.
_LOG_ZERO = -1e30


def _int_array(x, name: str) -> np.ndarray:
    a = to_numpy(x._data) if isinstance(x, Tensor) else np.asarray(x)
    if a.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss: {name} must hold integers, got dtype {a.dtype}")
    return a.astype(np.int64)


def ctc_loss(log_probs: Tensor, targets, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """CTC loss as torch.nn.functional.ctc_loss.

    log_probs (T, N, C) or (T, C) unbatched, log-softmaxed over C; targets (N, S) padded or
    1-D concatenated (sum(target_lengths),); input_lengths, target_lengths (N,). ``mean`` divides
    each loss by its target length (at least 1) then averages over the batch. Impossible
    alignments give inf, or 0 with ``zero_infinity``.

    >>> lp = Tensor(np.log(np.full((3, 1, 2), 0.5)), requires_grad=True)
    >>> round(ctc_loss(lp, np.array([[1]]), [3], [1], reduction="sum").item(), 4)  # -log(6/8): 6 paths give "1"
    0.2877
    """
    if not isinstance(log_probs, Tensor) or log_probs.dtype.kind != "f":
        raise TypeError(f"ctc_loss: log_probs must be a float Tensor, got {type(log_probs).__name__}")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"ctc_loss: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = log_probs.unsqueeze(1)
    if log_probs.ndim != 3:
        raise ValueError(f"ctc_loss: log_probs must be (T, N, C) or (T, C), got shape {log_probs.shape}")
    T, N, C = log_probs.shape
    if not 0 <= blank < C:
        raise ValueError(f"ctc_loss: blank={blank} out of range for {C} classes")
    tgt = _int_array(targets, "targets")
    in_len = _int_array(input_lengths, "input_lengths").reshape(-1)
    tg_len = _int_array(target_lengths, "target_lengths").reshape(-1)
    if unbatched and tgt.ndim == 1 and tg_len.size == 1 and tgt.size >= tg_len[0]:
        tgt = tgt[None, : tg_len[0]]
    if in_len.shape != (N,) or tg_len.shape != (N,):
        raise ValueError(f"ctc_loss: input_lengths {in_len.shape} and target_lengths {tg_len.shape} must be ({N},)")
    if (in_len < 0).any() or (in_len > T).any():
        raise ValueError(f"ctc_loss: input_lengths must lie in [0, {T}], got {in_len.tolist()}")
    if tgt.ndim == 1:  # concatenated targets -> padded (N, S)
        if tgt.size != tg_len.sum():
            raise ValueError(f"ctc_loss: 1-D targets hold {tgt.size} labels, target_lengths sum to {tg_len.sum()}")
        pad = np.full((N, max(int(tg_len.max(initial=0)), 1)), blank, np.int64)
        for n, (a, b) in enumerate(zip(np.cumsum(tg_len) - tg_len, np.cumsum(tg_len))):
            pad[n, : b - a] = tgt[a:b]
        tgt = pad
    if tgt.ndim != 2 or tgt.shape[0] != N or (tg_len > tgt.shape[1]).any() or (tg_len < 0).any():
        raise ValueError(f"ctc_loss: targets of shape {tgt.shape} do not fit target_lengths {tg_len.tolist()}")
    S = int(tg_len.max(initial=0))
    tgt = tgt[:, :S]
    valid = np.arange(S)[None, :] < tg_len[:, None]
    if ((tgt < 0) | (tgt >= C) | (tgt == blank))[valid].any():
        raise ValueError(f"ctc_loss: targets must lie in [0, {C}) and differ from blank={blank}")

    L = 2 * S + 1
    ext = np.full((N, L), blank, np.int64)  # l': blanks between and around the labels
    ext[:, 1::2] = np.where(valid, tgt, blank)
    # skip from s-2 to s: a label that differs from the label before it
    skip = np.zeros((N, L), bool)
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    dt = log_probs.dtype
    skip_add = Tensor(np.where(skip, 0.0, _LOG_ZERO).astype(dt))  # (N, L)
    em = log_probs.gather(2, np.broadcast_to(ext[None], (T, N, L)))  # (T, N, L) emissions of l'

    start = np.where(np.arange(L) < 2, 0.0, _LOG_ZERO).astype(dt)
    alpha = em[0] + Tensor(start)  # (N, L)
    pad1 = Tensor(np.full((N, 1), _LOG_ZERO, dt))
    pad2 = Tensor(np.full((N, 2), _LOG_ZERO, dt))
    for t in range(1, T):
        a1 = _F().concatenate([pad1, alpha[:, :-1]], 1)
        a2 = _F().concatenate([pad2, alpha[:, :-2]], 1) + skip_add if L > 1 else a1
        new = _F().stack([alpha, a1, a2], 0).logsumexp(0) + em[t]
        running = (t < in_len)[:, None]  # (N, 1): sequences that have ended keep their alpha
        alpha = new if running.all() else _where(running, new, alpha)

    # the last frame ends on the last label or on the final blank (only the blank when S = 0)
    last = np.stack([2 * tg_len, np.maximum(2 * tg_len - 1, 0)], 1)  # (N, 2)
    ends = alpha.gather(1, last) + Tensor(np.where(tg_len[:, None] > 0, [[0.0, 0.0]], [[0.0, _LOG_ZERO]]).astype(dt))
    loss = -ends.logsumexp(1)  # (N,)
    # torch's CTC backward returns the gradient at log_probs with the softmax term folded in,
    # exp(log_probs) over each sequence's frames, so that it is the logits' gradient once it goes
    # back through log_softmax. Adding s - s, s = that sum, gives torch's gradient at log_probs
    # (and the same one at the logits) and changes no value.
    frames = Tensor((np.arange(T)[:, None] < in_len[None, :]).astype(dt)[:, :, None])  # (T, N, 1)
    folded = (log_probs.exp() * frames).sum((0, 2))  # (N,)
    loss = loss + (folded - folded.detach())

    # aligning needs one frame per label and one blank between equal neighbours
    repeats = ((tgt[:, 1:] == tgt[:, :-1]) & valid[:, 1:]).sum(1) if S > 1 else np.zeros(N, np.int64)
    feasible = (in_len >= tg_len + repeats) & (in_len > 0)
    if not feasible.all():
        loss = _where(feasible, loss, 0.0 if zero_infinity else np.inf)
    if reduction == "none":
        return loss[0] if unbatched else loss
    if reduction == "sum":
        return loss.sum()
    return (loss / Tensor(np.maximum(tg_len, 1).astype(dt))).mean()


def _F():  # noqa: N802 - engine.functional imports this module at its end, so import it late
    import engine.functional

    return engine.functional


def _where(cond: np.ndarray, a, b) -> Tensor:
    return _F().where(Tensor(np.asarray(cond)), a, b)
