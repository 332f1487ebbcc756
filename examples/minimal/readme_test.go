package main

import (
	"bytes"
	"os"
	"testing"
)

// TestREADMEShowsThisProgram checks that the README's first Go block is
// this program, byte for byte, so that the README shows a program that
// compiles and this file never drifts from it.
func TestREADMEShowsThisProgram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := bytes.Cut(readme, []byte("```go\n"))
	if ok {
		block, _, ok = bytes.Cut(block, []byte("```\n"))
	}
	if !ok {
		t.Fatal("README.md has no ```go block")
	}
	prog, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(block, prog) {
		t.Errorf("the README's first Go block differs from examples/minimal/main.go; copy main.go into it.\nREADME:\n%s", block)
	}
}
