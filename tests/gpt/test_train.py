"""The training loop: its pieces (setup, train_step, evaluate, fit), exact resume (with dropout,
after Ctrl-C), resume rules, atomic and checked checkpoints, divergence handling, logs, the
loss read once per log interval, the time budget and configuration checks. The command lines
in subprocesses are tests/gpt/test_cli.py."""

import json
import signal
from pathlib import Path

import numpy as np
import pytest

import engine
import nn
from tinygrad_gpt import cli
from tinygrad_gpt import train as T
from tinygrad_gpt.checkpoint import load_checkpoint, save_checkpoint
from tinygrad_gpt.model import GPT

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 30
MODEL = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Prepared data goes to tmp_path, and the 1024³ matmul that measures peak FLOP/s is skipped."""
    monkeypatch.setenv("TINYGRAD_GPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(T, "measure_matmul_peak", lambda *a, **k: 1e10)


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "input.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def config(corpus: Path, out_dir: Path, **overrides) -> T.TrainConfig:
    # warmup and decay are set explicitly so that the schedule does not depend on max_iters
    # (by default it decays over max_iters, so a run extended on resume would change course).
    kw = dict(data=str(corpus), out_dir=str(out_dir), batch_size=4, max_iters=12, eval_interval=4, eval_iters=2,
              lr=3e-3, warmup_iters=2, lr_decay_iters=12, progress=False, plot=False, sample_tokens=0,
              model=dict(MODEL))
    kw.update(overrides)
    return T.TrainConfig(**kw)


def log_rows(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]


def losses(out_dir: Path) -> list[tuple[int, float]]:
    return [(r["iter"], r["loss"]) for r in log_rows(out_dir) if "loss" in r]


def evals(out_dir: Path) -> dict[int, tuple[float, float]]:
    return {r["iter"]: (r["train_loss"], r["val_loss"]) for r in log_rows(out_dir) if "val_loss" in r}


def assert_same_weights(a: Path, b: Path) -> None:
    sa, oa, ia = load_checkpoint(a)
    sb, ob, ib = load_checkpoint(b)
    assert ia["iter"] == ib["iter"]
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    for i in oa["state"]:
        for k, v in oa["state"][i].items():
            np.testing.assert_array_equal(v, ob["state"][i][k], err_msg=f"optimizer {i} {k}")


def no_temp_files(out_dir: Path) -> bool:
    return not [p.name for p in out_dir.iterdir() if p.name.endswith(".tmp")]


# ---- exact resume -----------------------------------------------------------------------------
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_resumed_run_repeats_the_uninterrupted_one_exactly(corpus, tmp_path, dropout):
    model = {**MODEL, "dropout": dropout}
    a, b = tmp_path / "a", tmp_path / "b"
    result = T.fit(config(corpus, a, model=model))
    assert result["iters"] == 12
    T.fit(config(corpus, b, model=model, max_iters=8))
    assert load_checkpoint(b / "ckpt.safetensors")[2]["iter"] == 8
    T.fit(config(corpus, b, model=model, max_iters=12, resume=True))
    assert [i for i, _ in losses(a)] == list(range(12))
    assert losses(b) == losses(a)  # exact, iteration by iteration
    assert evals(b) == evals(a)
    assert_same_weights(a / "ckpt.safetensors", b / "ckpt.safetensors")


def test_dropout_changes_the_losses(corpus, tmp_path):
    # Guards the test above: with dropout the loss sequence depends on the restored RNG stream.
    T.fit(config(corpus, tmp_path / "a", max_iters=4))
    T.fit(config(corpus, tmp_path / "b", max_iters=4, model={**MODEL, "dropout": 0.2}))
    assert losses(tmp_path / "a")[1:] != losses(tmp_path / "b")[1:]


def test_resume_keeps_the_checkpoints_identity(corpus, tmp_path):
    out = tmp_path / "out"
    T.fit(config(corpus, out, max_iters=4))
    # The same settings, or only the run's length changed: fine; the identity comes from the checkpoint.
    T.fit(T.TrainConfig(out_dir=str(out), resume=True, max_iters=6, progress=False, plot=False, sample_tokens=0))
    _, _, info = load_checkpoint(out / "ckpt.safetensors")
    assert info["iter"] == 6
    assert info["model_config"]["n_layer"] == 1
    assert info["train_config"]["lr"] == 3e-3 and info["train_config"]["batch_size"] == 4
    assert info["train_config"]["max_iters"] == 6 and info["train_config"]["lr_decay_iters"] == 12


@pytest.mark.parametrize("change, message", [
    (dict(model={**MODEL, "n_layer": 3}), r"--n_layer 3 differs from the checkpoint's model \(n_layer 1"),
    (dict(lr=1.0), r"--lr 1.0 differs from the checkpoint's 0.003"),
    (dict(seed=99), r"--seed 99 differs from the checkpoint's 1337"),
    (dict(preset="gpt2"), r"--preset gpt2 differs from the checkpoint's baby"),
])
def test_resume_refuses_a_changed_model_or_run_identity(corpus, tmp_path, change, message):
    out = tmp_path / "out"
    T.fit(config(corpus, out, max_iters=2))
    with pytest.raises(ValueError, match=message):
        T.fit(config(corpus, out, max_iters=4, resume=True, **change))
    assert load_checkpoint(out / "ckpt.safetensors")[2]["iter"] == 2  # untouched


def test_resume_past_the_schedules_horizon_stays_at_min_lr(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    kw = dict(lr_decay_iters=None, warmup_iters=1, min_lr=2e-4)
    T.fit(config(corpus, out, max_iters=5, **kw))  # the horizon is this run's max_iters, 5
    capsys.readouterr()
    T.fit(config(corpus, out, max_iters=8, resume=True, **kw))
    assert "the LR stays at min_lr 0.0002 up to 8 (give --lr_decay_iters" in capsys.readouterr().out
    lrs = {r["iter"]: r["lr"] for r in log_rows(out) if "lr" in r}
    schedule = nn.optim.CosineWithWarmup(None, 3e-3, 2e-4, 1, 5)
    assert [lrs[i] for i in range(5)] == [schedule.lr_at(i) for i in range(5)]
    assert [lrs[i] for i in range(5, 8)] == [2e-4] * 3  # not a new cosine over 8 steps
    # --lr_decay_iters given on resume stretches the cosine to it, and says so.
    T.fit(config(corpus, out, max_iters=10, resume=True, **{**kw, "lr_decay_iters": 20}))
    assert "the LR schedule now decays to min_lr at iteration 20 (it did at 5)" in capsys.readouterr().out
    lrs = {r["iter"]: r["lr"] for r in log_rows(out) if "lr" in r}
    stretched = nn.optim.CosineWithWarmup(None, 3e-3, 2e-4, 1, 20)
    assert [lrs[i] for i in (8, 9)] == [stretched.lr_at(8), stretched.lr_at(9)]


def _interrupt_after(monkeypatch, n_steps: int) -> None:
    """Deliver SIGINT to this process right after the n-th optimizer step, as Ctrl-C would."""
    make = GPT.optimizer

    def optimizer(self, *args, **kwargs):
        opt = make(self, *args, **kwargs)
        step, calls = opt.step, [0]

        def interrupting_step():
            step()
            calls[0] += 1
            if calls[0] == n_steps:
                signal.raise_signal(signal.SIGINT)

        opt.step = interrupting_step
        return opt

    monkeypatch.setattr(GPT, "optimizer", optimizer)


@pytest.mark.parametrize("stop_at", [6, 8])  # between evals, and on an eval iteration
def test_ctrl_c_checkpoints_and_resume_continues_exactly(corpus, tmp_path, monkeypatch, capsys, stop_at):
    a, b = tmp_path / "a", tmp_path / "b"
    model = {**MODEL, "dropout": 0.1}
    T.fit(config(corpus, a, model=model))
    capsys.readouterr()
    with monkeypatch.context() as m:
        _interrupt_after(m, stop_at)
        result = T.fit(config(corpus, b, model=model))
    assert result["iters"] == stop_at and result["stopped"] == "interrupt"
    text = capsys.readouterr().out
    assert f"interrupted at iteration {stop_at}; checkpoint written to {b / 'ckpt.safetensors'}" in text
    assert "done:" not in text and "final" not in text  # no final figures for a run that did not finish
    assert f"last eval (iteration {stop_at - stop_at % 4}): train loss" in text
    assert result["eval_iter"] == stop_at - stop_at % 4
    assert load_checkpoint(b / "ckpt.safetensors")[2]["iter"] == stop_at
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back
    T.fit(config(corpus, b, model=model, resume=True))
    assert losses(b) == losses(a)
    assert_same_weights(a / "ckpt.safetensors", b / "ckpt.safetensors")


# ---- checkpoints ------------------------------------------------------------------------------------
def test_checkpoint_holds_everything_to_resume(corpus, tmp_path):
    out = tmp_path / "out"
    T.fit(config(corpus, out, max_iters=5))
    assert sorted(p.name for p in out.iterdir()) == ["best.safetensors", "ckpt.safetensors", "log.jsonl"]
    sd, optim, info = load_checkpoint(out / "ckpt.safetensors")
    assert info["iter"] == 5
    assert set(info) >= {"best_val", "train_config", "model_config", "tokenizer", "loader", "engine_rng"}
    assert info["tokenizer"]["name"] == "char" and info["tokenizer"]["chars"] == "".join(sorted(set(TEXT)))
    model = GPT(T.GPTConfig(**info["model_config"]))
    assert sd.keys() == model.state_dict().keys()
    assert all(s["step"] == 5 for s in optim["state"].values())
    best = load_checkpoint(out / "best.safetensors")[2]
    val = {i: v for i, (_, v) in evals(out).items()}
    assert sorted(val) == [0, 4, 5]
    assert best["best_val"] == min(val.values()) == val[best["iter"]]


def test_save_and_load_checkpoint_round_trip(tmp_path):
    model = GPT(T.GPTConfig(vocab_size=7, block_size=4, n_layer=1, n_head=1, n_embd=4), seed=0)
    opt = model.optimizer(lr=0.1, weight_decay=0.1)
    _, loss = model(np.zeros((1, 4), dtype=np.int64), np.ones((1, 4), dtype=np.int64))
    loss.backward()
    opt.step()
    info = {"iter": 3, "note": "é", "nested": {"a": [1, 2]}}
    save_checkpoint(tmp_path / "c.safetensors", model, opt, info)
    sd, optim, got = load_checkpoint(tmp_path / "c.safetensors")
    assert got == info
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(sd[k], v)
    fresh = GPT(model.config, seed=1)
    fresh_opt = fresh.optimizer(lr=0.5, weight_decay=0.0)
    fresh.load_state_dict(sd)
    fresh_opt.load_state_dict(optim)
    assert fresh_opt.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    mine, theirs = opt.state_dict()["state"], fresh_opt.state_dict()["state"]
    assert mine.keys() == theirs.keys()
    for i in mine:
        assert mine[i]["step"] == theirs[i]["step"] == 1
        np.testing.assert_array_equal(mine[i]["exp_avg_sq"], theirs[i]["exp_avg_sq"])


def test_a_failed_checkpoint_write_leaves_the_previous_one_whole(corpus, tmp_path, monkeypatch):
    import safetensors.numpy

    out = tmp_path / "out"
    real, calls = safetensors.numpy.save_file, [0]

    def failing_save_file(arrays, path, metadata=None):
        calls[0] += 1
        if calls[0] == 1:
            return real(arrays, path, metadata=metadata)
        Path(path).write_bytes(b"half a checkpoint")  # the disk fills up mid-write
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.numpy, "save_file", failing_save_file)
    with pytest.raises(OSError, match="No space left"):
        T.fit(config(corpus, out))
    assert calls[0] == 2  # iteration 0 saved, iteration 4 failed
    assert no_temp_files(out)
    _, _, info = load_checkpoint(out / "ckpt.safetensors")
    assert info["iter"] == 0


def _flip_byte(path: Path, offset_from_end: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_corrupted_checkpoint_raises_a_clear_error_on_resume(corpus, tmp_path, damage):
    out = tmp_path / "out"
    T.fit(config(corpus, out, max_iters=4))
    ckpt = out / "ckpt.safetensors"
    if damage == "flip":
        _flip_byte(ckpt, 100)  # inside the tensor bytes
    elif damage == "truncate":
        ckpt.write_bytes(ckpt.read_bytes()[:-200])
    else:
        ckpt.write_bytes(b"")
    with pytest.raises(ValueError, match=r"ckpt\.safetensors.*(corrupted|truncated)"):
        T.fit(config(corpus, out, max_iters=8, resume=True))
    # The command line turns it into one line and exit status 2.
    assert cli.train_main(["--out_dir", str(out), "--resume", "--no-progress"]) == 2


def test_resume_of_a_file_that_is_not_a_training_checkpoint(corpus, tmp_path):
    out = tmp_path / "out"
    nn.save({"w": np.zeros(2, dtype=np.float32)}, out / "ckpt.safetensors")
    with pytest.raises(ValueError, match="not a tinygrad_gpt training checkpoint"):
        T.fit(config(corpus, out, resume=True))


def test_resume_without_a_checkpoint(corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*ckpt\.safetensors"):
        T.fit(config(corpus, tmp_path / "empty", resume=True))


# ---- divergence -------------------------------------------------------------------------------------
def _nan_loss_after(monkeypatch, n_calls: int) -> None:
    """Training forward passes (not evals) after the n-th return a NaN loss."""
    forward, calls = GPT.forward, [0]

    def nan_forward(self, idx, targets=None):
        logits, loss = forward(self, idx, targets)
        if self.training:
            calls[0] += 1
            if calls[0] > n_calls:
                loss = loss * float("nan")
        return logits, loss

    monkeypatch.setattr(GPT, "forward", nan_forward)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(corpus, tmp_path, monkeypatch):
    out = tmp_path / "out"
    _nan_loss_after(monkeypatch, 6)
    with pytest.raises(T.TrainingDiverged, match=r"loss is nan at iteration 6.*last good checkpoint is .*ckpt"):
        T.fit(config(corpus, out))
    _, _, info = load_checkpoint(out / "ckpt.safetensors")
    assert info["iter"] == 4
    assert [i for i, _ in losses(out)] == list(range(6))  # the NaN step is not logged as a loss
    assert no_temp_files(out)
    # The checkpoint it kept resumes.
    monkeypatch.undo()
    monkeypatch.setenv("TINYGRAD_GPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(T, "measure_matmul_peak", lambda *a, **k: 1e10)
    assert T.fit(config(corpus, out, resume=True))["iters"] == 12


def test_non_finite_loss_exits_1_from_the_command_line(corpus, tmp_path, monkeypatch, capsys):
    _nan_loss_after(monkeypatch, 2)
    argv = ["--data", str(corpus), "--out_dir", str(tmp_path / "out"), "--max_iters", "5", "--eval_iters", "1",
            "--n_layer", "1", "--n_embd", "16", "--n_head", "2", "--block_size", "16", "--batch_size", "2",
            "--no-progress", "--no-plot", "--sample_tokens", "0"]
    assert cli.train_main(argv) == 1
    assert "error: training diverged: loss is nan at iteration 2" in capsys.readouterr().out


# ---- logs, plot, sample -----------------------------------------------------------------------------
def test_log_plot_and_sample(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    result = T.fit(config(corpus, out, max_iters=6, plot=True, sample_tokens=30))
    rows = log_rows(out)
    steps = [r for r in rows if "loss" in r]
    assert [r["iter"] for r in steps] == list(range(6))
    for r in steps:
        assert set(r) == {"iter", "loss", "lr", "ms", "tokens_per_s", "mfu"}
        assert np.isfinite(r["loss"]) and r["ms"] > 0 and r["tokens_per_s"] > 0 and r["mfu"] > 0
    # warmup_iters=2, cosine to step 12: the learning rates the schedule gives
    expected_lr = [nn.optim.CosineWithWarmup(None, 3e-3, 1e-4, 2, 12).lr_at(i) for i in range(6)]
    assert [r["lr"] for r in steps] == expected_lr
    assert sorted(evals(out)) == [0, 4, 6]
    assert result["iters"] == 6 and result["val_loss"] == evals(out)[6][1]
    assert result["best_val_loss"] == min(v for _, v in evals(out).values())
    assert Path(result["plot"]) == out / "loss.png" and (out / "loss.png").stat().st_size > 0
    text = capsys.readouterr().out
    sample = text.split("---- sample ----\n")[1].split("\n----------------")[0]
    assert len(sample) == 30 and set(sample) <= set(TEXT)


def test_final_sample_when_the_corpus_has_no_newline(tmp_path):
    path = tmp_path / "one_line.txt"
    path.write_text("abcdefghij" * 60, encoding="utf-8")  # no "\n" in the char vocabulary
    result = T.fit(config(path, tmp_path / "out", max_iters=2, sample_tokens=5))
    assert result["iters"] == 2


def test_training_lowers_the_loss(corpus, tmp_path):
    out = tmp_path / "out"
    T.fit(config(corpus, out, max_iters=60, eval_interval=60, lr=1e-2, warmup_iters=5, lr_decay_iters=60))
    e = evals(out)
    assert e[60][0] < e[0][0] - 1.0  # from about log(vocab) = 3.1


def test_grad_accum_averages(corpus, tmp_path, monkeypatch):
    # One batch of 4 equals two accumulated batches of 2 drawn from the same stream. Compared by
    # gradient norm, as AdamW's steps would hide a gradient scaled by a constant.
    norms = []
    clip = nn.optim.clip_grad_norm_

    def recording_clip(params, max_norm):
        norms.append(clip(params, max_norm))
        return norms[-1]

    monkeypatch.setattr(nn.optim, "clip_grad_norm_", recording_clip)
    T.fit(config(corpus, tmp_path / "a", max_iters=3, batch_size=4, grad_clip=1e9))
    T.fit(config(corpus, tmp_path / "b", max_iters=3, batch_size=2, grad_accum=2, grad_clip=1e9))
    assert len(norms) == 6
    np.testing.assert_allclose(norms[3:], norms[:3], rtol=1e-5)
    la, lb = losses(tmp_path / "a"), losses(tmp_path / "b")
    np.testing.assert_allclose([x for _, x in la], [x for _, x in lb], rtol=1e-5)


# ---- configuration ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, match", [
    (dict(preset="gpt5"), "unknown preset 'gpt5'"),
    (dict(tokenizer="bpe"), "tokenizer must be"),
    (dict(dtype="int8"), "dtype must be"),
    (dict(batch_size=0), "batch_size must be >= 1"),
    (dict(grad_accum=0), "grad_accum must be >= 1"),
    (dict(eval_interval=0), "eval_interval must be >= 1"),
    (dict(max_iters=-1), "max_iters must be >= 0"),
])
def test_bad_train_config_is_named(kw, match):
    with pytest.raises(ValueError, match=match):
        T.TrainConfig(**kw)


def test_bad_model_override_is_named(corpus, tmp_path):
    with pytest.raises(ValueError, match=r"n_embd 16 is not divisible by n_head 3"):
        T.fit(config(corpus, tmp_path / "out", model={**MODEL, "n_head": 3}))
    with pytest.raises(ValueError, match=r"vocab_size 5 is smaller than the tokenizer's 23"):
        T.fit(config(corpus, tmp_path / "out", model={**MODEL, "vocab_size": 5}))


def test_block_size_longer_than_the_validation_split(corpus, tmp_path):
    with pytest.raises(ValueError, match="block_size"):
        T.fit(config(corpus, tmp_path / "out", model={**MODEL, "block_size": 512}))


def test_dtype_is_used(corpus, tmp_path):
    out = tmp_path / "out"
    T.fit(config(corpus, out, max_iters=2, dtype="float64"))
    sd, optim, _ = load_checkpoint(out / "ckpt.safetensors")
    assert all(v.dtype == np.float64 for v in sd.values())
    assert all(s["exp_avg"].dtype == np.float64 for s in optim["state"].values())
    with pytest.raises(ValueError, match="dtype must be"):
        T.TrainConfig(dtype="bfloat16")


def test_float16_is_mixed_precision_with_float32_master_weights(corpus, tmp_path):
    out = tmp_path / "out"
    result = T.fit(config(corpus, out, max_iters=3, dtype="float16"))
    sd, optim, info = load_checkpoint(out / "ckpt.safetensors")
    assert all(v.dtype == np.float32 for v in sd.values())
    assert all(s["exp_avg"].dtype == np.float32 for s in optim["state"].values())
    assert info["scaler"]["scale"] > 0 and np.isfinite(result["val_loss"])
    # float16 matmuls track the float32 run closely at this size.
    ref = T.fit(config(corpus, tmp_path / "ref", max_iters=3))
    assert abs(result["val_loss"] - ref["val_loss"]) < 0.05


def test_final_sample_with_a_model_vocabulary_padded_past_the_tokenizers(corpus, tmp_path):
    # vocab_size may exceed the tokenizer's (padding to a multiple of 64 is common); the ids the
    # tokenizer does not have must not be sampled, or decoding them fails after training.
    result = T.fit(config(corpus, tmp_path / "out", max_iters=2, sample_tokens=200,
                            model={**MODEL, "vocab_size": 64}))
    assert result["iters"] == 2


# ---- the pieces, and the loss read once per log interval ----------------------------------------
def test_a_loop_of_the_pieces_repeats_fit(corpus, tmp_path):
    # setup + schedule + train_step + evaluate, as a user's own loop: the same losses as fit.
    a = tmp_path / "a"
    T.fit(config(corpus, a, max_iters=6, eval_interval=6))
    run = T.setup(config(corpus, tmp_path / "b", max_iters=6, eval_interval=6))
    mine = []
    for it in range(6):
        run.schedule.step(it)
        mine.append(T.train_step(run.model, run.optimizer, run.loader, grad_clip=run.cfg.grad_clip).item())
    assert [(i, v) for i, v in enumerate(mine)] == losses(a)
    got = T.evaluate(run.model, run.data, block_size=16, batch_size=4, iters=2, seed=run.cfg.seed + 1)
    assert (got["train"], got["val"]) == evals(a)[6]
    assert run.model.training  # evaluate puts the mode back


def test_train_step_does_not_read_the_loss(corpus, tmp_path, monkeypatch):
    run = T.setup(config(corpus, tmp_path / "out", grad_accum=3))

    def no_read(self):
        raise AssertionError("train_step read a value back from the device")

    for name in ("item", "numpy", "tolist", "__float__"):
        monkeypatch.setattr(engine.Tensor, name, no_read)
    loss = T.train_step(run.model, run.optimizer, run.loader, grad_accum=3)
    monkeypatch.undo()
    assert isinstance(loss, engine.Tensor) and loss.shape == () and not loss.requires_grad
    assert 2.0 < loss.item() < 4.0


def test_the_loss_is_read_once_per_log_interval(corpus, tmp_path, monkeypatch):
    # Record how many optimizer steps were done whenever a loss is read back: after the first step,
    # every log_interval steps, and at the evals (iterations 0 and 25), never in between.
    steps, reads = [0], []
    make = GPT.optimizer

    def counting_optimizer(self, *args, **kwargs):
        opt = make(self, *args, **kwargs)
        step = opt.step

        def counted():
            step()
            steps[0] += 1

        opt.step = counted
        return opt

    item = engine.Tensor.item

    def recorded_item(self):
        reads.append(steps[0])
        return item(self)

    monkeypatch.setattr(GPT, "optimizer", counting_optimizer)
    monkeypatch.setattr(engine.Tensor, "item", recorded_item)
    T.fit(config(corpus, tmp_path / "out", max_iters=25, eval_interval=1000, log_interval=10))
    assert sorted(set(reads)) == [0, 1, 10, 20, 25]
    assert [i for i, _ in losses(tmp_path / "out")] == list(range(25))  # every step still logged


def test_non_finite_loss_is_caught_within_a_log_interval_before_a_checkpoint(corpus, tmp_path, monkeypatch):
    out = tmp_path / "out"
    _nan_loss_after(monkeypatch, 4)
    with pytest.raises(T.TrainingDiverged, match=r"loss is nan at iteration 4"):
        T.fit(config(corpus, out, max_iters=20, eval_interval=1000, log_interval=3))
    assert [i for i, _ in losses(out)] == [0, 1, 2, 3]  # read at steps 1, 3 and 6: iteration 4 is caught at 6
    assert load_checkpoint(out / "ckpt.safetensors")[2]["iter"] == 0


def test_max_time_stops_with_a_final_eval_and_a_checkpoint(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    result = T.fit(config(corpus, out, max_iters=10**6, eval_interval=10**6, max_time="0.5s"))
    n = result["iters"]
    assert result["stopped"] == "max_time" and 1 <= n < 10**6
    assert sorted(evals(out)) == [0, n] and result["eval_iter"] == n
    assert load_checkpoint(out / "ckpt.safetensors")[2]["iter"] == n
    assert f"stopped at iteration {n} on the time budget of 0.5 s" in capsys.readouterr().out


@pytest.mark.parametrize("text, seconds", [("90", 90.0), ("90s", 90.0), ("2m", 120.0), ("1.5h", 5400.0),
                                           ("1h30m", 5400.0), ("1m30s", 90.0), (".5s", 0.5)])
def test_parse_duration(text, seconds):
    assert T.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "2x", "1m1m", "5 m", "1s2m3", "-1"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError, match="expected a duration"):
        T.parse_duration(text)


@pytest.mark.parametrize("target", ["folder", "file"])
def test_resume_from_a_checkpoint_path_continues_beside_it(corpus, tmp_path, target):
    out = tmp_path / "run"
    T.fit(config(corpus, out, max_iters=2))
    path = out if target == "folder" else out / "ckpt.safetensors"
    assert T.resume_path(T.TrainConfig(resume=str(path))) == out / "ckpt.safetensors"
    result = T.fit(T.TrainConfig(resume=str(path), max_iters=4, progress=False, plot=False, sample_tokens=0))
    assert result["iters"] == 4 and result["checkpoint"] == str(out / "ckpt.safetensors")
    assert load_checkpoint(out / "ckpt.safetensors")[2]["iter"] == 4
    assert [i for i, _ in losses(out)] == [0, 1, 2, 3]
