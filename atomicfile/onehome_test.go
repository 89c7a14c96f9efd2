package atomicfile_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoWrappers keeps this package the one home of atomic writes: no
// other package may define a function that only passes its arguments on to
// atomicfile (a wrapper hides the permissions and whether parents are
// created; call Write, WriteAll or WriteFunc directly). Functions that add
// content (encode a value, pass a closure) are not wrappers.
func TestNoWrappers(t *testing.T) {
	root := ".."
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "shared" || n == "atomicfile") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil || len(fd.Body.List) != 1 {
				continue
			}
			ret, ok := fd.Body.List[0].(*ast.ReturnStmt)
			if !ok || len(ret.Results) != 1 {
				continue
			}
			call, ok := ret.Results[0].(*ast.CallExpr)
			if !ok {
				continue
			}
			passesOn := true
			for _, a := range call.Args {
				switch a.(type) {
				case *ast.Ident, *ast.BasicLit:
				default:
					passesOn = false
				}
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && passesOn {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "atomicfile" {
					t.Errorf("%s: %s only wraps atomicfile.%s; call it directly", fset.Position(fd.Pos()), fd.Name.Name, sel.Sel.Name)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
