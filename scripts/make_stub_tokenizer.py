"""Build the stub's tokenizer file, cohere_cli/stub/tokenizer.json: a small real tokenizer
of the kind Cohere's `tokenizer_url` serves (byte-level BPE, a BOS token added by its
post-processor), trained on a few sentences, so that exact counts run offline.

The stub ships the file and serves it without `tokenizers`; this script (which needs it:
`pip install tokenizers`) is only to make it again: `python scripts/make_stub_tokenizer.py`.
"""
from __future__ import annotations

import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

OUT = Path(__file__).resolve().parent.parent / "cohere_cli" / "stub" / "tokenizer.json"
VOCAB_SIZE = 600
SENTENCES = [
    "Hello, world! The quick brown fox jumps over the lazy dog.",
    "What is new since yesterday? Summarise the log for on-call.",
    "You track our incidents. Label: billing, bug, account or other.",
    "The stub answers with an echo of the last user message.",
    "A conversation that a cron job extends every night grows without end.",
    "def main() -> int:\n    return 0\n",
    "{\"role\": \"user\", \"content\": \"hi\"}",
    "Numbers 0123456789 and punctuation .,;:!?()[]{}<>-_=+*/\\|@#$%^&~`'\"",
] * 4


def build() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=["<PAD>", "<BOS_TOKEN>", "<EOS_TOKEN>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(SENTENCES, trainer)
    bos = tokenizer.token_to_id("<BOS_TOKEN>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<BOS_TOKEN> $A", pair="<BOS_TOKEN> $A $B", special_tokens=[("<BOS_TOKEN>", bos)])
    return tokenizer


def main() -> int:
    OUT.write_text(build().to_str() + "\n", encoding="utf-8")
    sys.stderr.write(f"wrote {OUT} ({OUT.stat().st_size} bytes)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
