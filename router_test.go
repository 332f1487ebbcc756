package carcosa_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/quota"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store/memstore"
	"github.com/carcosa-dev/carcosa/transform"
)

func TestRegistrationMistakesPanic(t *testing.T) {
	t.Parallel()
	type notStruct string
	cases := []struct {
		name string
		reg  func(r *carcosa.Router)
	}{
		{"bad name", func(r *carcosa.Router) {
			carcosa.Handle(r, "Bad Name", carcosa.Route[struct{}, struct{}]{Accept: []string{"any"}})
		}},
		{"no accept", func(r *carcosa.Router) {
			carcosa.Handle(r, "a", carcosa.Route[struct{}, struct{}]{})
		}},
		{"unknown category", func(r *carcosa.Router) {
			carcosa.Handle(r, "a", carcosa.Route[struct{}, struct{}]{Accept: []string{"pictures"}})
		}},
		{"duplicate", func(r *carcosa.Router) {
			carcosa.Handle(r, "a", carcosa.Route[struct{}, struct{}]{Accept: []string{"any"}})
			carcosa.Handle(r, "a", carcosa.Route[struct{}, struct{}]{Accept: []string{"any"}})
		}},
		{"input not a struct", func(r *carcosa.Router) {
			carcosa.Handle(r, "a", carcosa.Route[notStruct, struct{}]{Accept: []string{"any"}})
		}},
		{"min above max", func(r *carcosa.Router) {
			carcosa.Handle(r, "a", carcosa.Route[struct{}, struct{}]{Accept: []string{"any"}, MinFiles: 3, MaxFiles: 2})
		}},
		{"negative size", func(r *carcosa.Router) {
			carcosa.Handle(r, "a", carcosa.Route[struct{}, struct{}]{Accept: []string{"any"}, MaxFileSize: -1})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := carcosa.New(carcosa.Config{DataDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			c.reg(r)
		})
	}
}

func TestRegistrationAfterServingPanics(t *testing.T) {
	tb := setup(t)
	tb.do(t, "GET", tb.url("/routes"), "", nil, nil)
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	carcosa.Handle(tb.router, "late", carcosa.Route[struct{}, struct{}]{Accept: []string{"any"}})
}

func TestConfigRequiresDataDir(t *testing.T) {
	if _, err := carcosa.New(carcosa.Config{}); err == nil || !strings.Contains(err.Error(), "DataDir") {
		t.Fatalf("err = %v, want one naming DataDir", err)
	}
	if _, err := carcosa.New(carcosa.Config{DataDir: t.TempDir(), SigningKey: []byte("short")}); err == nil {
		t.Fatal("a short signing key was accepted")
	}
}

// TestConfigRefusesBadValues: New refuses every negative or contradictory
// Config field with an error that names it, and never panics.
func TestConfigRefusesBadValues(t *testing.T) {
	t.Parallel()
	mem, err := storage.Open(t.Context(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	for _, tc := range []struct {
		name      string
		configure func(*carcosa.Config)
		want      []string // in the error's text
	}{
		{"no DataDir", func(c *carcosa.Config) { c.DataDir = "" }, []string{"Config.DataDir"}},
		{"BasePath", func(c *carcosa.Config) { c.BasePath = "/uploads?x=1" }, []string{"Config.BasePath"}},
		{"SignedURLTTL", func(c *carcosa.Config) { c.SignedURLTTL = -1 }, []string{"Config.SignedURLTTL"}},
		{"PresignTTL", func(c *carcosa.Config) { c.PresignTTL = -1 }, []string{"Config.PresignTTL"}},
		{"UploadTTL", func(c *carcosa.Config) { c.UploadTTL = -time.Hour }, []string{"Config.UploadTTL"}},
		{"ProcessTimeout", func(c *carcosa.Config) { c.ProcessTimeout = -1 }, []string{"Config.ProcessTimeout"}},
		{"IdleTimeout", func(c *carcosa.Config) { c.IdleTimeout = -1 }, []string{"Config.IdleTimeout"}},
		{"IdleUploadTTL", func(c *carcosa.Config) { c.IdleUploadTTL = -time.Second }, []string{"Config.IdleUploadTTL"}},
		{"TransformLimits.MaxMemory", func(c *carcosa.Config) { c.TransformLimits.MaxMemory = -1 }, []string{"Config.TransformLimits.MaxMemory"}},
		{"SigningKey", func(c *carcosa.Config) { c.SigningKey = []byte("short") }, []string{"Config.SigningKey"}},
		{"TransformWorkers", func(c *carcosa.Config) { c.TransformWorkers = -1 }, []string{"Config.TransformWorkers"}},
		{"TransformLimits.MaxPixels", func(c *carcosa.Config) { c.TransformLimits.MaxPixels = -1 }, []string{"Config.TransformLimits.MaxPixels"}},
		{"TransformLimits.MaxSide", func(c *carcosa.Config) { c.TransformLimits.MaxSide = -1 }, []string{"Config.TransformLimits.MaxSide"}},
		{"TransformLimits.MaxInputBytes", func(c *carcosa.Config) { c.TransformLimits.MaxInputBytes = -1 }, []string{"Config.TransformLimits.MaxInputBytes"}},
		{"TransformLimits.MaxOutputBytes", func(c *carcosa.Config) { c.TransformLimits.MaxOutputBytes = -1 }, []string{"Config.TransformLimits.MaxOutputBytes"}},
		{"ImageEngine with other limits", func(c *carcosa.Config) {
			c.ImageEngine = transform.New(transform.Limits{MaxSide: 512})
			c.TransformLimits.MaxSide = 1024
		}, []string{"Config.TransformLimits", "Config.ImageEngine"}},
		{"Fetch.Timeout", func(c *carcosa.Config) { c.Fetch.Timeout = -1 }, []string{"Config.Fetch", "Timeout"}},
		{"Fetch.MaxBytes", func(c *carcosa.Config) { c.Fetch.MaxBytes = -1 }, []string{"Config.Fetch", "MaxBytes"}},
		{"Fetch.AllowedPorts", func(c *carcosa.Config) { c.Fetch.AllowedPorts = []int{443, 70000} }, []string{"Config.Fetch", "AllowedPorts"}},
		{"Fetch.Schemes", func(c *carcosa.Config) { c.Fetch.Schemes = []string{"ftp"} }, []string{"Config.Fetch", "Schemes"}},
		{"Fetch.AllowedNets", func(c *carcosa.Config) { c.Fetch.AllowedNets = []netip.Prefix{{}} }, []string{"Config.Fetch", "AllowedNets"}},
		{"Quota.Owner", func(c *carcosa.Config) { c.Quota = &quota.Policy{Owner: quota.Limits{Bytes: -1}} }, []string{"Config.Quota.Owner.Bytes"}},
		{"Quota.Tenant", func(c *carcosa.Config) { c.Quota = &quota.Policy{Tenant: quota.Limits{Files: -1}} }, []string{"Config.Quota.Tenant.Files"}},
		{"Quota.Routes", func(c *carcosa.Config) {
			c.Quota = &quota.Policy{Routes: map[string]quota.RouteLimits{"images": {Owner: quota.Limits{Files: -2}}}}
		}, []string{`Config.Quota.Routes["images"].Owner.Files`}},
		{"Buckets without a name", func(c *carcosa.Config) { c.Buckets = map[string]storage.Storage{"": mem} }, []string{"Config.Buckets"}},
		{"nil bucket", func(c *carcosa.Config) { c.Buckets = map[string]storage.Storage{"cold": nil} }, []string{"Config.Buckets", "cold"}},
		{"Rules to no bucket", func(c *carcosa.Config) { c.Rules = []carcosa.Rule{{Bucket: "cold"}} }, []string{"Config.Rules[0]"}},
		{"Rules out of order", func(c *carcosa.Config) {
			c.Buckets = map[string]storage.Storage{"cold": mem}
			c.Rules = []carcosa.Rule{{Bucket: "cold", MinSize: 10, MaxSize: 5}}
		}, []string{"Config.Rules[0]"}},
		{"Rules negative", func(c *carcosa.Config) {
			c.Buckets = map[string]storage.Storage{"cold": mem}
			c.Rules = []carcosa.Rule{{Bucket: "cold", MinSize: -1}}
		}, []string{"Config.Rules[0]"}},
		{"Failover to itself", func(c *carcosa.Config) { c.Failover = map[string]string{"": ""} }, []string{"Config.Failover"}},
		{"Failover to no bucket", func(c *carcosa.Config) { c.Failover = map[string]string{"": "cold"} }, []string{"Config.Failover"}},
		{"Quarantine", func(c *carcosa.Config) { c.Quarantine = "vault" }, []string{"Config.Quarantine"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := carcosa.Config{DataDir: t.TempDir(), Storage: mem, Store: memstore.New()}
			tc.configure(&cfg)
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("New panicked: %v", p)
				}
			}()
			r, err := carcosa.New(cfg)
			if err == nil {
				r.Close()
				t.Fatal("New accepted the Config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

func TestRoutesEndpoint(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	resp, body := tb.do(t, "GET", tb.url("/routes"), "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var got struct {
		Routes []struct {
			Name        string   `json:"name"`
			Accept      []string `json:"accept"`
			MaxFileSize int64    `json:"maxFileSize"`
			MinFiles    int      `json:"minFiles"`
			MaxFiles    int      `json:"maxFiles"`
			Public      bool     `json:"public"`
			Input       []struct {
				Name     string `json:"name"`
				Type     string `json:"type"`
				Required bool   `json:"required"`
			} `json:"input"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Routes) != 4 || got.Routes[2].Name != "images" {
		t.Fatalf("routes = %+v", got.Routes)
	}
	img := got.Routes[2]
	if img.MaxFileSize != 1<<20 || img.MaxFiles != 3 || img.MinFiles != 1 || !img.Public || img.Accept[0] != "image" {
		t.Fatalf("images = %+v", img)
	}
	if len(img.Input) != 1 || img.Input[0].Name != "album" || img.Input[0].Type != "string" || !img.Input[0].Required {
		t.Fatalf("images input = %+v", img.Input)
	}
}

// TestRoutesEndpointEmbeddedInput checks that a route's input schema names
// the fields a client sends, as encoding/json decodes them: an embedded
// struct's fields at the top, a field tagged "-" left out.
func TestRoutesEndpointEmbeddedInput(t *testing.T) {
	t.Parallel()
	type Base struct {
		ID string `json:"id" validate:"required"`
	}
	type Input struct {
		Base
		Note   string `json:"note"`
		Secret string `json:"-"`
	}
	tb := newBundle(t, memstore.New(), nil)
	carcosa.Handle(tb.router, "notes", carcosa.Route[Input, struct{}]{Accept: []string{"text"}})
	tb.serve(t)
	resp, body := tb.do(t, "GET", tb.url("/routes"), "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var got struct {
		Routes []struct {
			Input []carcosa.SchemaField `json:"input"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := []carcosa.SchemaField{
		{Name: "id", Type: "string", Required: true, Rules: "required"},
		{Name: "note", Type: "string"},
	}
	if len(got.Routes) != 1 || fmt.Sprint(got.Routes[0].Input) != fmt.Sprint(want) {
		t.Fatalf("input = %+v, want %+v", got.Routes, want)
	}
}

func TestUnknownPathsAreJSON404(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	for _, p := range []string{"/nope", "/uploads/", "/uploads/zzz", "/files/images/none.png"} {
		resp, body := tb.do(t, "GET", tb.url(p), "alice", nil, nil)
		wantError(t, resp, body, 404, "not_found")
	}
	resp, body := tb.do(t, "GET", tb.server.URL+"/api/uploadsX/routes", "", nil, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestInputValidation(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	img := pngBytes(t, 16)
	cases := []struct {
		input  string
		status int
		code   string
		field  string
	}{
		{`{}`, 422, "invalid_input", "album"},
		{`{"album":"this album name is far too long"}`, 422, "invalid_input", "album"},
		{`{"album":1}`, 422, "invalid_input", "album"},
		{`{"album":"a","extra":1}`, 422, "invalid_input", "extra"},
		{`{"album":`, 400, "bad_request", ""},
		{`{"album":"a"} {}`, 400, "bad_request", ""},
	}
	for _, c := range cases {
		body, ct := multipartBody(t, part{field: "input", data: []byte(c.input)}, part{field: "file", name: "a.png", data: img})
		resp, b := tb.do(t, "POST", tb.url("/routes/images"), "alice", body, map[string]string{"Content-Type": ct})
		e := wantError(t, resp, b, c.status, c.code)
		if c.field != "" && (len(e.Error.Fields) == 0 || e.Error.Fields[0].Field != c.field) {
			t.Errorf("input %s: fields %+v, want %q", c.input, e.Error.Fields, c.field)
		}
	}
}

func TestHandleRefusesBadValidateTags(t *testing.T) {
	for _, tc := range []struct {
		name string
		reg  func(r *carcosa.Router)
	}{
		{"unknown rule", func(r *carcosa.Router) {
			type in struct {
				A string `json:"a" validate:"nosuchrule"`
			}
			carcosa.Handle(r, "x", carcosa.Route[in, struct{}]{Accept: []string{"any"}})
		}},
		{"parameter not a number", func(r *carcosa.Router) {
			type in struct {
				A string `json:"a" validate:"max=abc"`
			}
			carcosa.Handle(r, "x", carcosa.Route[in, struct{}]{Accept: []string{"any"}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := carcosa.New(carcosa.Config{DataDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer func() {
				p := recover()
				if p == nil || !strings.Contains(fmt.Sprint(p), "validate tags") {
					t.Fatalf("Handle did not panic about the validate tag: %v", p)
				}
			}()
			tc.reg(r)
		})
	}
}

func TestMultipartInputOver64KiB(t *testing.T) {
	tb := setup(t)
	input := `{"album":"summer"}` + strings.Repeat(" ", 70000) + `{"album":"evil"}`
	body, ctype := multipartBody(t,
		part{field: "input", data: []byte(input)},
		part{field: "file", name: "a.png", data: pngBytes(t, 8)})
	resp, b := tb.do(t, "POST", tb.url("/routes/images"), "alice", body, map[string]string{"Content-Type": ctype})
	wantError(t, resp, b, http.StatusUnprocessableEntity, "invalid_input")
}

// syncBuffer is a bytes.Buffer that a Router's logger and a test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A Router mounted where requests keep a path outside its BasePath (here
// served on its own, without a mux) answers them 404 and logs, once, how
// to mount it.
func TestRequestOutsideBasePathLogsHintOnce(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	r, err := carcosa.New(carcosa.Config{
		BasePath: "/api/uploads", DataDir: t.TempDir(), Store: memstore.New(),
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	for _, p := range []string{"/routes", "/x", "/api/uploads/routes"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{true: 200, false: 404}[strings.HasPrefix(p, "/api/uploads/")]; resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", p, resp.StatusCode, want)
		}
	}
	out := logs.String()
	hint := `outside its BasePath /api/uploads; mount it with mux.Handle(\"/api/uploads/\", r)`
	if n := strings.Count(out, hint); n != 1 {
		t.Errorf("the hint is logged %d times, want once; logs:\n%s", n, out)
	}
	if !strings.Contains(out, "path=/routes") {
		t.Errorf("the hint does not name the first request's path; logs:\n%s", out)
	}
}

// Sizes in error messages are in IEC units.
func TestTooLargeMessageInUnits(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	resp, body := tb.tusCreate(t, "alice", 2<<20, tusMetadata("route", "images", "filename", "a.png"), nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "this route's limit of 1 MiB") {
		t.Errorf("tus creation over the limit: %d %s; want 413 naming the limit as 1 MiB", resp.StatusCode, body)
	}
}
