// Package jobdata turns the paper's text into the token ids trainers see,
// and the trainers' token ids back into text: the tokenized job inputs and
// outputs of trainer contract v2 (docs/trainer-contract.md).
//
// It is the one place where semantics meet tokens. Templates and the
// prompt/response label split come from package template, benchmark prompts
// from package bench, answer extraction from bench as well; this package
// applies them with the model's own tokenizer (engine/tokenizer, which
// matches Hugging Face's byte for byte), truncates at the block size,
// decides the data order and the optimiser steps, and writes JSONL files
// that any trainer can read without knowing a template, a benchmark or a
// tokenizer. Because both the embedded engine and the GPU trainer
// (trainers/hf) consume these files, they train and evaluate on
// byte-identical inputs.
//
// Formats (one JSON object per line):
//
//	train.tokens.jsonl   {"step": 0, "input_ids": [...], "labels": [...]}
//	eval.tokens.jsonl    {"id": "q1", "language": "English", "prompt_ids": [...],
//	                      "options": [[...]], "score_tokens": [2]}       (options: loglik mode)
//	outputs.jsonl        {"id": "q1", "language": "English", "output_ids": [...]}   (generate)
//	                     {"id": "q1", "language": "English", "loglik": [...], "ntokens": [...]}
package jobdata
