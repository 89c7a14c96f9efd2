// Package train fine-tunes LoRA adapters for Llama, Mistral, Qwen2 and
// Gemma models on the CPU, reproducing what Hugging Face transformers +
// peft compute:
//
//   - Net is the training forward pass (it keeps activations) and the
//     hand-written backward pass of every op: embedding (scaled for Gemma),
//     RMSNorm (Gemma's (1+w) as a precomputed weight), RoPE, grouped-query
//     causal attention with right-padding masks and Mistral's sliding
//     window, SwiGLU or GeGLU (gelu, exact or tanh), LoRA projections with
//     dropout and Qwen2's frozen q/k/v biases, optional fully trained LM
//     head and embedding (peft's modules_to_save; on tied embeddings each
//     trains its own copy, as peft's wrappers do), and cross-entropy over
//     response tokens (labels IgnoreIndex on prompt and padding), averaged
//     per optimiser step over its tokens (Config.LossReduction "token",
//     HF's num_items_in_batch) or over its samples ("sample", the CrossIn
//     reference's micro-batch 1 with accumulation).
//     It matches the inference engine's forward (engine/model) and the
//     reference gradients of ../shared/reference/hf-tiny-llama.
//   - AdamW, ClipGradNorm and Schedule follow torch.optim.AdamW,
//     torch.nn.utils.clip_grad_norm_ and transformers' schedulers.
//   - Run is the training loop: seeded data order and dropout, gradient
//     accumulation, clipping, the schedule, checkpoints every N steps that a
//     killed run resumes from, a progress line and the loss curve.
//   - FromModel, NewHook, Merge and MergeDir connect it to engine/model:
//     train on a loaded model's weights, apply an adapter during inference,
//     or merge it into the weights.
//
// Layout: each op family keeps its forward and backward pass together
// (norm.go, linear.go, rope.go, attention.go, mlp.go, head.go); pass.go
// chains them into the decoder; net.go holds the trainable state;
// config.go the engine's own configuration, progress and loss-curve types,
// which the trainer contract (trainer/embedded) translates into.
//
// Determinism: matrix products use engine/tensor, whose per-element
// arithmetic is fixed; every other parallel loop splits work by output
// rows, and all reductions run in a fixed order. So the same data, seed and
// parameters give a byte-identical adapter for any GOMAXPROCS or
// WithThreads value.
package train
