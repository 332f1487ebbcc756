package carcosa_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// cloudSDKs are the module paths that only the driver packages
// (storage/s3, storage/gcs, storage/azure) may bring in.
var cloudSDKs = []string{"github.com/aws/", "cloud.google.com/go/storage", "github.com/Azure/"}

// mayLinkCloudSDKs are the packages of this module allowed to import them:
// the drivers, and the commands, examples and test helpers that import the
// drivers.
func mayLinkCloudSDKs(pkg string) bool {
	const mod = "github.com/carcosa-dev/carcosa/"
	for _, p := range []string{"storage/s3", "storage/gcs", "storage/azure", "cmd/", "examples/", "internal/testenv"} {
		if strings.HasPrefix(pkg, mod+p) {
			return true
		}
	}
	return false
}

// A program that keeps its files on local disk must not link the cloud
// SDKs: no package of the library, the root and storage included, may
// depend on them. go list reads only the non-test imports.
func TestLibraryLinksNoCloudSDK(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not in PATH")
	}
	out, err := exec.Command("go", "list", "github.com/carcosa-dev/carcosa/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []string
	for _, p := range strings.Fields(string(out)) {
		if !mayLinkCloudSDKs(p) {
			pkgs = append(pkgs, p)
		}
	}
	for _, p := range []string{"github.com/carcosa-dev/carcosa", "github.com/carcosa-dev/carcosa/storage"} {
		if !slices.Contains(pkgs, p) {
			t.Fatalf("go list did not list %s", p)
		}
	}
	args := append([]string{"list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}"}, pkgs...)
	out, err = exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list -f {{.Deps}}: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, " ")
		for _, dep := range strings.Fields(deps) {
			for _, sdk := range cloudSDKs {
				if strings.HasPrefix(dep, sdk) {
					t.Errorf("%s depends on %s; only storage/s3, storage/gcs and storage/azure may import a cloud SDK", pkg, dep)
					break
				}
			}
		}
	}
}
