package carcosa

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every exported Err variable of the package is a sentinel made by
// sentinel(), and so is in sentinelsByCode, under its own code.
func TestSentinelsByCodeIsComplete(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var names []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !id.IsExported() || !strings.HasPrefix(id.Name, "Err") {
						continue
					}
					names = append(names, id.Name)
					call, ok := vs.Values[i].(*ast.CallExpr)
					if fn, isIdent := call.Fun.(*ast.Ident); !ok || !isIdent || fn.Name != "sentinel" {
						t.Errorf("%s: %s is not made by sentinel(...)", fset.Position(id.Pos()), id.Name)
					}
				}
			}
		}
	}
	if len(names) < 40 {
		t.Fatalf("found only %d Err variables: %v", len(names), names)
	}
	if len(sentinelsByCode) != len(names) {
		t.Errorf("sentinelsByCode holds %d sentinels; the package declares %d: %v", len(sentinelsByCode), len(names), names)
	}
	for code, e := range sentinelsByCode {
		if e.Code != code {
			t.Errorf("sentinelsByCode[%q] has the code %q", code, e.Code)
		}
	}
	// The variables themselves, by value: each is the registered one.
	for _, e := range []*Error{ErrNoQuotas, ErrNoAuditLog, ErrNotQuarantined, ErrURLRefused, ErrURLFetch, ErrImageTooLarge, ErrMetadataTooLarge} {
		if sentinelsByCode[e.Code] != e {
			t.Errorf("%s is not in sentinelsByCode", e.Code)
		}
	}
}
