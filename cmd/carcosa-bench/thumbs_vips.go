//go:build cgo

package main

import (
	"runtime"
	"slices"

	"github.com/carcosa-dev/carcosa/transform"
	"github.com/carcosa-dev/carcosa/transform/vips"
)

// With cgo, -thumbs measures the libvips engine too, beside the pure-Go
// one.
func init() {
	thumbsEngines["vips"] = func() (transform.Engine, error) {
		// As many libvips threads an image as vipsthumbnail uses by
		// default, one a core, so that the two differ only in the way
		// in.
		return vips.New(&vips.Options{Workers: runtime.NumCPU()})
	}
	thumbsKinds = slices.Insert(thumbsKinds, 1, thumbsKind{Name: "carcosa-vips", run: carcosaKind("vips"),
		Doc: "`thumbs-worker -engine vips`: the libvips engine (`transform/vips`, `Options{Workers: runtime.NumCPU()}`, libvips' default threading as vipsthumbnail's), the same spec and limits; the header is read in Go, then libvips' thumbnail shrinks on load."})
}
