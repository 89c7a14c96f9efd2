package train

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/engine/lora"
)

// TestSampleReduction checks the "sample" loss reduction against its
// definition: the gradient and loss of one step over a micro-batch of
// samples with different response lengths equal the mean, over the samples,
// of each sample's own token-mean step (what micro-batch 1 × accumulation
// computes in the reference). The "token" reduction must differ on the same
// data, or the test would prove nothing.
func TestSampleReduction(t *testing.T) {
	d := tinyDims()
	base := RandomBase(d, 11)
	exs := []Example{
		{Prompt: []int32{1, 5, 6}, Response: []int32{7, 2}},
		{Prompt: []int32{1, 9}, Response: []int32{10, 11, 12, 13, 14, 15, 2}},
		{Prompt: []int32{1, 20, 21, 22}, Response: []int32{23, 24, 2}},
	}
	ad := randomAdapter(t, d, 4, 8, 0, lora.Modules, 3)
	grads := func(reduction string, batches []*Batch) ([][]float32, float64) {
		n, err := NewNet(base, ad, 2)
		if err != nil {
			t.Fatal(err)
		}
		items, samples := 0, 0
		for _, b := range batches {
			items += b.Items()
			samples += b.B
		}
		loss, err := stepLoss(n, batches, items, samples, reduction)
		if err != nil {
			t.Fatal(err)
		}
		return n.Grads, loss
	}
	whole := []*Batch{collate(exs, 0, 0)}
	sample, sampleLoss := grads(LossSample, whole)
	token, tokenLoss := grads(LossToken, whole)

	// The definition: mean over samples of each sample's own mean.
	want := make([][]float32, len(sample))
	for i := range want {
		want[i] = make([]float32, len(sample[i]))
	}
	var wantLoss float64
	for _, e := range exs {
		g, l := grads(LossToken, []*Batch{collate([]Example{e}, 0, 0)})
		wantLoss += l / float64(len(exs))
		for i := range g {
			for j, v := range g[i] {
				want[i][j] += v / float32(len(exs))
			}
		}
	}
	// One padded micro-batch and three unpadded ones sum attention over
	// different lengths, so the last bits differ; the reductions differ by
	// far more.
	if math.Abs(sampleLoss-wantLoss) > 1e-7*wantLoss {
		t.Errorf("sample loss %.12g, mean of per-sample losses %.12g", sampleLoss, wantLoss)
	}
	if math.Abs(tokenLoss-sampleLoss) < 1e-3 {
		t.Errorf("token loss %.9g is close to sample loss: the data does not tell the reductions apart", tokenLoss)
	}
	scale := 0.0
	for i := range want {
		for _, v := range want[i] {
			scale = max(scale, math.Abs(float64(v)))
		}
	}
	worst, differs := 0.0, false
	for i := range want {
		for j := range want[i] {
			tol := 1e-5*scale + 1e-3*math.Abs(float64(want[i][j]))
			worst = max(worst, math.Abs(float64(sample[i][j]-want[i][j]))/tol)
			if math.Abs(float64(token[i][j]-want[i][j])) > 10*tol {
				differs = true
			}
		}
	}
	if worst > 1 {
		t.Errorf("sample-reduction gradient differs from the per-sample mean by %.3g× the tolerance", worst)
	}
	if !differs {
		t.Error("token-reduction gradient equals the per-sample mean: the test cannot tell the reductions apart")
	}
}

// TestTruncationCounted: over-long examples are cut like the reference's
// collator and counted; examples with no response token left are left out
// and counted, never silently.
func TestTruncationCounted(t *testing.T) {
	base := RandomBase(tinyDims(), 5)
	data := []Example{
		{Prompt: []int32{1, 3, 4}, Response: []int32{5, 2}},                 // fits in 6
		{Prompt: []int32{1, 3, 4, 5}, Response: []int32{6, 7, 8, 9, 2}},     // cut to 6, keeps 2 response tokens
		{Prompt: []int32{1, 3, 4, 5, 6, 7, 8}, Response: []int32{9, 2}},     // no response token left
		{Prompt: []int32{1, 3}, Response: []int32{4, 5, 6, 7, 8, 9, 10, 2}}, // cut
	}
	for _, tc := range []struct {
		maxLen, truncated, skipped int
	}{{6, 2, 1}, {0, 0, 0}, {64, 0, 0}} {
		p := tinyParams(1)
		p.MaxLength, p.GradAccum, p.BatchSize = tc.maxLen, 1, 2
		res, err := Run(context.Background(), base, data, p)
		if err != nil {
			t.Fatal(err)
		}
		if res.Truncated != tc.truncated || res.Skipped != tc.skipped {
			t.Errorf("max_length %d: truncated %d, skipped %d; want %d, %d", tc.maxLen, res.Truncated, res.Skipped, tc.truncated, tc.skipped)
		}
	}
	p := tinyParams(1)
	p.LossReduction = "mean"
	if _, err := Run(context.Background(), base, data, p); err == nil || !strings.Contains(err.Error(), `loss_reduction "mean"`) {
		t.Errorf("unknown loss_reduction: %v", err)
	}
}
