package bench

import (
	"testing"
)

var abcd = []string{"(A) responsible", "(B) funny", "(C) sociable", "(D) followers"}

// TestExtractRules covers every rule of SeaEval's heuristic aligner.
func TestExtractRules(t *testing.T) {
	tests := []struct {
		name    string
		output  string
		choices []string
		want    int
		method  string
	}{
		{"letter in parentheses", "(B)", abcd, 1, MethodFirstStage},
		{"lower-case letter in parentheses", "the answer is (c)", abcd, 2, MethodFirstStage},
		{"bare letter", "B", abcd, 1, MethodSecondStage},
		{"bare lower-case letter", "d", abcd, 3, MethodSecondStage},
		{"open parenthesis only", "(B", abcd, 1, MethodSecondStage},
		{"close parenthesis only", "B)", abcd, 1, MethodSecondStage},
		{"letter with period", "C.", abcd, 2, MethodSecondStage},
		{"stand-alone upper-case A", "A", abcd, 0, MethodSecondStage},
		{"full option text", "I think (D) followers is right", abcd, 3, MethodFirstStage},
		{"full option text upper-cased", "(B) FUNNY", abcd, 1, MethodFirstStage},
		{"option text without prefix", "sociable", abcd, 2, MethodSecondStage},
		{"option text, other case", "They are Funny", abcd, 1, MethodSecondStage},
		{"longest key wins in a sentence", "(A) or (C) sociable", abcd, 2, MethodFirstStage},
		{"majority vote over sentences", "(A). (C) maybe. (C) surely.", abcd, 2, MethodFirstStage},
		{"Chinese parentheses", "答案是（B）", []string{"(A) 甲", "(B) 乙", "(C) 丙", "(D) 丁"}, 1, MethodFirstStage},
		{"Chinese full text", "我认为是有趣的。", []string{"(A) 负责任的", "(B) 有趣的", "(C) 善于交际的", "(D) 追随者"}, 1, MethodSecondStage},
		{"number text", "550", []string{"(A) 440", "(B) 380", "(C) 550", "(D) 275"}, 2, MethodSecondStage},
		{"formula text", "C6H4Br3", []string{"(A) C6H4Br3", "(B) C7H5Br", "(C) C12H22Br", "(D) C8H9Br"}, 0, MethodSecondStage},
		{"option text as a sentence", "(C) Sokongan sosial", []string{"(A) Mengelakkan tekanan", "(B) Gen yang baik", "(C) Sokongan sosial", "(D) Jumlah alkohol yang sederhana"}, 2, MethodFirstStage},
		{"one-character option texts are ignored", "8", []string{"(A) 1", "(B) 3", "(C) 8", "(D) 4"}, -1, MethodNoMatch},
		{"lower-case a is an English word", "a", abcd, -1, MethodNoMatch},
		{"blank output", "  \n\t", abcd, -1, MethodEmpty},
		{"nothing matches", "no idea", abcd, -1, MethodNoMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Extract(tt.output, tt.choices, 7)
			if got.Method != tt.method {
				t.Fatalf("Extract(%q).Method = %q, want %q", tt.output, got.Method, tt.method)
			}
			if tt.want >= 0 && got.Index != tt.want {
				t.Fatalf("Extract(%q) = %d (%s), want %d", tt.output, got.Index, got.Choice, tt.want)
			}
			if got.Index < 0 || got.Index >= len(tt.choices) || got.Choice != tt.choices[got.Index] {
				t.Fatalf("Extract(%q) returned an invalid option %d %q", tt.output, got.Index, got.Choice)
			}
			wantRandom := tt.method == MethodEmpty || tt.method == MethodNoMatch
			if got.Random != wantRandom {
				t.Fatalf("Extract(%q).Random = %v, want %v", tt.output, got.Random, wantRandom)
			}
		})
	}
}

// TestExtractTieAndFallbackAreSeeded checks that SeaEval's random draws are
// reproducible: same seed, same option; the tie is only between the two
// most voted options.
func TestExtractTieAndFallbackAreSeeded(t *testing.T) {
	tie := "(A) first. (C) second."
	seen := map[int]bool{}
	for seed := uint64(0); seed < 64; seed++ {
		a := Extract(tie, abcd, seed)
		b := Extract(tie, abcd, seed)
		if a != b {
			t.Fatalf("seed %d: %v then %v", seed, a, b)
		}
		if !a.Random || a.Method != MethodFirstStage {
			t.Fatalf("tie not reported as random: %+v", a)
		}
		if a.Index != 0 && a.Index != 2 {
			t.Fatalf("tie between A and C chose %d", a.Index)
		}
		seen[a.Index] = true
		e := Extract("", abcd, seed)
		if e2 := Extract("", abcd, seed); e != e2 {
			t.Fatalf("blank output: seed %d gave %v then %v", seed, e, e2)
		}
	}
	if !seen[0] || !seen[2] {
		t.Fatalf("64 seeds never chose both tied options: %v", seen)
	}
	// A clear majority is not random.
	if got := Extract("(A). (C). (C).", abcd, 1); got.Random || got.Index != 2 {
		t.Fatalf("majority: got %+v", got)
	}
	// Three-way tie: the draw is between the first two seen.
	for seed := uint64(0); seed < 32; seed++ {
		if got := Extract("(D). (B). (A).", abcd, seed); got.Index != 3 && got.Index != 1 {
			t.Fatalf("three-way tie chose %d, want D or B", got.Index)
		}
	}
}

func TestSegment(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"(A). Yes!", []string{"(A).", " Yes!"}},
		{"no terminator", []string{"no terminator"}},
		{"a..b", []string{"a.", "b"}},
		{"...", []string{"nothing here actually"}},
		{"", []string{"nothing here actually"}},
		{"你好。世界", []string{"你好。", "世界"}},
	}
	for _, tt := range tests {
		got := segment(tt.in)
		if len(got) != len(tt.want) {
			t.Fatalf("segment(%q) = %q, want %q", tt.in, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Fatalf("segment(%q) = %q, want %q", tt.in, got, tt.want)
			}
		}
	}
}

func TestPickLogLik(t *testing.T) {
	tests := []struct {
		name    string
		scores  []float64
		ntok    []int
		mode    LogLikMode
		want    int
		wantErr bool
	}{
		{"sum", []float64{-4, -1, -3, -2}, nil, LogLikSum, 1, false},
		{"tie goes to the lowest index", []float64{-2, -1, -1, -5}, nil, LogLikSum, 1, false},
		{"per token changes the winner", []float64{-6, -4, -9, -8}, []int{6, 2, 9, 2}, LogLikPerToken, 0, false},
		{"per token needs counts", []float64{-1, -2}, nil, LogLikPerToken, 0, true},
		{"zero tokens", []float64{-1, -2}, []int{1, 0}, LogLikPerToken, 0, true},
		{"NaN", []float64{-1, nan()}, nil, LogLikSum, 0, true},
		{"no scores", nil, nil, LogLikSum, 0, true},
	}
	for _, tt := range tests {
		got, err := PickLogLik(tt.scores, tt.ntok, tt.mode)
		if (err != nil) != tt.wantErr {
			t.Fatalf("%s: err = %v, wantErr %v", tt.name, err, tt.wantErr)
		}
		if err == nil && got != tt.want {
			t.Fatalf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

func nan() float64 { z := 0.0; return z / z }

func TestExtractManyOptions(t *testing.T) {
	var choices []string
	for i := 0; i < 12; i++ {
		choices = append(choices, "(?) option "+string(rune('a'+i))+"x")
	}
	if got := Extract("option lx", choices, 1); got.Index != 11 {
		t.Fatalf("got %+v", got)
	}
	if got := Extract("anything", nil, 1); got.Index != -1 {
		t.Fatalf("no choices: %+v", got)
	}
}
