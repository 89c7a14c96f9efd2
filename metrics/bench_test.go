package metrics

import (
	"testing"

	"github.com/crossin-lab/crossin/bench"
)

// BenchmarkAlign maps SeaEval's 1,050 flan_t5_base outputs to options: the
// baseline for BenchmarkScore, which adds the metrics (120 subsets) and a
// 1,000-resample bootstrap.
func BenchmarkAlign(b *testing.B) {
	bm, p, _ := loadFixture(&testing.T{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := Align(bm, p, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScore(b *testing.B) {
	bm, p, _ := loadFixture(&testing.T{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Score(bm, p, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExtractLong maps a long free-text answer (a chatty model's
// output) to one of four options.
func BenchmarkExtractLong(b *testing.B) {
	choices := []string{"(A) the state", "(B) the justice system", "(C) the body", "(D) the soul"}
	out := "Socrates held that the unexamined life harms the soul. The body matters less. So the answer is (D) the soul. It is not the state, nor the justice system."
	for i := 0; i < b.N; i++ {
		bench.Extract(out, choices, uint64(i))
	}
}
