package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// routesFile is the generated file the web client imports.
const routesFile = "web/carcosa-routes.ts"

// TestRoutesTypeScriptUpToDate fails when the committed routes file is not
// what the routes generate now.
func TestRoutesTypeScriptUpToDate(t *testing.T) {
	got, err := routesTypeScript()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(routesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: the routes have changed since it was generated. Regenerate it:\n\tgo generate ./examples/basic\nIt should read:\n%s", routesFile, got)
	}
	if !strings.Contains(string(got), "images: { input: ImagesInput };") {
		t.Errorf("the images route is not typed by its input:\n%s", got)
	}
}

// TestGenTSFlag checks that -gen-ts writes the routes' TypeScript and exits
// 0, without serving and without touching -data.
func TestGenTSFlag(t *testing.T) {
	dir := t.TempDir()
	path, data := filepath.Join(dir, "routes.ts"), filepath.Join(dir, "data")
	code, out := runMain(t, "-gen-ts", path, "-data", data, "-addr", "127.0.0.1:0")
	if code != 0 {
		t.Fatalf("exit code %d, want 0; output:\n%s", code, out)
	}
	if strings.Contains(out, "listening") {
		t.Errorf("-gen-ts served:\n%s", out)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := routesTypeScript()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("-gen-ts wrote:\n%s\nwant:\n%s", got, want)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("-gen-ts made -data %s (Stat: %v)", data, err)
	}
}
