"""GPT-2/GPT-3 models, tokenizers and data on the tinygrad_gpt engine."""
