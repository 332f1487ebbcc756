package carcosa_test

import (
	"log/slog"
	"math"
	"net/netip"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/quota"
	"github.com/carcosa-dev/carcosa/safefetch"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store/memstore"
	"github.com/carcosa-dev/carcosa/transform"
)

// WithDefaults fills every default, keeps what is set, and changes nothing
// of the caller's Config, nested slices, maps and pointers included; nor
// does New.
func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	got := carcosa.Config{}.WithDefaults()
	want := carcosa.Config{
		BasePath:       "/",
		SignedURLTTL:   time.Hour,
		PresignTTL:     time.Hour,
		ProcessTimeout: 10 * time.Minute,
		IdleTimeout:    time.Minute,
		UploadTTL:      24 * time.Hour,
		IdleUploadTTL:  time.Hour,
		TransformLimits: transform.Limits{
			MaxPixels:      transform.DefaultMaxPixels,
			MaxMemory:      transform.DefaultMaxMemory,
			MaxSide:        transform.DefaultMaxSide,
			MaxInputBytes:  transform.DefaultMaxInputBytes,
			MaxOutputBytes: transform.DefaultMaxOutputBytes,
		},
		TransformWorkers: runtime.GOMAXPROCS(0),
		Fetch:            safefetch.Options{MaxBytes: math.MaxInt64},
		Logger:           slog.Default(),
		Breaker:          carcosa.BreakerSettings{Failures: 5, OpenFor: 30 * time.Second, HalfOpenProbes: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Config{}.WithDefaults() =\n%+v\nwant\n%+v", got, want)
	}
	if again := got.WithDefaults(); !reflect.DeepEqual(again, got) {
		t.Errorf("WithDefaults of a filled Config changed it:\n%+v\nfrom\n%+v", again, got)
	}

	mem, err := storage.Open(t.Context(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	cold, err := storage.Open(t.Context(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cold.Close() })
	st := memstore.New()
	t.Cleanup(func() { st.Close() })
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	// caller is a Config with every kind of field set; each call makes a
	// fresh one, equal to the last.
	caller := func() carcosa.Config {
		return carcosa.Config{
			BasePath:       "api/uploads/",
			DataDir:        dir,
			Storage:        mem,
			Buckets:        map[string]storage.Storage{"cold": cold},
			Rules:          []carcosa.Rule{{Bucket: "cold", MinSize: 1 << 20}},
			Failover:       map[string]string{"": "cold"},
			Store:          st,
			SigningKey:     []byte("0123456789abcdef0123456789abcdef"),
			SignedURLTTL:   5 * time.Minute,
			ProcessTimeout: time.Minute,
			Quarantine:     "cold",
			TransformLimits: transform.Limits{
				MaxSide: 1024,
			},
			TransformWorkers: 3,
			Quota: &quota.Policy{
				Owner:  quota.Limits{Bytes: 1 << 30},
				Routes: map[string]quota.RouteLimits{"images": {Owner: quota.Limits{Files: 10}}},
			},
			Fetch: safefetch.Options{
				AllowedNets:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
				AllowedPorts: []int{443, 8443},
				Schemes:      []string{"https"},
			},
			Logger: logger,
		}
	}
	c := caller()
	d := c.WithDefaults()
	if !reflect.DeepEqual(c, caller()) {
		t.Errorf("WithDefaults changed the caller's Config:\n%+v\nwant\n%+v", c, caller())
	}
	if d.BasePath != "/api/uploads" || d.SignedURLTTL != 5*time.Minute || d.ProcessTimeout != time.Minute ||
		d.TransformWorkers != 3 || d.TransformLimits.MaxSide != 1024 || d.Logger != logger {
		t.Errorf("WithDefaults did not keep the values set: %+v", d)
	}
	if d.PresignTTL != time.Hour || d.TransformLimits.MaxPixels != transform.DefaultMaxPixels || d.Fetch.MaxBytes != math.MaxInt64 {
		t.Errorf("WithDefaults did not fill the unset values: %+v", d)
	}

	r, err := carcosa.New(c)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if !reflect.DeepEqual(c, caller()) {
		t.Errorf("New changed the caller's Config:\n%+v\nwant\n%+v", c, caller())
	}
}

func TestConfigImageEngineLimits(t *testing.T) {
	t.Parallel()
	eng := transform.New(transform.Limits{MaxSide: 512, MaxPixels: 1 << 20})
	d := carcosa.Config{ImageEngine: eng}.WithDefaults()
	if d.TransformLimits != eng.Limits() {
		t.Errorf("WithDefaults gives TransformLimits %+v, want the engine's %+v", d.TransformLimits, eng.Limits())
	}
	r, err := carcosa.New(carcosa.Config{DataDir: t.TempDir(), ImageEngine: eng})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}
