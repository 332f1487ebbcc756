package carcosa

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa/internal/apierr"
)

// Every exported Err variable of the package is the sentinel of package
// apierr with its name, every sentinel is exported, and each is registered
// under its own code, so that stored codes find their status.
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
					sel, ok := vs.Values[i].(*ast.SelectorExpr)
					if x, isIdent := sel.X.(*ast.Ident); !ok || !isIdent || x.Name != "apierr" || sel.Sel.Name != id.Name {
						t.Errorf("%s: %s is not apierr.%s", fset.Position(id.Pos()), id.Name, id.Name)
					}
				}
			}
		}
	}
	if len(names) < 40 {
		t.Fatalf("found only %d Err variables: %v", len(names), names)
	}
	all := apierr.Sentinels()
	if len(all) != len(names) {
		t.Errorf("apierr holds %d sentinels; the package exports %d: %v", len(all), len(names), names)
	}
	for code, e := range all {
		if e.Code != code {
			t.Errorf("sentinelsByCode[%q] has the code %q", code, e.Code)
		}
	}
	// The variables themselves, by value: each is the registered one.
	for _, e := range []*Error{ErrNoQuotas, ErrNoAuditLog, ErrNotQuarantined, ErrURLRefused, ErrURLFetch, ErrImageTooLarge, ErrMetadataTooLarge} {
		if s, ok := apierr.Lookup(e.Code); !ok || s != e {
			t.Errorf("%s is not the registered sentinel", e.Code)
		}
	}
}
