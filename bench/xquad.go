package bench

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// XQuADLanguages are Cross-XQuAD's default languages (the CrossIn paper's).
var XQuADLanguages = []string{"English", "Chinese", "Vietnamese", "Spanish"}

// XQuADOptions configures BuildXQuAD.
type XQuADOptions struct {
	// Languages are the languages to include (SeaEval names or ISO codes);
	// nil means XQuADLanguages. English is always used to choose the
	// distractors, whether or not it is included.
	Languages []string
	// Seed drives the choice of distractors and the option order.
	Seed uint64
}

// squad is the part of a SQuAD v1.1 file that Cross-XQuAD needs.
type squad struct {
	Data []struct {
		Title      string `json:"title"`
		Paragraphs []struct {
			Context string `json:"context"`
			QAs     []struct {
				ID       string `json:"id"`
				Question string `json:"question"`
				Answers  []struct {
					Text string `json:"text"`
				} `json:"answers"`
			} `json:"qas"`
		} `json:"paragraphs"`
	} `json:"data"`
}

// xqItem is one XQuAD question in one language.
type xqItem struct {
	id, context, question, answer string
	article, paragraph            int
}

// readXQuAD reads xquad.<code>.json from dir, in file order.
func readXQuAD(dir, code string) ([]xqItem, error) {
	path := filepath.Join(dir, "xquad."+code+".json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read XQuAD: %w (expected the XQuAD files xquad.<lang>.json in %s)", err, dir)
	}
	var s squad
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: bad JSON: %v (expected SQuAD v1.1 format)", path, err)
	}
	var out []xqItem
	for a, art := range s.Data {
		for p, par := range art.Paragraphs {
			for _, qa := range par.QAs {
				if len(qa.Answers) == 0 || strings.TrimSpace(qa.Answers[0].Text) == "" {
					return nil, fmt.Errorf("%s: question %s has no answer", path, qa.ID)
				}
				out = append(out, xqItem{id: qa.ID, context: par.Context, question: qa.Question,
					answer: strings.TrimSpace(qa.Answers[0].Text), article: a, paragraph: p})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no questions", path)
	}
	return out, nil
}

// BuildXQuAD builds Cross-XQuAD, a parallel four-option multiple-choice
// version of XQuAD, from the XQuAD files in dir (xquad.en.json, ...).
//
// The paper's multiple-choice version is not public, so the construction is
// crossin's own, chosen so that every language sees the same question:
//
//   - Every XQuAD question becomes one item; its id is the XQuAD question id,
//     which is identical across the XQuAD languages (checked).
//   - The options are the gold answer and three distractors: answers to
//     other questions, preferring ones from the same paragraph, then from
//     the same article, then from anywhere. Within each tier candidates are
//     taken in a random order drawn from a PCG seeded with Seed and the
//     question id, so one question's options do not depend on any other's.
//   - Distractors are chosen once, by id, using the English answers; each
//     language then takes the answers of the same ids, so the options are
//     parallel translations. A candidate is skipped if, in any built
//     language, its answer equals, contains or is contained in (ignoring
//     case and surrounding space and punctuation) the gold answer or an
//     already chosen option, so that no language has duplicate or nested
//     options that answer extraction could confuse.
//   - The four options are shuffled once with the same PCG and the same
//     order is used in every language, so the gold letter is identical
//     across languages.
//
// The result is deterministic for a given dir, language list and seed.
func BuildXQuAD(dir string, opts XQuADOptions) (*Benchmark, error) {
	langs := opts.Languages
	if len(langs) == 0 {
		langs = XQuADLanguages
	}
	names, err := LanguageNames(langs)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("build Cross-XQuAD: no languages")
	}
	load := func(name string) ([]xqItem, error) {
		code, err := LanguageCode(name)
		if err != nil {
			return nil, err
		}
		return readXQuAD(dir, code)
	}
	en, err := load("English")
	if err != nil {
		return nil, err
	}
	per := map[string][]xqItem{}
	for _, l := range names {
		if l == "English" {
			per[l] = en
			continue
		}
		items, err := load(l)
		if err != nil {
			return nil, err
		}
		if len(items) != len(en) {
			return nil, fmt.Errorf("build Cross-XQuAD: %s has %d questions, English %d; the XQuAD files must be parallel", l, len(items), len(en))
		}
		for i := range items {
			if items[i].id != en[i].id {
				return nil, fmt.Errorf("build Cross-XQuAD: question %d is %s in %s but %s in English; the XQuAD files must list the same ids in the same order", i+1, items[i].id, l, en[i].id)
			}
		}
		per[l] = items
	}

	var questions []*Question
	for i, q := range en {
		rng := rand.New(rand.NewPCG(opts.Seed, hashID(q.id)))
		opt := []int{i} // indices into en; the gold first
		for tier := 0; tier < 3 && len(opt) < 4; tier++ {
			var cands []int
			for j, c := range en {
				if j == i {
					continue
				}
				samePar := c.article == q.article && c.paragraph == q.paragraph
				sameArt := c.article == q.article
				if (tier == 0 && samePar) || (tier == 1 && sameArt && !samePar) || (tier == 2 && !sameArt) {
					cands = append(cands, j)
				}
			}
			rng.Shuffle(len(cands), func(a, b int) { cands[a], cands[b] = cands[b], cands[a] })
			for _, j := range cands {
				if len(opt) == 4 {
					break
				}
				if distinct(per, names, opt, j) {
					opt = append(opt, j)
				}
			}
		}
		if len(opt) < 4 {
			return nil, fmt.Errorf("build Cross-XQuAD: question %s: found only %d distinct options; need 4", q.id, len(opt))
		}
		perm := rng.Perm(4)
		order := make([]int, 4)
		gold := -1
		for pos, k := range perm {
			order[pos] = opt[k]
			if k == 0 {
				gold = pos
			}
		}
		nq := &Question{ID: q.id, Items: map[string]*Item{}}
		for _, l := range names {
			items := per[l]
			it := &Item{Context: items[i].context, Question: items[i].question, AnswerIndex: gold}
			for pos, j := range order {
				it.Choices = append(it.Choices, "("+Letter(pos)+") "+items[j].answer)
			}
			it.Answer = it.Choices[gold]
			nq.Languages = append(nq.Languages, l)
			nq.Items[l] = it
		}
		questions = append(questions, nq)
	}
	return New("cross_xquad", questions)
}

// distinct reports whether candidate j's answer differs from every chosen
// option's answer in every language.
func distinct(per map[string][]xqItem, langs []string, chosen []int, j int) bool {
	for _, l := range langs {
		cj := normAnswer(per[l][j].answer)
		if cj == "" {
			return false
		}
		for _, k := range chosen {
			ck := normAnswer(per[l][k].answer)
			if cj == ck || strings.Contains(cj, ck) || strings.Contains(ck, cj) {
				return false
			}
		}
	}
	return true
}

// normAnswer folds case and trims space and punctuation for comparing
// answers.
func normAnswer(s string) string {
	return strings.ToLower(strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) }))
}

func hashID(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}
