//go:build cgo

package vips_test

import (
	"testing"

	"github.com/carcosa-dev/carcosa/transform"
	"github.com/carcosa-dev/carcosa/transform/enginetest"
	"github.com/carcosa-dev/carcosa/transform/vips"
)

func TestEngineConformance(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T, lim transform.Limits) transform.Engine {
		e, err := vips.New(&vips.Options{Limits: lim})
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}
