package jobdata

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/engine/train"
	"github.com/crossin-lab/crossin/template"
)

// TrainFile is the name of the tokenized training input.
const TrainFile = "train.tokens.jsonl"

// Pair is one tokenized instruction record: the prompt (with the
// tokenizer's special tokens) and the response (ending in EOS).
type Pair struct {
	Prompt, Response []int32
}

// TrainLine is one example of train.tokens.jsonl: the model input and its
// labels (template.IgnoreIndex over the prompt; not shifted), and the
// optimiser step it belongs to.
type TrainLine struct {
	Step     int     `json:"step"`
	InputIDs []int32 `json:"input_ids"`
	Labels   []int32 `json:"labels"`
}

// Steps says how examples become optimiser steps.
type Steps struct {
	BatchSize int     // micro-batch size (>= 1)
	GradAccum int     // micro-batches per optimiser step (>= 1)
	Epochs    float64 // passes over the data; ignored when MaxSteps > 0
	MaxSteps  int     // > 0: exactly this many steps
	MaxLength int     // block size: sequences are cut from the right at it (0: no limit)
}

// TrainStats counts what BuildTrain did; the runner reports them per stage.
type TrainStats struct {
	Examples  int `json:"examples"`  // examples kept
	Truncated int `json:"truncated"` // examples cut at MaxLength (kept if a response token is left)
	Dropped   int `json:"dropped"`   // examples with no response token within MaxLength
	Steps     int `json:"steps"`     // optimiser steps
	Lines     int `json:"lines"`     // lines written (examples x passes)
	Tokens    int `json:"tokens"`    // input tokens over all lines
}

// BuildTrain cuts every pair at the block size, drops (and counts) those
// with no response token left, and lays the kept examples out in training
// order: micro-batch m (epochs concatenated) takes BatchSize examples from
// epoch m/perEpoch's permutation (train.EpochOrder: a Fisher-Yates shuffle
// from a PCG seeded by (seed, epoch)), and optimiser step s is micro-batches
// s*GradAccum .. s*GradAccum+GradAccum-1. This is the order crossin's
// embedded engine has always used, now decided here once for every
// trainer.
func BuildTrain(pairs []Pair, st Steps, seed int64) ([]TrainLine, TrainStats, error) {
	var stats TrainStats
	type ex struct{ ids, labels []int32 }
	var kept []ex
	for _, p := range pairs {
		ids, labels, truncated, ok := template.Labels(p.Prompt, p.Response, st.MaxLength)
		if truncated {
			stats.Truncated++
		}
		if !ok {
			stats.Dropped++
			continue
		}
		kept = append(kept, ex{ids, labels})
	}
	stats.Examples = len(kept)
	if len(kept) == 0 {
		return nil, stats, fmt.Errorf("none of %d examples has a response token within max_length %d", len(pairs), st.MaxLength)
	}
	order, err := Order(len(kept), st, seed)
	if err != nil {
		return nil, stats, err
	}
	stats.Steps = len(order)
	var lines []TrainLine
	for s, idx := range order {
		for _, i := range idx {
			lines = append(lines, TrainLine{Step: s, InputIDs: kept[i].ids, Labels: kept[i].labels})
			stats.Tokens += len(kept[i].ids)
		}
	}
	stats.Lines = len(lines)
	return lines, stats, nil
}

// Order returns, per optimiser step, the indices of the examples it trains
// on (its micro-batches concatenated). See BuildTrain.
func Order(n int, st Steps, seed int64) ([][]int, error) {
	if n <= 0 {
		return nil, fmt.Errorf("no training examples")
	}
	bs, accum := max(1, st.BatchSize), max(1, st.GradAccum)
	perEpoch := (n + bs - 1) / bs
	stepsPerEpoch := max(1, perEpoch/accum)
	var total int
	switch {
	case st.MaxSteps > 0:
		total = st.MaxSteps
	case st.Epochs > 0:
		total = int(math.Ceil(st.Epochs * float64(stepsPerEpoch)))
	default:
		return nil, fmt.Errorf("set epochs or max_steps")
	}
	orders := map[int][]int{}
	out := make([][]int, total)
	for s := range total {
		for k := range accum {
			m := s*accum + k
			epoch, i := m/perEpoch, m%perEpoch
			ord, ok := orders[epoch]
			if !ok {
				ord = train.EpochOrder(n, seed, epoch) // the engine's own order, one home
				orders = map[int][]int{epoch: ord}     // keep one epoch in memory
			}
			out[s] = append(out[s], ord[i*bs:min(n, (i+1)*bs)]...)
		}
	}
	return out, nil
}

// WriteTrain writes lines atomically as train.tokens.jsonl.
func WriteTrain(path string, lines []TrainLine) error {
	var buf bytes.Buffer
	for _, l := range lines {
		buf.WriteString(`{"step":`)
		buf.WriteString(strconv.Itoa(l.Step))
		buf.WriteString(`,"input_ids":`)
		appendInts(&buf, l.InputIDs)
		buf.WriteString(`,"labels":`)
		appendInts(&buf, l.Labels)
		buf.WriteString("}\n")
	}
	return atomicfile.Write(path, buf.Bytes(), 0o644)
}

func appendInts(buf *bytes.Buffer, v []int32) {
	buf.WriteByte('[')
	for i, x := range v {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(strconv.FormatInt(int64(x), 10))
	}
	buf.WriteByte(']')
}

// ReadTrain reads train.tokens.jsonl and groups it by optimiser step. It
// checks what a trainer relies on: steps start at 0 and grow by one, ids
// are in [0, vocab) (vocab <= 0: unchecked), labels have the length of the
// input and are either IgnoreIndex or the id at their position.
func ReadTrain(path string, vocab int) ([][]TrainLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseTrain(f, path, vocab)
}

// ParseTrain is ReadTrain on a reader; name is used in errors (name:line).
func ParseTrain(r io.Reader, name string, vocab int) ([][]TrainLine, error) {
	var steps [][]TrainLine
	err := eachLine(r, name, maxTokensLine, func(line int, b []byte) error {
		var l TrainLine
		if err := decodeStrict(b, &l); err != nil {
			return fmt.Errorf("%s:%d: %v (want {\"step\", \"input_ids\", \"labels\"})", name, line, err)
		}
		switch {
		case l.Step == len(steps):
			steps = append(steps, nil)
		case l.Step == len(steps)-1 && len(steps) > 0:
		default:
			return fmt.Errorf("%s:%d: step %d after step %d: steps must start at 0 and grow by one", name, line, l.Step, len(steps)-1)
		}
		if len(l.InputIDs) == 0 || len(l.InputIDs) != len(l.Labels) {
			return fmt.Errorf("%s:%d: %d input_ids and %d labels (want the same, non-zero number)", name, line, len(l.InputIDs), len(l.Labels))
		}
		for i, id := range l.InputIDs {
			if id < 0 || (vocab > 0 && int(id) >= vocab) {
				return fmt.Errorf("%s:%d: token id %d outside the model's vocabulary (size %d): data tokenized for another model?", name, line, id, vocab)
			}
			if lb := l.Labels[i]; lb != template.IgnoreIndex && lb != id {
				return fmt.Errorf("%s:%d: label %d at position %d is neither -100 nor the input id %d (labels are not shifted)", name, line, lb, i, id)
			}
		}
		steps[len(steps)-1] = append(steps[len(steps)-1], l)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("%s: no examples", name)
	}
	return steps, nil
}

// InputsDigest is a digest of a job's tokenized inputs as a trainer reads
// them; trainers/hf computes the same (`crossin-trainer-hf --inputs-digest`),
// and a test compares the two.
func InputsDigest(kind string, paths []string) (map[string]any, error) {
	h := sha256.New()
	ints := func(v []int32) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = strconv.Itoa(int(x))
		}
		return strings.Join(s, ",")
	}
	if kind == "train" {
		steps, examples := 0, 0
		for _, p := range paths {
			st, err := ReadTrain(p, 0)
			if err != nil {
				return nil, err
			}
			for _, lines := range st {
				for _, l := range lines {
					fmt.Fprintf(h, "%d:%s:%s\n", steps, ints(l.InputIDs), ints(l.Labels))
					examples++
				}
				steps++
			}
		}
		return map[string]any{"kind": kind, "steps": steps, "examples": examples, "sha256": hex.EncodeToString(h.Sum(nil))}, nil
	}
	n := 0
	for _, p := range paths {
		ps, err := ReadJSONL[PromptLine](p)
		if err != nil {
			return nil, err
		}
		for _, l := range ps {
			opts := make([]string, len(l.Options))
			for i, o := range l.Options {
				opts[i] = ints(o)
			}
			st := make([]int32, len(l.ScoreTokens))
			for i, k := range l.ScoreTokens {
				st[i] = int32(k)
			}
			fmt.Fprintf(h, "%s\t%s\t%s\t%s\t%s\n", l.ID, l.Language, ints(l.PromptIDs), strings.Join(opts, ";"), ints(st))
			n++
		}
	}
	return map[string]any{"kind": kind, "prompts": n, "sha256": hex.EncodeToString(h.Sum(nil))}, nil
}
