package mixture

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time. The benchmarks report it
// per op beside the wall time, because the shared build machine is often
// oversubscribed and wall time then measures the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/op")
}

// benchSpec is the benchmark: an x2x + en2x + trans mixture of
// 50,000 samples from the 52k Alpaca set plus its zh and vi translations.
func benchSpec() Spec {
	s := sharedSpec(0)
	s.Variants = []Variant{
		{Mode: X2X, Count: 20000},
		{Mode: En2X, Count: 20000},
		{Mode: Trans, Count: 10000},
	}
	return s
}

// BenchmarkBuild50k times the whole build: read and decode the inputs,
// align, sample, shuffle, encode and hash.
func BenchmarkBuild50k(b *testing.B) {
	needShared(b)
	spec := benchSpec()
	b.ReportAllocs()
	start := cpuTime()
	defer func() { reportCPU(b, start) }()
	for b.Loop() {
		res, err := Build(context.Background(), spec)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Records) != 50000 {
			b.Fatalf("%d records", len(res.Records))
		}
	}
}

// BenchmarkDecodeBaseline is the yardstick: a plain encoding/json decode of
// the same input files (read included), single goroutine, no validation.
func BenchmarkDecodeBaseline(b *testing.B) {
	needShared(b)
	type rec struct {
		ID          *int     `json:"id"`
		Score       *float64 `json:"score"`
		Instruction string   `json:"instruction"`
		Input       string   `json:"input"`
		Output      string   `json:"output"`
		Prompt      string   `json:"prompt"`
		Response    string   `json:"response"`
	}
	b.ReportAllocs()
	start := cpuTime()
	defer func() { reportCPU(b, start) }()
	for b.Loop() {
		data, err := os.ReadFile(sharedFiles.en)
		if err != nil {
			b.Fatal(err)
		}
		var en []rec
		if err := json.Unmarshal(data, &en); err != nil {
			b.Fatal(err)
		}
		n := len(en)
		for _, p := range []string{sharedFiles.zh, sharedFiles.vi, sharedFiles.flores} {
			data, err := os.ReadFile(p)
			if err != nil {
				b.Fatal(err)
			}
			for _, line := range bytes.Split(data, []byte{'\n'}) {
				if len(line) == 0 {
					continue
				}
				var m map[string]any
				if p != sharedFiles.flores {
					var r rec
					if err := json.Unmarshal(line, &r); err != nil {
						b.Fatal(err)
					}
				} else if err := json.Unmarshal(line, &m); err != nil {
					b.Fatal(err)
				}
				n++
			}
		}
		if n != 52002+16876+51092+997 {
			b.Fatalf("%d records", n)
		}
	}
}

// BenchmarkSample50k times the part after loading: sampling, shuffle,
// encoding, hash and stats, from inputs loaded once.
func BenchmarkSample50k(b *testing.B) {
	needShared(b)
	l := loadInputs(b, sharedFiles.en, sharedFiles.en, map[string]string{"en": sharedFiles.en, "zh": sharedFiles.zh, "vi": sharedFiles.vi}, sharedFiles.flores, []string{"en", "zh", "vi"}, 0.55)
	spec := benchSpec()
	b.ReportAllocs()
	start := cpuTime()
	defer func() { reportCPU(b, start) }()
	for b.Loop() {
		if _, err := Build(context.Background(), spec, WithInputs(l.in)); err != nil {
			b.Fatal(err)
		}
	}
}
