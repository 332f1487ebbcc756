package testenv

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TypeScript is the version of the TypeScript compiler TypeCheck runs.
const TypeScript = "5.9.3"

// TypeCheck type-checks the TypeScript files of dir (names relative to
// dir) with tsc --noEmit --strict, and fails the test with tsc's output on
// a type error. tsc comes through npm exec from the npm registry, once,
// then from npm's cache. Without npm, or when npm cannot get tsc, the test
// skips with a message, except under CI=true, where it fails.
func TypeCheck(t testing.TB, dir string, files ...string) {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("tsc is required under CI: "+format, args...)
		}
		t.Skipf("tsc is unavailable, so the TypeScript is not type-checked: "+format, args...)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		unavailable("%v (install Node.js and npm)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"exec", "--yes", "--prefer-offline", "--package=typescript@" + TypeScript, "--",
		"tsc", "--noEmit", "--strict", "--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler"}
	cmd := exec.CommandContext(ctx, npm, append(args, files...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false", "npm_config_fund=false")
	out, err := cmd.CombinedOutput()
	switch {
	case err == nil:
	case strings.Contains(string(out), "error TS"):
		t.Fatalf("tsc found type errors:\n%s", out)
	default:
		unavailable("npm exec typescript@%s: %v\n%s", TypeScript, err, out)
	}
}
