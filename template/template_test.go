package template

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// referenceJSON is one of the authors' templates/*.json files.
type referenceJSON struct {
	PromptInput   string `json:"prompt_input"`
	PromptNoInput string `json:"prompt_no_input"`
}

func loadReference(t *testing.T, name string) referenceJSON {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reference", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var r referenceJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("%s.json: %v", name, err)
	}
	if r.PromptInput == "" || r.PromptNoInput == "" {
		t.Fatalf("%s.json: missing prompt_input or prompt_no_input", name)
	}
	return r
}

// pyFormat is Python's str.format for the three named fields the
// reference uses: every {name} of the format string is replaced by its
// value; the values themselves are never scanned.
func pyFormat(t *testing.T, f string, vals map[string]string) string {
	t.Helper()
	var sb strings.Builder
	for {
		i := strings.IndexByte(f, '{')
		if i < 0 {
			sb.WriteString(f)
			return sb.String()
		}
		j := strings.IndexByte(f[i:], '}')
		if j < 0 {
			t.Fatalf("unbalanced brace in %q", f)
		}
		name := f[i+1 : i+j]
		v, ok := vals[name]
		if !ok {
			t.Fatalf("format field {%s} has no value", name)
		}
		sb.WriteString(f[:i])
		sb.WriteString(v)
		f = f[i+j+1:]
	}
}

// TestRenderMatchesReference renders every template with and without an
// input and compares the prompt with the reference JSON formatted the way
// Prompter.generate_prompt formats it (an empty output_lang).
func TestRenderMatchesReference(t *testing.T) {
	records := []struct{ name, instruction, input string }{
		{"no input", "Give three tips for staying healthy.", ""},
		{"input", "Translate the sentence into French.", "The cat sleeps."},
		{"spaces-only input counts as input", "Summarise.", "  "},
		{"braces are not placeholders", "Fill in {input} and {instruction}.", "x = {output_lang}"},
		{"multilingual", "请把下面的句子翻译成英文。", "Tôi thích đọc sách.\n[en]"},
	}
	for _, name := range []string{"alpaca", "llama", "gemma"} {
		ref := loadReference(t, name)
		for _, rec := range records {
			t.Run(name+"/"+rec.name, func(t *testing.T) {
				f := ref.PromptNoInput
				if rec.input != "" {
					f = ref.PromptInput
				}
				want := pyFormat(t, f, map[string]string{"instruction": rec.instruction, "input": rec.input, "output_lang": ""})
				got, err := Template(name).Render(rec.instruction, rec.input)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("Render:\n got %q\nwant %q", got, want)
				}
			})
		}
	}
}

// TestRenderLiterals pins the strings a reader of the paper cares about,
// independently of the JSON copy.
func TestRenderLiterals(t *testing.T) {
	tests := []struct {
		tmpl               Template
		instruction, input string
		want               string
	}{
		{Alpaca, "Say hi.", "", "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nSay hi.\n\n### Response:\n "},
		{"", "Say hi.", "", "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nSay hi.\n\n### Response:\n "},
		{Alpaca, "Say hi.", "to Ann", "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\nSay hi.\n\n### Input:\nto Ann\n\n### Response:\n "},
		{Llama, "Say hi.", "", "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nSay hi.[/INST]"},
		{Llama, "Say hi.", "to Ann", "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nSay hi.\nto Ann[/INST]"},
		{Gemma, "Say hi.", "", "Say hi.\n"},
		{Gemma, "Say hi.", "to Ann", "Say hi.\nto Ann\n"},
		{Plain, "Say hi.", "to Ann", "Say hi.\nto Ann\n"},
	}
	for _, tt := range tests {
		got, err := tt.tmpl.Render(tt.instruction, tt.input)
		if err != nil {
			t.Fatalf("%s: %v", tt.tmpl, err)
		}
		if got != tt.want {
			t.Errorf("%q.Render(%q, %q)\n got %q\nwant %q", tt.tmpl, tt.instruction, tt.input, got, tt.want)
		}
	}
}

func TestUnknownTemplate(t *testing.T) {
	_, err := Template("chatml").Render("x", "")
	want := `prompt template "chatml" does not exist; use one of alpaca, gemma, llama`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	for _, n := range Names() {
		if err := Template(n).Validate(); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

// fakeEncoder encodes each byte as its value, plus BOS 1 when asked.
type fakeEncoder struct{}

func (fakeEncoder) Encode(s string, special bool) ([]int, error) {
	var out []int
	if special {
		out = append(out, 1)
	}
	for _, b := range []byte(s) {
		out = append(out, int(b))
	}
	return out, nil
}

func TestEncode(t *testing.T) {
	p, r, err := Encode(fakeEncoder{}, "ab", "c", 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, []int32{1, 'a', 'b'}) || !reflect.DeepEqual(r, []int32{'c', 2}) {
		t.Fatalf("Encode = %v, %v", p, r)
	}
	if _, r, _ = Encode(fakeEncoder{}, "ab", "c", -1); !reflect.DeepEqual(r, []int32{'c'}) {
		t.Fatalf("no eos: response %v", r)
	}
	if _, _, err := Encode(nil, "a", "b", 2); err == nil {
		t.Fatal("nil encoder: no error")
	}
}

func TestLabels(t *testing.T) {
	const I = IgnoreIndex
	tests := []struct {
		name              string
		prompt, response  []int32
		maxLen            int
		ids, labels       []int32
		truncated, usable bool
	}{
		{"whole", []int32{1, 5, 6}, []int32{7, 2}, 0, []int32{1, 5, 6, 7, 2}, []int32{I, I, I, 7, 2}, false, true},
		{"fits exactly", []int32{1, 5}, []int32{7, 2}, 4, []int32{1, 5, 7, 2}, []int32{I, I, 7, 2}, false, true},
		{"cut in the response", []int32{1, 5}, []int32{7, 8, 2}, 3, []int32{1, 5, 7}, []int32{I, I, 7}, true, true},
		{"cut in the prompt", []int32{1, 5, 6, 9}, []int32{7, 2}, 3, []int32{1, 5, 6}, []int32{I, I, I}, true, false},
		{"response only at position 0", nil, []int32{7}, 0, []int32{7}, []int32{7}, false, false},
		{"empty", nil, nil, 0, []int32{}, []int32{}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, labels, truncated, ok := Labels(tt.prompt, tt.response, tt.maxLen)
			if !reflect.DeepEqual(ids, tt.ids) || !reflect.DeepEqual(labels, tt.labels) || truncated != tt.truncated || ok != tt.usable {
				t.Errorf("Labels = %v %v %v %v, want %v %v %v %v", ids, labels, truncated, ok, tt.ids, tt.labels, tt.truncated, tt.usable)
			}
		})
	}
}

// TestKey: the cache-key name of a template changes with its text, and ""
// is the default template's.
func TestKey(t *testing.T) {
	if Template("").Key() != Alpaca.Key() {
		t.Errorf(`"" keys as %q, alpaca as %q`, Template("").Key(), Alpaca.Key())
	}
	seen := map[string]string{}
	for _, n := range Names() {
		k := Template(n).Key()
		if !strings.HasPrefix(k, n+"@") || len(k) != len(n)+1+16 {
			t.Errorf("%s: key %q, want %s@<16 hex digits>", n, k, n)
		}
		if prev, dup := seen[k[len(n):]]; dup {
			t.Errorf("%s and %s have the same text hash", n, prev)
		}
		seen[k[len(n):]] = n
	}
	old := formats[Alpaca]
	defer func() { formats[Alpaca] = old }()
	before := Alpaca.Key()
	formats[Alpaca] = format{input: old.input, noInput: strings.TrimSuffix(old.noInput, " {output_lang}") + "{output_lang}"}
	if Alpaca.Key() == before {
		t.Error("removing Alpaca's trailing space did not change its key")
	}
}
