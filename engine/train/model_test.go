package train

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/crossin-lab/crossin/engine/lora"
	"github.com/crossin-lab/crossin/engine/model"
)

// TestReferenceThroughModel runs the reference step on the inference
// engine's weights and RoPE, checks the training forward against the
// inference forward with the adapter applied, then generates greedily with
// the adapter after one AdamW step, as peft's generate did.
func TestReferenceThroughModel(t *testing.T) {
	needRef(t)
	m, err := model.Load(filepath.Join(refDir, "tiny-llama"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	base, err := FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	ad, err := lora.Load(filepath.Join(refDir, "tiny-llama-lora-init"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewNet(base, ad, 0)
	if err != nil {
		t.Fatal(err)
	}
	ref := readStepRef(t)
	b := ref.batch()

	// Training forward == inference forward (with the LoRA hook) on each
	// unpadded row of the batch.
	hook, err := NewHook(m, ad)
	if err != nil {
		t.Fatal(err)
	}
	m.SetAdapter(hook)
	logits, err := n.Logits(b)
	if err != nil {
		t.Fatal(err)
	}
	V := base.Vocab
	for r := 0; r < b.B; r++ {
		var ids []int
		for t := 0; t < b.T && b.Mask[r*b.T+t] == 1; t++ {
			ids = append(ids, int(b.IDs[r*b.T+t]))
		}
		inf, err := m.Forward(ids)
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for i := range inf {
			worst = math.Max(worst, math.Abs(float64(inf[i])-float64(logits[r*b.T*V+i])))
		}
		if worst > 1e-5 {
			t.Errorf("row %d: training logits differ from inference logits by %.3g", r, worst)
		}
	}

	items := b.Items()
	sum, err := n.Backward(b, items)
	if err != nil {
		t.Fatal(err)
	}
	if loss := sum / float64(items); math.Abs(loss-ref.Loss) > 1e-5 {
		t.Errorf("loss %.9f, reference %.9f", loss, ref.Loss)
	}
	opt := NewAdamW(sizes(n.Params()), ref.AdamW.WeightDecay)
	if err := opt.Update(n.Params(), n.Grads, ref.AdamW.LR); err != nil {
		t.Fatal(err)
	}
	// The hook reads the adapter's tensors, which AdamW updated in place.
	for i, g := range ref.Generate {
		out, err := m.Generate(context.Background(), [][]int{g.PromptIDs}, model.GenerateOptions{MaxNewTokens: 10})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(out[0]) != fmt.Sprint(g.GeneratedIDs) {
			t.Errorf("generate %d: %v, reference %v", i, out[0], g.GeneratedIDs)
		}
	}
	// Merging the adapter into the weights gives the same generations
	// (peft's merge_and_unload).
	m.SetAdapter(nil)
	m2, err := model.Load(filepath.Join(refDir, "tiny-llama"))
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if err := Merge(m2, ad); err != nil {
		t.Fatal(err)
	}
	for i, g := range ref.Generate {
		out, err := m2.Generate(context.Background(), [][]int{g.PromptIDs}, model.GenerateOptions{MaxNewTokens: 10})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(out[0]) != fmt.Sprint(g.GeneratedIDs) {
			t.Errorf("merged generate %d: %v, reference %v", i, out[0], g.GeneratedIDs)
		}
	}
}

// TestMergeDir merges the reference adapter into a copy of the model
// directory; the merged model's logits equal the base model with the
// adapter hook.
func TestMergeDir(t *testing.T) {
	needRef(t)
	src := filepath.Join(refDir, "tiny-llama")
	ad, err := lora.Load(filepath.Join(refDir, "tiny-llama-lora-init"))
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := MergeDir(src, ad, dst); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	hook, err := NewHook(m, ad)
	if err != nil {
		t.Fatal(err)
	}
	m.SetAdapter(hook)
	mm, err := model.Load(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer mm.Close()
	ids := readStepRef(t).Generate[0].PromptIDs
	a, _ := m.Forward(ids)
	b, _ := mm.Forward(ids)
	var worst float64
	for i := range a {
		worst = math.Max(worst, math.Abs(float64(a[i])-float64(b[i])))
	}
	if worst > 1e-4 {
		t.Fatalf("merged logits differ from adapter logits by %.3g", worst)
	}
	// With nothing to merge, the weights are copied byte for byte.
	empty := t.TempDir()
	if err := MergeDir(src, &lora.Adapter{Config: ad.Config}, empty); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(src, "model.safetensors"))
	got, _ := os.ReadFile(filepath.Join(empty, "model.safetensors"))
	if !bytes.Equal(got, want) {
		t.Error("an empty merge changed model.safetensors")
	}
}

// TestApplyModulesToSave: a trained LM head and embedding replace the base
// ones in inference (Apply) and in a merged directory, and give the
// training forward's logits.
func TestApplyModulesToSave(t *testing.T) {
	needRef(t)
	src := filepath.Join(refDir, "tiny-llama")
	m, err := model.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	base, err := FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	ad, err := lora.Load(filepath.Join(refDir, "tiny-llama-lora-init"))
	if err != nil {
		t.Fatal(err)
	}
	ad.Config.ModulesToSave = []string{"embed_tokens", "lm_head"}
	for _, name := range ad.Config.ModulesToSave {
		w := slices.Clone(base.LMHead)
		if name == "embed_tokens" {
			w = slices.Clone(base.Embed)
		}
		for i := range w {
			w[i] *= 1.5
		}
		ad.Saved = append(ad.Saved, &lora.Full{Module: name, Rows: base.Vocab, Cols: base.Hidden, W: w})
	}
	if _, err := NewHook(m, ad); err == nil {
		t.Fatal("NewHook accepted an adapter with modules_to_save")
	}
	n, err := NewNet(base, ad, 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := readStepRef(t).Generate[1].PromptIDs
	b := &Batch{B: 1, T: len(ids)}
	for _, id := range ids {
		b.IDs, b.Labels, b.Mask = append(b.IDs, int32(id)), append(b.Labels, IgnoreIndex), append(b.Mask, 1)
	}
	want, err := n.Logits(b)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := m.Forward(ids)
	undo, err := Apply(m, ad)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := m.Forward(ids)
	undo()
	again, _ := m.Forward(ids)
	dst := t.TempDir()
	if err := MergeDir(src, ad, dst); err != nil {
		t.Fatal(err)
	}
	mm, err := model.Load(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer mm.Close()
	merged, _ := mm.Forward(ids)
	var dApply, dMerged, dPlain float64
	for i := range want {
		dApply = math.Max(dApply, math.Abs(float64(got[i]-want[i])))
		dMerged = math.Max(dMerged, math.Abs(float64(merged[i]-want[i])))
		dPlain = math.Max(dPlain, math.Abs(float64(plain[i]-want[i])))
		if again[i] != plain[i] {
			t.Fatal("undo did not restore the base model")
		}
	}
	if dApply > 1e-5 || dMerged > 1e-4 {
		t.Errorf("logits differ: apply %.3g, merged %.3g", dApply, dMerged)
	}
	if dPlain < 1e-2 {
		t.Errorf("the trained modules made no difference (%.3g): the test proves nothing", dPlain)
	}
}
