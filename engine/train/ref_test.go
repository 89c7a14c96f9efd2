package train

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/safetensors"
	"github.com/crossin-lab/crossin/internal/sharedtest"
)

// refDir is ../shared/reference/hf-tiny-llama; tests call needRef first.
const refDir = "../../../shared/reference/hf-tiny-llama"

// needRef skips (or fails under CROSSIN_REQUIRE_SHARED=1) without the
// team's reference data.
func needRef(t testing.TB) {
	t.Helper()
	sharedtest.Path(t, "reference/hf-tiny-llama")
}

type stepRef struct {
	InputIDs      [][]int32 `json:"input_ids"`
	Labels        [][]int32 `json:"labels"`
	AttentionMask [][]uint8 `json:"attention_mask"`
	Loss          float64   `json:"loss"`
	LossAfter     float64   `json:"loss_after_adamw"`
	AdamW         struct {
		LR          float64   `json:"lr"`
		Betas       []float64 `json:"betas"`
		Eps         float64   `json:"eps"`
		WeightDecay float64   `json:"weight_decay"`
	} `json:"adamw"`
	Generate []struct {
		PromptIDs    []int `json:"prompt_ids"`
		GeneratedIDs []int `json:"generated_ids"`
	} `json:"generate"`
}

func readStepRef(t testing.TB) *stepRef {
	data, err := os.ReadFile(filepath.Join(refDir, "tiny_llama_lora_step.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r stepRef
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func (r *stepRef) batch() *Batch {
	B, T := len(r.InputIDs), len(r.InputIDs[0])
	b := &Batch{B: B, T: T}
	for i := 0; i < B; i++ {
		b.IDs = append(b.IDs, r.InputIDs[i]...)
		b.Labels = append(b.Labels, r.Labels[i]...)
		b.Mask = append(b.Mask, r.AttentionMask[i]...)
	}
	return b
}

// readTensors loads every tensor of a reference safetensors file by the
// lora (layer, module, A/B) it names.
func readTensors(t testing.TB, path string) map[string][]float32 {
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]float32{}
	for _, n := range f.Names() {
		l, m, w, ok := lora.ParseTensorName(n)
		if !ok {
			t.Fatalf("%s: unexpected tensor %q", path, n)
		}
		v, _, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		out[lora.TensorName(l, m, w)] = append([]float32(nil), v...)
	}
	return out
}

// relErr is max|a-b| / max|b| over a tensor.
func relErr(a, b []float32) float64 {
	var d, m float64
	for i := range b {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = math.Max(m, math.Abs(float64(b[i])))
	}
	if m == 0 {
		return d
	}
	return d / m
}

func refNet(t testing.TB, threads int) (*Net, *stepRef) {
	needRef(t)
	base := loadTestBase(t, filepath.Join(refDir, "tiny-llama"))
	ad, err := lora.Load(filepath.Join(refDir, "tiny-llama-lora-init"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewNet(base, ad, threads)
	if err != nil {
		t.Fatal(err)
	}
	return n, readStepRef(t)
}

func TestReferenceLoRAStep(t *testing.T) {
	n, ref := refNet(t, 0)
	b := ref.batch()
	items := b.Items()
	sum, err := n.Backward(b, items)
	if err != nil {
		t.Fatal(err)
	}
	loss := sum / float64(items)
	if math.Abs(loss-ref.Loss) > 1e-5 {
		t.Errorf("loss %.9f, reference %.9f (diff %.3g)", loss, ref.Loss, loss-ref.Loss)
	}
	grads := readTensors(t, filepath.Join(refDir, "tiny_llama_lora_grads.safetensors"))
	if len(grads) != 2*len(n.Adapter.Pairs) {
		t.Fatalf("reference has %d gradients, adapter %d tensors", len(grads), 2*len(n.Adapter.Pairs))
	}
	for i, p := range n.Adapter.Pairs {
		for k, w := range []string{"A", "B"} {
			name := lora.TensorName(p.Layer, p.Module, w)
			if e := relErr(n.Grads[2*i+k], grads[name]); e > 1e-4 {
				t.Errorf("grad %s: relative error %.3g > 1e-4", name, e)
			} else {
				t.Logf("grad %s: relative error %.3g", name, e)
			}
		}
	}
	opt := NewAdamW(sizes(n.Params()), ref.AdamW.WeightDecay)
	opt.Beta1, opt.Beta2, opt.Eps = ref.AdamW.Betas[0], ref.AdamW.Betas[1], ref.AdamW.Eps
	if err := opt.Update(n.Params(), n.Grads, ref.AdamW.LR); err != nil {
		t.Fatal(err)
	}
	after := readTensors(t, filepath.Join(refDir, "tiny_llama_lora_after_adamw.safetensors"))
	for i, p := range n.Adapter.Pairs {
		for k, w := range []string{"A", "B"} {
			name := lora.TensorName(p.Layer, p.Module, w)
			got, want := n.Params()[2*i+k], after[name]
			var worst float64
			for j := range want {
				worst = math.Max(worst, math.Abs(float64(got[j])-float64(want[j])))
			}
			// One AdamW step moves each value by about lr; 1e-6 is 0.1% of it.
			if worst > 1e-6 {
				t.Errorf("after AdamW %s: max abs diff %.3g > 1e-6", name, worst)
			}
		}
	}
	sum2, items2, err := n.Loss(b)
	if err != nil {
		t.Fatal(err)
	}
	if l2 := sum2 / float64(items2); math.Abs(l2-ref.LossAfter) > 1e-5 {
		t.Errorf("loss after AdamW %.9f, reference %.9f", l2, ref.LossAfter)
	}
}
