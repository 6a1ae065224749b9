"""Sample text from a trained GPT or a local Hugging Face GPT-2 folder: a thin copy of ``tinygrad-gpt sample``.

    python examples/sample.py --checkpoint out --prompt "ROMEO:" --num_samples 3 --max_new_tokens 200
    python examples/sample.py --checkpoint out --prompt "ROMEO:" --stream        # tokens as they come
    python examples/sample.py --checkpoint out/best.safetensors --temperature 0 --max_new_tokens 100
    python examples/sample.py --checkpoint path/to/gpt2 --prompt_file prompt.txt --top_k none --top_p 0.9

``--checkpoint`` is a training output folder (its ckpt.safetensors, or best.safetensors when there
is no ckpt), a checkpoint file, or a folder with a Hugging Face GPT-2 config.json and
model.safetensors. The model and the tokenizer are rebuilt from what the checkpoint saved, so the
prompt is encoded exactly as the training data was. The same seed gives the same samples.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "tinygrad_gpt").is_dir():  # the code of the clone this example is in, installed or not
    sys.path.insert(0, str(ROOT))

from tinygrad_gpt.cli import sample_main  # noqa: E402

if __name__ == "__main__":
    status = sample_main()
    if status:  # 0 returns quietly, so that runpy and `python -i` need not catch SystemExit
        sys.exit(status)
