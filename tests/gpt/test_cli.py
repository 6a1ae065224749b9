"""The command lines, run as users run them (subprocesses of examples/*.py and of
``python -m tinygrad_gpt.cli``, which the ``tinygrad-gpt`` console script calls): flags and
--help, --config, Ctrl-C, resume, --max_time, errors and missing extras; and sampling."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import engine
from tinygrad_gpt import cli
from tinygrad_gpt import train as T
from tinygrad_gpt.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "examples" / "train_gpt.py"
SAMPLE = ROOT / "examples" / "sample.py"
CLI = ["-m", "tinygrad_gpt.cli"]
TEXT = "ROMEO:\nBut, soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n" * 20
TINY_FLAGS = ["--n_layer", "1", "--n_head", "2", "--n_embd", "16", "--block_size", "16", "--batch_size", "4",
              "--eval_iters", "1", "--no-progress", "--no-plot", "--sample_tokens", "0"]



@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The environment of every subprocess: prepared data in a temporary cache, not ~/.cache."""
    return {**os.environ, "TINYGRAD_GPT_CACHE": str(tmp_path_factory.mktemp("cache")),
            "WORKDIR": str(tmp_path_factory.mktemp("cwd")), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "input.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus, env) -> Path:
    """A training output folder from a short in-process run."""
    out = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as m:
        m.setenv("TINYGRAD_GPT_CACHE", env["TINYGRAD_GPT_CACHE"])
        m.setattr(T, "measure_matmul_peak", lambda *a, **k: 1e10)
        T.fit(T.TrainConfig(data=str(corpus), out_dir=str(out), max_iters=30, eval_interval=15, eval_iters=1,
                              batch_size=8, lr=1e-2, warmup_iters=3, progress=False, plot=False, sample_tokens=0,
                              model={"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 32}))
    return out


def run(script: Path | list[str], args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    # From an empty folder, so a run that ignores --out_dir cannot write into the repository.
    program = script if isinstance(script, list) else [str(script)]
    return subprocess.run([sys.executable, *program, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=env["WORKDIR"])


# ---- train_gpt.py -----------------------------------------------------------------------------------
def test_train_cli_runs_and_writes_its_outputs(corpus, env, tmp_path):
    out = tmp_path / "out"
    args = ["--data", str(corpus), "--out_dir", str(out), "--max_iters", "3", "--eval_interval", "2",
            *TINY_FLAGS[:-4], "--progress", "--plot", "--sample_tokens", "20"]
    r = run(TRAIN, args, env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "iter 3: train loss" in r.stdout and "---- sample ----" in r.stdout and "done: 3 iterations" in r.stdout
    assert "train: 100%" in r.stderr  # the progress bar
    assert sorted(p.name for p in out.iterdir()) == ["best.safetensors", "ckpt.safetensors", "log.jsonl", "loss.png"]
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in rows if "loss" in r] == [0, 1, 2]
    assert [r["iter"] for r in rows if "val_loss" in r] == [0, 2, 3]
    _, _, info = load_checkpoint(out / "ckpt.safetensors")
    assert info["iter"] == 3 and info["model_config"]["n_embd"] == 16 and info["train_config"]["batch_size"] == 4


def test_config_file_with_flags_overriding_it(corpus, env, tmp_path):
    out = tmp_path / "out"
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"data": str(corpus), "out_dir": str(out), "max_iters": 5, "lr": 0.01,
                               "n_layer": 2, "n_head": 2, "n_embd": 16, "block_size": 16, "bias": False,
                               "eval_iters": 1, "progress": False, "plot": False, "sample_tokens": 0}))
    r = run(TRAIN, ["--config", str(cfg), "--max_iters", "2", "--n_embd", "8"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    _, _, info = load_checkpoint(out / "ckpt.safetensors")
    assert info["iter"] == 2
    assert info["train_config"]["lr"] == 0.01 and info["train_config"]["max_iters"] == 2
    m = info["model_config"]
    assert (m["n_layer"], m["n_embd"], m["bias"], m["block_size"]) == (2, 8, False, 16)


def test_unknown_flag_exits_2_naming_it(env):
    r = run(TRAIN, ["--max_iters", "3", "--bogus", "1"], env)
    assert r.returncode == 2
    assert "unrecognized arguments: --bogus 1" in r.stderr


@pytest.mark.parametrize("typo", ["--max_iter", "--n_lay", "--lr_decay"])
def test_a_prefix_of_a_flag_is_not_that_flag(typo, capsys):
    # argparse would otherwise take --max_iter for --max_iters, and a mistyped flag would run.
    with pytest.raises(SystemExit) as e:
        cli.parse_train_args([typo, "3"])
    assert e.value.code == 2
    assert f"unrecognized arguments: {typo} 3" in capsys.readouterr().err


def test_gpu_without_cupy_says_how_to_install(corpus, env, tmp_path):
    if engine.gpu_available():
        pytest.skip("a GPU and CuPy are present")
    r = run(TRAIN, ["--data", str(corpus), "--out_dir", str(tmp_path / "out"), "--device", "gpu", *TINY_FLAGS], env)
    assert r.returncode != 0
    assert "pip install -e \".[gpu]\"" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def test_missing_data_path_is_a_clear_error(env, tmp_path):
    missing = tmp_path / "no_such_file.txt"
    r = run(TRAIN, ["--data", str(missing), "--out_dir", str(tmp_path / "out"), *TINY_FLAGS], env)
    assert r.returncode == 2
    assert f"error: data path {missing} does not exist" in r.stdout
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("argv, message", [
    (["--max_iters", "abc"], "argument --max_iters: invalid int value: 'abc'"),
    (["--progress", "maybe"], "--progress takes no value (use --progress or --no-progress), got 'maybe'"),
    (["--bias=maybe"], "--bias takes no value (use --bias or --no-bias), got 'maybe'"),
    (["--preset", "gpt5"], "argument --preset: invalid choice: 'gpt5'"),
    (["--tokenizer", "bpe"], "argument --tokenizer: invalid choice: 'bpe'"),
    (["--batch_size", "0"], "batch_size must be >= 1"),
    (["--log_interval", "0"], "log_interval must be >= 1"),
    (["--max_time", "soon"], "argument --max_time: expected a duration such as 90, 90s, 2m"),
    (["--config", "/no/such/run.json"], "--config file /no/such/run.json not found"),
])
def test_bad_flags_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli.parse_train_args(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_config_files(tmp_path, capsys):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{max_iters: 3")
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"max_iters": 3, "learning_rate": 0.1}))
    for path, message in [(bad_json, "is not valid JSON"), (unknown, "unknown field 'learning_rate' in --config")]:
        with pytest.raises(SystemExit) as e:
            cli.parse_train_args(["--config", str(path)])
        assert e.value.code == 2
        assert message in capsys.readouterr().err


def test_flag_values_take_the_fields_types():
    cfg = cli.parse_train_args(["--max_iters=7", "--lr", "3e-4", "--no-progress", "--lr_decay_iters", "50",
                                "--dropout", "0.1", "--no-bias", "--pos_encoding", "sinusoidal", "--n_layer", "2",
                                "--data", "corpus.txt", "--grad_clip", "0", "--max_time", "2m"])
    assert (cfg.max_iters, cfg.lr, cfg.progress, cfg.lr_decay_iters, cfg.data) == (7, 3e-4, False, 50, "corpus.txt")
    assert cfg.model == {"dropout": 0.1, "bias": False, "pos_encoding": "sinusoidal", "n_layer": 2}
    assert type(cfg.grad_clip) is float and cfg.max_time == 120.0
    assert cli.parse_train_args(["--lr_decay_iters", "none"]).lr_decay_iters is None
    assert cli.parse_train_args([]) == T.TrainConfig()


def test_booleans_are_bare_flags_with_no_forms():
    parse = cli.parse_train_args
    assert (parse(["--no-progress"]).progress, parse(["--progress"]).progress) == (False, True)
    assert (parse(["--no-tf32"]).tf32, parse(["--no-plot"]).plot) == (False, False)
    assert parse(["--no-bias"]).model == {"bias": False} and parse(["--bias"]).model == {"bias": True}
    assert parse(["--no-progress", "--progress"]).progress is True  # the last one wins, as argparse does
    # The older --flag true/false still works.
    assert parse(["--progress", "false", "--bias=0"]).progress is False
    # --resume: bare, a checkpoint path, or off.
    assert parse(["--resume"]).resume is True
    assert parse(["--resume", "out/ckpt.safetensors", "--max_iters", "5"]).resume == "out/ckpt.safetensors"
    assert parse(["--resume", "--max_iters", "5"]).resume is True
    assert parse(["--resume", "--no-resume"]).resume is False
    # What was given is recorded, for resume; defaults are not.
    assert parse(["--resume", "--max_iters", "5", "--no-plot"])._given == {"resume", "max_iters", "plot"}


def test_data_flag_is_a_path_even_when_it_looks_like_a_number(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.parse_train_args(["--data", "2024"]).data == "2024"
    assert cli.parse_train_args(["--data", "null.txt"]).data == "null.txt"


# ---- sample.py --------------------------------------------------------------------------------------
def sample_args(checkpoint, *extra) -> list[str]:
    return ["--checkpoint", str(checkpoint), "--num_samples", "2", "--max_new_tokens", "40", *extra]


def test_sample_cli_same_seed_same_samples(trained, env):
    args = sample_args(trained, "--prompt", "ROMEO:", "--temperature", "0.9", "--top_k", "10", "--top_p", "0.95",
                       "--seed", "3")
    a, b = run(SAMPLE, args, env), run(SAMPLE, args, env)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    samples = a.stdout.rstrip("\n").split("\n" + cli.SEPARATOR + "\n")
    assert len(samples) == 2
    for s in samples:
        assert s.startswith("ROMEO:") and len(s) == len("ROMEO:") + 40
        assert set(s) <= set(TEXT)


def test_sample_matches_the_model_in_the_checkpoint(trained):
    # Independently: rebuild the model from the checkpoint and decode greedily.
    from tinygrad_gpt.config import GPTConfig
    from tinygrad_gpt.model import GPT
    from tinygrad_gpt.tokenizer import CharTokenizer

    sd, _, info = load_checkpoint(trained / "ckpt.safetensors")
    model = GPT(GPTConfig(**info["model_config"]))
    model.load_state_dict(sd)
    tok = CharTokenizer(info["tokenizer"]["chars"])
    ids = model.generate(np.array([tok.encode("It is")]), 25, temperature=0)
    args = cli.parse_sample_args(sample_args(trained, "--prompt", "It is", "--temperature", "0", "--num_samples", "1",
                                            "--max_new_tokens", "25"))
    assert cli.sample(args) == [tok.decode(ids[0].tolist())]


def test_sample_seeds_and_checkpoint_paths(trained):
    def samples(*extra):
        return cli.sample(cli.parse_sample_args(sample_args(*extra)))

    a = samples(trained, "--seed", "1")
    assert samples(trained, "--seed", "1") == a
    assert samples(trained, "--seed", "2") != a
    assert samples(trained / "ckpt.safetensors", "--seed", "1") == a  # a file path works too
    best = samples(trained / "best.safetensors", "--seed", "1")
    assert len(best) == 2 and all(len(s) == 40 for s in best)  # no prompt: a newline start, not shown
    assert samples(trained, "--temperature", "0", "--seed", "1") == samples(trained, "--temperature", "0",
                                                                          "--seed", "2")


def test_sample_falls_back_to_best_checkpoint(trained, tmp_path):
    only_best = tmp_path / "only_best"
    only_best.mkdir()
    (only_best / "best.safetensors").write_bytes((trained / "best.safetensors").read_bytes())
    assert cli.find_checkpoint(only_best) == only_best / "best.safetensors"
    assert cli.find_checkpoint(trained) == trained / "ckpt.safetensors"


def test_prompt_outside_the_char_vocabulary_is_a_clear_error(trained, env):
    r = run(SAMPLE, sample_args(trained, "--prompt", "ROMEO: Zounds!"), env)
    assert r.returncode == 2
    assert "character 'Z' (U+005A) is not in the char vocabulary" in r.stderr
    assert "--prompt" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("what", ["missing", "empty_dir", "not_a_checkpoint", "corrupted"])
def test_bad_checkpoints_are_clear_errors(trained, tmp_path, capsys, what):
    import nn

    path = tmp_path / what
    if what == "empty_dir":
        path.mkdir()
    elif what == "not_a_checkpoint":
        path = nn.save({"w": np.zeros(2, dtype=np.float32)}, tmp_path / "w.safetensors")
    elif what == "corrupted":
        raw = bytearray((trained / "ckpt.safetensors").read_bytes())
        raw[-50] ^= 0xFF
        path = tmp_path / "c.safetensors"
        path.write_bytes(bytes(raw))
    assert cli.sample_main(sample_args(path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(path) in err


@pytest.mark.parametrize("argv, message", [
    (["--num_samples", "0"], "--num_samples must be >= 1"),
    (["--max_new_tokens", "-1"], "--max_new_tokens must be >= 0"),
    (["--top_k", "x"], "invalid int value"),
    (["--temperature", "hot"], "invalid float value"),
])
def test_sample_bad_flags(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli.parse_sample_args(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_sample_bad_sampling_values_are_clear_errors(trained, capsys):
    assert cli.sample_main(sample_args(trained, "--top_p", "1.5")) == 2
    assert "top_p must be in (0, 1], got 1.5" in capsys.readouterr().err


def test_sample_of_a_float64_run(corpus, env, tmp_path):
    out = tmp_path / "out"
    r = run(TRAIN, ["--data", str(corpus), "--out_dir", str(out), "--max_iters", "2", "--dtype", "float64",
                    *TINY_FLAGS], env)
    assert r.returncode == 0, r.stdout + r.stderr
    model, tok, _ = cli.load(out)
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert len(cli.sample(cli.parse_sample_args(sample_args(out, "--prompt", "It")))) == 2


def test_sample_prompts_for_each_tokenizer():
    from tinygrad_gpt.tokenizer import ENDOFTEXT, CharTokenizer, GPT2Tokenizer

    gpt2 = GPT2Tokenizer()
    assert cli.encode_prompt(gpt2, "Hello world") == [15496, 995]
    assert cli.encode_prompt(gpt2, None) == [50256]
    assert cli.encode_prompt(gpt2, ENDOFTEXT + "Hello") == [50256, 15496]  # the special token is allowed
    chars = CharTokenizer("\nab")
    assert cli.encode_prompt(chars, "ba") == [2, 1]
    assert cli.encode_prompt(chars, None) == [0]
    assert cli.encode_prompt(CharTokenizer("ab"), None) == [0]
    with pytest.raises(ValueError, match=r"--prompt: character 'c'"):
        cli.encode_prompt(chars, "abc")


# ---- --help ---------------------------------------------------------------------------------------
def test_help_describes_every_flag_in_groups_and_lists_the_presets(env):
    r = run(CLI, ["train", "--help"], env)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "default: None" not in text
    for group in cli.GROUPS:
        assert f"\n{group}:\n" in text
    assert "gpt2: 124M params, 12 layers, 768 wide, context 1024" in text
    assert "baby: 0.8M params, 4 layers, 128 wide, context 64" in text
    parser = cli.train_parser()
    flags = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert len(flags) >= 38
    for action in flags:
        assert action.help and len(action.help) > 10, action.option_strings
        assert action.option_strings[0] in text
    for name, (_, _, _) in cli.TRAIN_FLAGS.items():
        action = next(a for a in flags if a.dest == name and a.option_strings[0] == f"--{name}")
        assert "(default: " in action.help, name
    # real defaults, read from the dataclasses
    assert "--max_iters MAX_ITERS         optimizer steps of the run (default: 2000)" in text
    assert "--log_interval LOG_INTERVAL   read the loss back and log it every this many steps (default: 10)" in text
    assert "--progress, --no-progress" in text and "--resume [CKPT]" in text
    # the resume rules, stated (the epilog is wrapped: compare without line breaks)
    flat = " ".join(text.split())
    assert "It keeps the checkpoint's model, optimizer state, data order and LR schedule" in flat
    assert "a larger --max_iters continues at the schedule's end value (min_lr), unless --lr_decay_iters" in flat
    assert "a changed model or optimizer flag is an error that names it" in flat


def test_tinygrad_gpt_commands(env, capsys):
    r = run(CLI, [], env)
    assert r.returncode == 2 and "{train,sample,prepare}" in r.stderr
    assert cli.main(["fly"]) == 2 and "unknown command 'fly'" in capsys.readouterr().err
    assert cli.main(["--help"]) == 0 and "sample    sample text" in capsys.readouterr().out


def test_console_script_is_declared_in_setup_cfg():
    import configparser  # not setuptools: a fresh venv of Python >= 3.12 has none

    setup_cfg = configparser.ConfigParser()
    setup_cfg.read(ROOT / "setup.cfg")
    scripts = setup_cfg["options.entry_points"]["console_scripts"].split()
    assert scripts == ["tinygrad-gpt", "=", "tinygrad_gpt.cli:main"]
    module, _, function = scripts[2].partition(":")
    assert getattr(__import__(module, fromlist=[function]), function) is cli.main


# ---- resume ---------------------------------------------------------------------------------------
def test_bare_resume_continues_at_min_lr_past_the_horizon_and_refuses_a_changed_model(corpus, env, tmp_path,
                                                                                          monkeypatch):
    out = tmp_path / "out"
    flags = ["--data", str(corpus), *TINY_FLAGS, "--warmup_iters", "1", "--min_lr", "2e-4", "--eval_interval", "2"]
    monkeypatch.setenv("TINYGRAD_GPT_CACHE", env["TINYGRAD_GPT_CACHE"])
    monkeypatch.setattr(T, "measure_matmul_peak", lambda *a, **k: 1e10)
    assert cli.train_main([*flags, "--out_dir", str(out), "--max_iters", "4"]) == 0
    # bare --resume (out_dir given) with a larger --max_iters: the schedule's horizon stays 4
    r = run(CLI, ["train", "--resume", "--out_dir", str(out), "--max_iters", "7"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"resumed from {out / 'ckpt.safetensors'} at iteration 4" in r.stdout
    assert "resume: the LR schedule ended at iteration 4; the LR stays at min_lr 0.0002 up to 7" in r.stdout
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    lrs = [row["lr"] for row in rows if "lr" in row]
    assert lrs[4:] == [2e-4] * 3 and lrs[3] > 2e-4
    # A changed model flag is refused, naming it, and the checkpoint is left alone.
    r = run(CLI, ["train", "--resume", str(out / "ckpt.safetensors"), "--n_embd", "32", "--max_iters", "9"], env)
    assert r.returncode == 2
    assert "error: --n_embd 32 differs from the checkpoint's model (n_embd 16" in r.stdout
    assert "Traceback" not in r.stderr
    assert load_checkpoint(out / "ckpt.safetensors")[2]["iter"] == 7


# ---- Ctrl-C -----------------------------------------------------------------------------------------
def _start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *CLI, "train", *args], env=env, cwd=env["WORKDIR"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(proc: subprocess.Popen, marker: str, timeout: float = 60) -> str:
    """The output up to the first line that starts with ``marker``."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(marker):
            return "".join(seen)
    proc.kill()
    raise AssertionError(f"no {marker!r} line:\n" + "".join(seen) + proc.communicate()[0])


def test_ctrl_c_checkpoints_exits_130_and_the_printed_command_resumes_exactly(corpus, env, tmp_path, monkeypatch):
    out = tmp_path / "out"
    flags = ["--data", str(corpus), *TINY_FLAGS, "--dropout", "0.1", "--eval_interval", "5", "--warmup_iters", "2",
             "--lr_decay_iters", "40", "--lr", "3e-3", "--log_interval", "1"]
    proc = _start([*flags, "--out_dir", str(out), "--max_iters", "100000"], env)
    try:
        _wait_for(proc, "training:")
        _wait_for(proc, "iter 2: loss")  # a few steps in
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, output
    assert "interrupt: finishing this step, then saving a checkpoint" in output
    stopped = int(output.split("interrupted at iteration ")[1].split(";")[0])
    assert stopped >= 3
    assert f"checkpoint written to {out / 'ckpt.safetensors'}" in output
    assert f"last eval (iteration {stopped - stopped % 5}): train loss" in output
    assert "done:" not in output and "final" not in output
    command = output.split("resume with: ")[1].splitlines()[0]
    assert command == f"python -m tinygrad_gpt.cli train --resume {out / 'ckpt.safetensors'}"
    assert load_checkpoint(out / "ckpt.safetensors")[2]["iter"] == stopped
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    # The printed command (plus a length) finishes the run ...
    r = run(CLI, [*command.split()[3:], "--max_iters", str(stopped + 3)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    # ... bit for bit as a run that was never interrupted.
    ref = tmp_path / "ref"
    monkeypatch.setenv("TINYGRAD_GPT_CACHE", env["TINYGRAD_GPT_CACHE"])
    monkeypatch.setattr(T, "measure_matmul_peak", lambda *a, **k: 1e10)
    T.fit(cli.parse_train_args([*flags, "--out_dir", str(ref), "--max_iters", str(stopped + 3)]))

    def losses(folder):
        return [(row["iter"], row["loss"]) for row in map(json.loads, (folder / "log.jsonl").read_text().splitlines())
                if "loss" in row]

    assert losses(out) == losses(ref) and len(losses(ref)) == stopped + 3
    sa, oa, _ = load_checkpoint(out / "ckpt.safetensors")
    sb, ob, _ = load_checkpoint(ref / "ckpt.safetensors")
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    for i in oa["state"]:
        np.testing.assert_array_equal(oa["state"][i]["exp_avg_sq"], ob["state"][i]["exp_avg_sq"])


def test_a_second_ctrl_c_aborts_with_130_and_leaves_the_checkpoint(corpus, env, tmp_path):
    out = tmp_path / "out"
    # Checkpoints at every 3rd iteration; the two signals land together, mid-step or mid-write.
    proc = _start(["--data", str(corpus), *TINY_FLAGS, "--out_dir", str(out), "--max_iters", "100000",
                   "--eval_interval", "3"], env)
    try:
        _wait_for(proc, "iter 3: train loss")
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, output
    assert "Traceback" not in output
    info = load_checkpoint(out / "ckpt.safetensors")[2]  # whole, whichever write came last
    assert info["iter"] >= 3
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    if "aborted" in output:
        assert f"the last checkpoint ({out / 'ckpt.safetensors'}) is left as it was" in output


# ---- --max_time --------------------------------------------------------------------------------------
def test_max_time_stops_on_time_with_an_eval_and_a_checkpoint(corpus, env, tmp_path):
    out = tmp_path / "out"
    t0 = time.monotonic()
    r = run(TRAIN, ["--data", str(corpus), *TINY_FLAGS, "--out_dir", str(out), "--max_iters", "1000000",
                    "--eval_interval", "1000000", "--max_time", "2s"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert time.monotonic() - t0 < 60
    n = int(r.stdout.split("stopped at iteration ")[1].split()[0])
    assert 1 <= n < 1000000 and "on the time budget of 2 s" in r.stdout
    assert f"iter {n}: train loss" in r.stdout and f"done: {n} iterations" in r.stdout
    assert load_checkpoint(out / "ckpt.safetensors")[2]["iter"] == n


# ---- --watch ----------------------------------------------------------------------------------------
def test_watch_records_every_n_steps_to_a_jsonl_and_a_png(corpus, env, tmp_path):
    out = tmp_path / "out"
    flags = [f for f in TINY_FLAGS if f != "--no-plot"]
    r = run(TRAIN, ["--data", str(corpus), *flags, "--out_dir", str(out), "--max_iters", "5", "--watch", "2"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    records = [json.loads(line) for line in (out / "watch.jsonl").read_text().splitlines()]
    assert [rec["step"] for rec in records] == [0, 2, 4]  # optimizer steps 0..4, every 2nd
    layers = records[0]["layers"]
    assert any(name.startswith("transformer.h.0") for name in layers), sorted(layers)
    assert all(np.isfinite(row["std"]) for row in layers.values())
    assert (out / "watch.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_watch_no_watch_log_is_written(corpus, env, tmp_path):
    r = run(TRAIN, ["--data", str(corpus), *TINY_FLAGS, "--out_dir", str(tmp_path / "out"), "--max_iters", "2"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (tmp_path / "out" / "watch.jsonl").exists()


# ---- missing extras ------------------------------------------------------------------------------
def _without(tmp_path: Path, module: str, env: dict) -> dict:
    """An environment where importing ``module`` fails as if it were not installed."""
    fake = tmp_path / "hide" / module
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(f'raise ModuleNotFoundError("No module named {module!r}", name={module!r})\n')
    return {**env, "PYTHONPATH": f"{fake.parent}{os.pathsep}{env['PYTHONPATH']}"}


def test_a_missing_extra_is_one_line_and_exit_2(env, tmp_path):
    r = run(ROOT / "examples" / "mlp_digits.py", ["--epochs", "1"], _without(tmp_path, "sklearn", env))
    assert r.returncode == 2
    assert r.stderr == ('error: examples/mlp_digits.py needs scikit-learn, which is not installed: '
                        'pip install -e ".[examples]"\n')


def test_plot_asked_for_without_matplotlib_fails_before_training(corpus, env, tmp_path, monkeypatch, capsys):
    args = ["--data", str(corpus), *TINY_FLAGS[:-3], "--sample_tokens", "0", "--out_dir", str(tmp_path / "out"),
            "--max_iters", "2"]
    r = run(TRAIN, [*args, "--plot"], _without(tmp_path, "matplotlib", env))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr == 'error: --plot needs matplotlib, which is not installed: pip install -e ".[examples]"\n'
    assert not (tmp_path / "out" / "ckpt.safetensors").exists()
    # Not asked for (the default): the run goes on and says why there is no plot.
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    monkeypatch.setenv("TINYGRAD_GPT_CACHE", env["TINYGRAD_GPT_CACHE"])
    monkeypatch.setattr(T, "measure_matmul_peak", lambda *a, **k: 1e10)
    assert cli.train_main(args) == 0
    assert 'plot skipped: matplotlib is not installed (pip install -e ".[examples]")' in capsys.readouterr().out


# ---- sample: streaming, prompt files, Hugging Face folders ------------------------------------------
def test_stream_prints_the_same_sample(trained, capsys, tmp_path):
    args = sample_args(trained, "--prompt", "It is", "--num_samples", "1", "--seed", "5")
    assert cli.sample_main(args) == 0
    batch = capsys.readouterr().out
    assert cli.sample_main([*args, "--stream"]) == 0
    assert capsys.readouterr().out == batch
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("It is", encoding="utf-8")
    assert cli.sample_main([*sample_args(trained, "--prompt_file", str(prompt)), "--num_samples", "1",
                            "--seed", "5"]) == 0
    assert capsys.readouterr().out == batch


def test_stream_writes_token_by_token(trained):
    pieces = []
    args = cli.parse_sample_args(sample_args(trained, "--prompt", "It", "--num_samples", "2", "--stream"))
    cli.stream(args, pieces.append)
    text = "".join(pieces)
    first, second = text.rstrip("\n").split("\n" + cli.SEPARATOR + "\n")
    assert first.startswith("It") and len(first) == 42 and second.startswith("It") and len(second) == 42
    assert len(pieces) > 80  # a write per token, not one per sample


def test_sample_from_a_hugging_face_gpt2_folder(tmp_path):
    from tinygrad_gpt.config import GPTConfig
    from tinygrad_gpt.model import GPT
    from tinygrad_gpt.tokenizer import GPT2Tokenizer

    model = GPT(GPTConfig(vocab_size=50257, block_size=32, n_layer=1, n_head=2, n_embd=16), seed=0)
    folder = model.save_pretrained(tmp_path / "gpt2")
    assert cli.find_checkpoint(folder) == folder
    args = cli.parse_sample_args(["--checkpoint", str(folder), "--prompt", "Hello", "--temperature", "0",
                                  "--max_new_tokens", "5"])
    tok = GPT2Tokenizer()
    ids = model.generate(np.array([tok.encode("Hello")]), 5, temperature=0)
    assert cli.sample(args) == [tok.decode(ids[0].tolist())]
