package mixture

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/dataset"
	"github.com/crossin-lab/crossin/internal/sharedtest"
)

// The team's full data beside the repository (see ../shared/data/*/SOURCE.md).
const sharedData = "../../shared/data"

var sharedFiles = struct{ en, zh, vi, flores string }{
	en:     sharedData + "/instructions/alpaca_en/alpaca_data.json",
	zh:     sharedData + "/instructions/alpaca_zh_hikariming/alpaca_zh_aligned.jsonl",
	vi:     sharedData + "/instructions/alpaca_vi_gpt4vn/alpaca_vi_aligned.jsonl",
	flores: sharedData + "/flores_seaeval/flores200_dev_en_vi_zh_id_ms.jsonl",
}

// needShared skips without the shared files (fails under
// CROSSIN_REQUIRE_SHARED=1).
func needShared(t testing.TB) {
	t.Helper()
	for _, p := range []string{sharedFiles.en, sharedFiles.zh, sharedFiles.vi, sharedFiles.flores} {
		sharedtest.Path(t, strings.TrimPrefix(p, "../../shared/"))
	}
}

// sharedSpec is the paper-scale x2x + en2x + trans mixture (plus x2en and
// base) over the full Alpaca set and its Chinese and Vietnamese translations.
func sharedSpec(count int) Spec {
	return Spec{
		Name:      "shared",
		Languages: []string{"en", "zh", "vi"},
		Seed:      2024,
		Variants: []Variant{
			{Mode: X2X, Count: count},
			{Mode: En2X, Count: count},
			{Mode: Trans, Count: count / 5},
		},
		Sources: Sources{
			English:     sharedFiles.en,
			Parallel:    map[string]string{"zh": sharedFiles.zh, "vi": sharedFiles.vi},
			Translation: sharedFiles.flores,
			MinScore:    0.55,
		},
	}
}

// TestSharedLanguageRules checks every variant's language rules and every
// record's provenance on the real data, in each marker and x2x setting.
func TestSharedLanguageRules(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 56 MB of shared data")
	}
	needShared(t)
	langs := []string{"en", "zh", "vi"}
	l := loadInputs(t, sharedFiles.en, sharedFiles.en, map[string]string{"en": sharedFiles.en, "zh": sharedFiles.zh, "vi": sharedFiles.vi}, sharedFiles.flores, langs, 0.55)
	for _, tc := range []struct {
		name      string
		allowSame bool
		marker    Marker
		sampling  Sampling
	}{
		{"reference", false, MarkerCode, WithReplacement},
		{"x2x may be equal", true, MarkerCode, WithReplacement},
		{"instruction marker without replacement", false, MarkerInstruction, WithoutReplacement},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := Spec{Languages: langs, Seed: 11, Sampling: tc.sampling, Variants: []Variant{
				{Mode: Base, Count: 3000},
				{Mode: En2X, Count: 6000, Marker: tc.marker},
				{Mode: X2En, Count: 6000, Marker: tc.marker},
				{Mode: X2X, Count: 6000, Marker: tc.marker, AllowSame: tc.allowSame},
				{Mode: Trans, Count: 900},
			}}
			res, err := Build(context.Background(), spec, WithInputs(l.in))
			if err != nil {
				t.Fatal(err)
			}
			checkRules(t, l, res, tc.allowSame, tc.marker)
			pairs := map[string]int{}
			for _, p := range res.Stats.Pairs {
				pairs[string(p.Mode)+":"+p.SrcLang+">"+p.TgtLang] = p.Count
			}
			// Uniform language draws: each en2x target about half of 6000.
			for _, k := range []string{"en2x:en>zh", "en2x:en>vi", "x2en:zh>en", "x2en:vi>en"} {
				if n := pairs[k]; n < 2700 || n > 3300 {
					t.Errorf("%s = %d, want about 3000", k, n)
				}
			}
			if tc.allowSame && pairs["x2x:zh>zh"] == 0 {
				t.Error("allow_same: no zh>zh x2x records")
			}
		})
	}
}

func TestSharedDeterminism(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 56 MB of shared data")
	}
	needShared(t)
	a, err := Build(context.Background(), sharedSpec(5000))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(context.Background(), sharedSpec(5000))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash != b.Hash {
		t.Errorf("two builds differ: %s vs %s", a.Hash, b.Hash)
	}
	var cov []dataset.Coverage = a.Coverage
	js, _ := json.Marshal(cov)
	t.Logf("coverage %s", js)
}
