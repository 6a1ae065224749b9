"""The command lines: examples/train_gpt.py (flags, --config, errors) and examples/sample.py."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import engine
from tinygrad_gpt import train as T
from tinygrad_gpt.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "examples" / "train_gpt.py"
SAMPLE = ROOT / "examples" / "sample.py"
TEXT = "ROMEO:\nBut, soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n" * 20
TINY_FLAGS = ["--n_layer", "1", "--n_head", "2", "--n_embd", "16", "--block_size", "16", "--batch_size", "4",
              "--eval_iters", "1", "--progress", "false", "--plot", "false", "--sample_tokens", "0"]


def _sample_module():
    spec = importlib.util.spec_from_file_location("sample_example", SAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sample_py = _sample_module()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The environment of every subprocess: prepared data in a temporary cache, not ~/.cache."""
    return {**os.environ, "TINYGRAD_GPT_CACHE": str(tmp_path_factory.mktemp("cache")),
            "WORKDIR": str(tmp_path_factory.mktemp("cwd"))}


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
        T.train(T.TrainConfig(data=str(corpus), out_dir=str(out), max_iters=30, eval_interval=15, eval_iters=1,
                              batch_size=8, lr=1e-2, warmup_iters=3, progress=False, plot=False, sample_tokens=0,
                              model={"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 32}))
    return out


def run(script: Path, args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    # From an empty folder, so a run that ignores --out_dir cannot write into the repository.
    return subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=env["WORKDIR"])


# ---- train_gpt.py -----------------------------------------------------------------------------------
def test_train_cli_runs_and_writes_its_outputs(corpus, env, tmp_path):
    out = tmp_path / "out"
    args = ["--data", str(corpus), "--out_dir", str(out), "--max_iters", "3", "--eval_interval", "2",
            *TINY_FLAGS[:-6], "--progress", "true", "--plot", "true", "--sample_tokens", "20"]
    r = run(TRAIN, args, env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "iter 3: train loss" in r.stdout and "---- sample ----" in r.stdout and "done: 3 iterations" in r.stdout
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
        T.parse_args([typo, "3"])
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
    (["--max_iters", "abc"], "--max_iters: invalid literal for int"),
    (["--progress", "maybe"], "--progress: expected true/false, got 'maybe'"),
    (["--bias", "maybe"], "--bias: expected true/false, got 'maybe'"),
    (["--preset", "gpt5"], "unknown preset 'gpt5'"),
    (["--tokenizer", "bpe"], "tokenizer must be 'char' or 'gpt2'"),
    (["--batch_size", "0"], "batch_size must be >= 1"),
    (["--config", "/no/such/run.json"], "--config file /no/such/run.json not found"),
])
def test_bad_flags_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        T.parse_args(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_config_files(tmp_path, capsys):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{max_iters: 3")
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"max_iters": 3, "learning_rate": 0.1}))
    for path, message in [(bad_json, "is not valid JSON"), (unknown, "unknown field 'learning_rate' in --config")]:
        with pytest.raises(SystemExit) as e:
            T.parse_args(["--config", str(path)])
        assert e.value.code == 2
        assert message in capsys.readouterr().err


def test_flag_values_take_the_fields_types():
    cfg = T.parse_args(["--max_iters=7", "--lr", "3e-4", "--progress", "no", "--lr_decay_iters", "50",
                        "--dropout", "0.1", "--bias", "false", "--pos_encoding", "sinusoidal", "--n_layer", "2",
                        "--data", "corpus.txt", "--grad_clip", "0"])
    assert (cfg.max_iters, cfg.lr, cfg.progress, cfg.lr_decay_iters, cfg.data) == (7, 3e-4, False, 50, "corpus.txt")
    assert cfg.model == {"dropout": 0.1, "bias": False, "pos_encoding": "sinusoidal", "n_layer": 2}
    assert type(cfg.grad_clip) is float
    assert T.parse_args(["--lr_decay_iters", "none"]).lr_decay_iters is None
    assert T.parse_args([]) == T.TrainConfig()


def test_data_flag_is_a_path_even_when_it_looks_like_a_number(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert T.parse_args(["--data", "2024"]).data == "2024"
    assert T.parse_args(["--data", "null.txt"]).data == "null.txt"


# ---- sample.py --------------------------------------------------------------------------------------
def sample_args(checkpoint, *extra) -> list[str]:
    return ["--checkpoint", str(checkpoint), "--num_samples", "2", "--max_new_tokens", "40", *extra]


def test_sample_cli_same_seed_same_samples(trained, env):
    args = sample_args(trained, "--prompt", "ROMEO:", "--temperature", "0.9", "--top_k", "10", "--top_p", "0.95",
                       "--seed", "3")
    a, b = run(SAMPLE, args, env), run(SAMPLE, args, env)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    samples = a.stdout.rstrip("\n").split("\n" + sample_py.SEPARATOR + "\n")
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
    args = sample_py.parse_args(sample_args(trained, "--prompt", "It is", "--temperature", "0", "--num_samples", "1",
                                            "--max_new_tokens", "25"))
    assert sample_py.sample(args) == [tok.decode(ids[0].tolist())]


def test_sample_seeds_and_checkpoint_paths(trained):
    def samples(*extra):
        return sample_py.sample(sample_py.parse_args(sample_args(*extra)))

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
    assert sample_py.find_checkpoint(only_best) == only_best / "best.safetensors"
    assert sample_py.find_checkpoint(trained) == trained / "ckpt.safetensors"


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
    assert sample_py.main(sample_args(path)) == 2
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
        sample_py.parse_args(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_sample_bad_sampling_values_are_clear_errors(trained, capsys):
    assert sample_py.main(sample_args(trained, "--top_p", "1.5")) == 2
    assert "top_p must be in (0, 1], got 1.5" in capsys.readouterr().err


def test_sample_of_a_float64_run(corpus, env, tmp_path):
    out = tmp_path / "out"
    r = run(TRAIN, ["--data", str(corpus), "--out_dir", str(out), "--max_iters", "2", "--dtype", "float64",
                    *TINY_FLAGS], env)
    assert r.returncode == 0, r.stdout + r.stderr
    model, tok, _ = sample_py.load(out)
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert len(sample_py.sample(sample_py.parse_args(sample_args(out, "--prompt", "It")))) == 2


def test_sample_prompts_for_each_tokenizer():
    from tinygrad_gpt.tokenizer import ENDOFTEXT, CharTokenizer, GPT2Tokenizer

    gpt2 = GPT2Tokenizer()
    assert sample_py.encode_prompt(gpt2, "Hello world") == [15496, 995]
    assert sample_py.encode_prompt(gpt2, None) == [50256]
    assert sample_py.encode_prompt(gpt2, ENDOFTEXT + "Hello") == [50256, 15496]  # the special token is allowed
    chars = CharTokenizer("\nab")
    assert sample_py.encode_prompt(chars, "ba") == [2, 1]
    assert sample_py.encode_prompt(chars, None) == [0]
    assert sample_py.encode_prompt(CharTokenizer("ab"), None) == [0]
    with pytest.raises(ValueError, match=r"--prompt: character 'c'"):
        sample_py.encode_prompt(chars, "abc")
