package train

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/model"
	"github.com/crossin-lab/crossin/engine/safetensors"
)

// MergeDir writes a copy of the Hugging Face model directory src into dst
// with the adapter merged into its projections, W + (alpha/r)·B·A (peft's
// merge_and_unload): config.json, generation_config.json and the tokenizer
// files are copied, and the weights go into one model.safetensors. Tensors
// keep their dtype (merged BF16 weights are rounded back to BF16, F16
// merged weights become F32); every write is atomic.
func MergeDir(src string, ad *lora.Adapter, dst string) error {
	cfg, err := model.LoadConfig(filepath.Join(src, "config.json"))
	if err != nil {
		return err
	}
	set, err := safetensors.OpenDir(src)
	if err != nil {
		return err
	}
	defer set.Close()
	merged := map[string]*lora.Pair{}
	for _, p := range ad.Pairs {
		if p.Layer >= cfg.NumLayers {
			return fmt.Errorf("merge: adapter has layer %d; %s has %d layers", p.Layer, src, cfg.NumLayers)
		}
		path, err := lora.ModulePath(p.Module)
		if err != nil {
			return err
		}
		merged[fmt.Sprintf("model.layers.%d.%s.weight", p.Layer, path)] = p
	}
	full := map[string]*lora.Full{}
	for _, f := range ad.Saved {
		name := "lm_head.weight"
		if f.Module == "embed_tokens" {
			name = "model.embed_tokens.weight"
		}
		if _, ok := set.Info(name); !ok {
			return fmt.Errorf("merge: %s has no %s to replace with the trained %s (tied embeddings?)", src, name, f.Module)
		}
		full[name] = f
	}
	var ts []safetensors.Tensor
	for _, name := range set.Names() {
		info, _ := set.Info(name)
		if f := full[name]; f != nil {
			if len(info.Shape) != 2 || info.Shape[0] != f.Rows || info.Shape[1] != f.Cols {
				return fmt.Errorf("merge: %s is %v in %s; the trained %s is [%d %d]", name, info.Shape, src, f.Module, f.Rows, f.Cols)
			}
			ts = append(ts, encodeLike(name, info, f.W))
			continue
		}
		p := merged[name]
		if p == nil {
			raw, err := rawTensor(set, name)
			if err != nil {
				return err
			}
			ts = append(ts, safetensors.Tensor{Name: name, DType: info.DType, Shape: slices.Clone(info.Shape), Data: raw})
			continue
		}
		delete(merged, name)
		if len(info.Shape) != 2 || info.Shape[0] != p.Out || info.Shape[1] != p.In {
			return fmt.Errorf("merge: %s is %v in %s; the adapter's layer %d %s needs [%d %d]", name, info.Shape, src, p.Layer, p.Module, p.Out, p.In)
		}
		w, _, err := set.Float32(name)
		if err != nil {
			return err
		}
		w = slices.Clone(w)
		if err := p.MergeInto(w, ad.Config.R, ad.Config.Scale()); err != nil {
			return err
		}
		ts = append(ts, encodeLike(name, info, w))
	}
	for name := range merged {
		return fmt.Errorf("merge: %s has no tensor %s for the adapter", src, name)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := safetensors.WriteFile(filepath.Join(dst, safetensors.SingleName), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	for _, f := range []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFunc(filepath.Join(dst, f), 0o644, func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// rawTensor returns a tensor's bytes as stored.
func rawTensor(set *safetensors.Set, name string) ([]byte, error) {
	for _, f := range set.Files {
		if _, ok := f.Info(name); ok {
			b, _, err := f.Raw(name)
			return b, err
		}
	}
	return nil, fmt.Errorf("no tensor %q", name)
}

// encodeLike stores w in the dtype of the tensor it replaces: BF16 stays
// BF16 (rounded to nearest even), anything else becomes F32.
func encodeLike(name string, info safetensors.TensorInfo, w []float32) safetensors.Tensor {
	if info.DType == safetensors.BF16 {
		b := make([]byte, 2*len(w))
		for i, x := range w {
			binary.LittleEndian.PutUint16(b[2*i:], safetensors.Float32ToBF16(x))
		}
		return safetensors.Tensor{Name: name, DType: safetensors.BF16, Shape: slices.Clone(info.Shape), Data: b}
	}
	return safetensors.F32Tensor(name, info.Shape, w)
}
