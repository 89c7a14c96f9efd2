package nprand

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/numpy.golden from python3-numpy's output")

const (
	script = "testdata/numpy_draws.py"
	golden = "testdata/numpy.golden"
)

// drawCase is one line of numpy_draws.py's output: a seed (an integer or a
// seed array), an operation and its arguments, and numpy's values.
type drawCase struct {
	Seed   json.RawMessage   `json:"seed"`
	Op     string            `json:"op"`
	Args   []json.RawMessage `json:"args"`
	Values []json.Number     `json:"values,omitempty"`
	// Golden summary of Values.
	Count  int      `json:"count,omitempty"`
	SHA256 string   `json:"sha256,omitempty"`
	Head   []string `json:"head,omitempty"`
}

func (c drawCase) String() string {
	a, _ := json.Marshal(c.Args)
	return fmt.Sprintf("seed %s %s%s", c.Seed, c.Op, a)
}

func argInt(t *testing.T, c drawCase, i int) int64 {
	t.Helper()
	v, err := strconv.ParseInt(string(c.Args[i]), 10, 64)
	if err != nil {
		t.Fatalf("%v: argument %d: %v", c, i, err)
	}
	return v
}

// goValues recomputes a case with nprand, as decimal strings (floats as the
// integer of their bits, as the script prints them).
func goValues(t *testing.T, c drawCase) []string {
	t.Helper()
	r := &RandomState{}
	var seeds []uint32
	if err := json.Unmarshal(c.Seed, &seeds); err == nil {
		r.SeedArray(seeds)
	} else {
		var s uint32
		if err := json.Unmarshal(c.Seed, &s); err != nil {
			t.Fatalf("%v: seed: %v", c, err)
		}
		r.Seed(s)
	}
	var out []string
	addInt := func(v int64) { out = append(out, strconv.FormatInt(v, 10)) }
	addUint := func(v uint64) { out = append(out, strconv.FormatUint(v, 10)) }
	switch c.Op {
	case "state":
		for range argInt(t, c, 0) {
			r.Uint32()
		}
		key, pos := r.Key()
		for _, k := range key {
			addUint(uint64(k))
		}
		addInt(int64(pos))
	case "uint32":
		for range argInt(t, c, 0) {
			addUint(uint64(r.Uint32()))
		}
	case "random_sample":
		for range argInt(t, c, 0) {
			addUint(math.Float64bits(r.RandomSample()))
		}
	case "randint", "randint_scalar":
		low, high := argInt(t, c, 0), argInt(t, c, 1)
		for range argInt(t, c, 2) {
			addInt(r.Randint(low, high))
		}
	case "permutation":
		for _, v := range r.Permutation(int(argInt(t, c, 0))) {
			addInt(int64(v))
		}
	case "choice_noreplace":
		idx, err := r.ChoiceNoReplace(int(argInt(t, c, 0)), int(argInt(t, c, 1)))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range idx {
			addInt(int64(v))
		}
	case "choice_scalar":
		nn := int(argInt(t, c, 0))
		for range argInt(t, c, 1) {
			addInt(int64(r.Choice(nn)))
		}
	case "choice_p":
		var p []float64
		if err := json.Unmarshal(c.Args[0], &p); err != nil {
			t.Fatal(err)
		}
		idx, err := r.ChoiceP(p, int(argInt(t, c, 1)))
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		for _, v := range idx {
			addInt(int64(v))
		}
	default:
		t.Fatalf("unknown op %q in %v", c.Op, c)
	}
	return out
}

func summarize(vals []string) (string, []string) {
	h := sha256.New()
	for _, v := range vals {
		h.Write([]byte(v))
		h.Write([]byte{'\n'})
	}
	head := vals
	if len(head) > 4 {
		head = head[:4]
	}
	return hex.EncodeToString(h.Sum(nil)), append([]string(nil), head...)
}

func readCases(t *testing.T, data []byte) []drawCase {
	t.Helper()
	var cases []drawCase
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<26)
	for sc.Scan() {
		var c drawCase
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("bad case line %q: %v", sc.Text(), err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// numpyOutput runs the script with Debian's python3-numpy. CI installs it
// (.ci/run) and sets CROSSIN_REQUIRE_NUMPY=1, so a missing numpy fails there
// instead of skipping.
func numpyOutput(t *testing.T) []byte {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = "python3"
	}
	missing := func(why string) {
		if os.Getenv("CROSSIN_REQUIRE_NUMPY") == "1" {
			t.Fatalf("python3-numpy is required (CROSSIN_REQUIRE_NUMPY=1) but %s; apt-get install python3-numpy", why)
		}
		t.Skipf("skipping the live comparison with numpy: %s (apt-get install python3-numpy)", why)
	}
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		missing(fmt.Sprintf("%s cannot import numpy (%v)", py, err))
	}
	cmd := exec.Command(py, script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", py, script, err, stderr.Bytes())
	}
	return out
}

// TestAgainstNumpy compares every draw with numpy's own, value by value.
func TestAgainstNumpy(t *testing.T) {
	if testing.Short() && !*update {
		t.Skip("-short: the golden test covers the same cases")
	}
	cases := readCases(t, numpyOutput(t))
	total := 0
	var gold bytes.Buffer
	for _, c := range cases {
		got := goValues(t, c)
		total += len(c.Values)
		if len(got) != len(c.Values) {
			t.Errorf("%v: %d values, numpy has %d", c, len(got), len(c.Values))
			continue
		}
		for i, v := range c.Values {
			if got[i] != v.String() {
				t.Errorf("%v: value %d = %s, numpy %s", c, i, got[i], v)
				break
			}
		}
		sum, head := summarize(got)
		g := drawCase{Seed: c.Seed, Op: c.Op, Args: c.Args, Count: len(got), SHA256: sum, Head: head}
		b, _ := json.Marshal(g)
		gold.Write(append(b, '\n'))
	}
	if total < 100000 {
		t.Errorf("only %d draws compared; the script must cover at least 10^5", total)
	}
	t.Logf("%d cases, %d values equal to numpy's", len(cases), total)
	if *update && !t.Failed() {
		if err := os.WriteFile(golden, gold.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGolden checks the same cases without Python, against hashes of
// numpy's values recorded by `go test -run TestAgainstNumpy -update`.
func TestGolden(t *testing.T) {
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (regenerate with go test ./mixture/nprand -run TestAgainstNumpy -update)", err)
	}
	cases := readCases(t, data)
	if len(cases) < 100 {
		t.Fatalf("golden file has %d cases", len(cases))
	}
	total := 0
	for _, c := range cases {
		got := goValues(t, c)
		sum, head := summarize(got)
		total += len(got)
		if len(got) != c.Count || sum != c.SHA256 {
			t.Errorf("%v: %d values, sha256 %s, head %v; numpy: %d values, sha256 %s, head %v", c, len(got), sum[:12], head, c.Count, c.SHA256[:12], c.Head)
		}
	}
	if total < 100000 {
		t.Errorf("only %d draws checked", total)
	}
}

func TestRandintPanicsOnEmptyRange(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Randint(3, 3) did not panic")
		}
	}()
	New(0).Randint(3, 3)
}

func TestChoicePErrors(t *testing.T) {
	for _, tt := range []struct {
		p    []float64
		want string
	}{
		{nil, "non-empty"},
		{[]float64{0.5, 0.6}, "sum to 1"},
		{[]float64{-0.5, 1.5}, "non-negative"},
	} {
		if _, err := New(0).ChoiceP(tt.p, 1); err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
			t.Errorf("ChoiceP(%v) err = %v, want %q", tt.p, err, tt.want)
		}
	}
	if _, err := New(0).ChoiceNoReplace(3, 4); err == nil {
		t.Error("ChoiceNoReplace(3, 4) succeeded")
	}
}
