package transform_test

import (
	"testing"

	"github.com/carcosa-dev/carcosa/transform"
	"github.com/carcosa-dev/carcosa/transform/enginetest"
)

func TestEngineConformance(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T, lim transform.Limits) transform.Engine {
		return transform.New(lim)
	})
}
