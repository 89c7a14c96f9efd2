"""crossin's GPU trainer: Hugging Face transformers + PEFT behind the crossin
trainer contract v2 (docs/trainer-contract.md in the crossin repository).

The trainer does tensor work only. Templates, masking, truncation, data order
and benchmark prompts are decided by crossin's Go runner, which hands this
program *tokenized* jobs (input ids and labels per example; prompt ids and
option ids per question) and decodes and scores what it returns. Keeping the
paper's semantics in one place (Go) is what lets the embedded CPU engine and
this trainer see byte-identical inputs.
"""

__version__ = "0.2.0"
CONTRACT = "crossin.trainer/v2"
