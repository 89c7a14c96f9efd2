package schema

import (
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/crossin-lab/crossin/template"
)

// TestTemplateEnumMatchesPackage: the schema's #Template lists exactly the
// templates package template implements, so a spec can name no template
// that no trainer has, and every template is reachable from a spec.
func TestTemplateEnumMatchesPackage(t *testing.T) {
	m := regexp.MustCompile(`(?m)^#Template:\s*(.+)$`).FindSubmatch([]byte(Source))
	if m == nil {
		t.Fatal("no #Template in the schema")
	}
	var enum []string
	for _, alt := range strings.Split(string(m[1]), "|") {
		enum = append(enum, strings.Trim(strings.TrimSpace(alt), `"*`))
	}
	sort.Strings(enum)
	if want := template.Names(); !reflect.DeepEqual(enum, want) {
		t.Errorf("schema #Template = %v, package template has %v", enum, want)
	}
}
