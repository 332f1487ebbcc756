package carcosa_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/ with what the tests produce")

// The input types of the TypeScript tests.
type (
	tsScalars struct {
		Caption  string  `json:"caption" validate:"max=200"`
		Album    string  `json:"album" validate:"required,max=20"`
		Private  bool    `json:"private,omitempty"`
		Rotate   int     `json:"rotate" validate:"oneof=0 90 180 270"`
		Quality  uint8   `json:"quality" validate:"omitempty,min=1,max=100"`
		Scale    float64 `json:"scale"`
		Kind     string  `json:"kind" validate:"required,oneof=photo scan 'hand drawing'"`
		Count    int64   `json:"count,string"`
		Untagged string
		Header   string `json:"content-type"`
		Skipped  string `json:"-"`
		Dash     string `json:"-,"`
		Odd      string `json:"odd" validate:"contains=*/"`
		internal string // unexported: not decoded
	}

	tsPointers struct {
		Note     *string        `json:"note" validate:"omitempty,max=10"`
		Width    *int           `json:"width" validate:"required"`
		Deep     **bool         `json:"deep"`
		Crop     *tsCrop        `json:"crop"`
		Format   *string        `json:"format" validate:"omitnil,oneof=jpeg png"`
		Optional *tsScalarsTiny `json:"optional,omitempty"`
	}
	tsCrop struct {
		X, Y int
	}
	tsScalarsTiny struct {
		Label string `json:"label" validate:"required"`
	}

	tsCollections struct {
		Tags     []string          `json:"tags" validate:"max=5,dive,oneof=red green"`
		Matrix   [][]float64       `json:"matrix"`
		Fixed    [3]int            `json:"fixed"`
		Data     []byte            `json:"data"`
		Digest   [4]byte           `json:"digest"`
		Maybe    []*int            `json:"maybe"`
		Labels   map[string]string `json:"labels" validate:"dive,keys,max=10,endkeys,required"`
		ByNumber map[int]string    `json:"byNumber"`
		Groups   map[string][]tsCrop
		ByFlag   map[bool]int `json:"byFlag"`
	}

	tsNested struct {
		Crop  tsCrop  `json:"crop"`
		From  tsCrop  `json:"from"` // the same type: declared once
		Frame tsFrame `json:"frame"`
		Extra struct {
			Note string `json:"note"`
		} `json:"extra"`
		Empty struct{} `json:"empty"`
	}
	tsFrame struct {
		Border tsBorder `json:"border"`
	}
	tsBorder struct {
		Width int    `json:"width" validate:"required"`
		Color string `json:"color"`
	}

	tsEmbedded struct {
		tsBase           // flattened
		*tsAudit         // flattened, through a pointer
		tsHidden         // unexported, but its exported fields are decoded
		Named    tsCrop  `json:"named"`
		Box      tsBox   `json:"box"` // an embedded struct with a json name is a field
		Caption  string  `json:"caption"`
		Twice    tsTwice `json:"twice"`
	}
	tsBase struct {
		ID      string `json:"id" validate:"required"`
		Caption string `json:"caption"` // hidden by tsEmbedded.Caption, which is shallower
	}
	tsAudit struct {
		Author string `json:"author"`
	}
	tsHidden struct {
		Visible string `json:"visible"`
	}
	tsBox struct {
		tsCrop `json:"crop"`
	}
	tsTwice struct {
		tsLeft
		tsRight
	}
	tsLeft struct {
		Side  string // at the same depth as tsRight's: neither is decoded
		Left  int    `json:"left"`
		Title string `json:"Label"` // tagged, so it wins over tsRight's untagged Label
	}
	tsRight struct {
		Side  string
		Right int `json:"right"`
		Label string
	}

	tsSpecial struct {
		At      time.Time       `json:"at" validate:"required"`
		Until   *time.Time      `json:"until"`
		Raw     json.RawMessage `json:"raw"`
		Any     any             `json:"any"`
		Stringy fmt.Stringer    `json:"stringy"`
		Number  json.Number     `json:"number"`
		Addr    net.IP          `json:"addr"`
		Custom  tsCustom        `json:"custom"`
		Done    chan int        `json:"done"`
	}

	tsNode struct {
		Name     string      `json:"name" validate:"required"`
		Children []tsNode    `json:"children"`
		Parent   *tsNode     `json:"parent"`
		Meta     *tsNodeMeta `json:"meta"`
	}
	tsNodeMeta struct {
		Owner *tsNode `json:"owner"`
	}

	tsImage struct {
		Caption string `json:"caption" validate:"max=200"`
		Album   string `json:"album" validate:"required"`
		Kind    string `json:"kind" validate:"omitempty,oneof=photo scan"`
		Input   struct {
			Note string `json:"note"`
		} `json:"input"` // named after the route and the field, which the route's input name holds already
	}
	tsAvatar struct {
		Crop tsCrop `json:"crop"`
	}
)

// tsCustom decodes itself.
type tsCustom struct{ v string }

func (c *tsCustom) UnmarshalJSON(b []byte) error { c.v = string(b); return nil }

// tsRoute registers a route of input I under name, accepting images.
func tsRoute[I any](name string) func(*carcosa.Router) {
	return func(r *carcosa.Router) {
		carcosa.Handle(r, name, carcosa.Route[I, struct{}]{Accept: []string{"image"}})
	}
}

// tsCases are the TypeScript tests' Routers, by the golden file of each
// (testdata/typescript/NAME.ts).
var tsCases = []struct {
	name   string
	routes []func(*carcosa.Router)
}{
	{"scalars", []func(*carcosa.Router){tsRoute[tsScalars]("scalars")}},
	{"pointers", []func(*carcosa.Router){tsRoute[tsPointers]("pointers"), tsRoute[*tsScalarsTiny]("nullable")}},
	{"collections", []func(*carcosa.Router){tsRoute[tsCollections]("collections")}},
	{"nested", []func(*carcosa.Router){tsRoute[tsNested]("nested")}},
	{"embedded", []func(*carcosa.Router){tsRoute[tsEmbedded]("embedded")}},
	{"special", []func(*carcosa.Router){tsRoute[tsSpecial]("special")}},
	{"recursive", []func(*carcosa.Router){tsRoute[tsNode]("tree"), tsRoute[tsNodeMeta]("meta")}},
	{"routes", []func(*carcosa.Router){
		func(r *carcosa.Router) {
			carcosa.Handle(r, "images", carcosa.Route[tsImage, struct{}]{
				Accept: []string{"image", "application/pdf"}, MaxFileSize: 20 << 20, MaxFiles: 3, Public: true,
			})
		},
		func(r *carcosa.Router) {
			carcosa.Handle(r, "documents", carcosa.Route[struct{}, struct{}]{
				Accept: []string{"pdf", "text"}, MaxFileSize: 1500, MinFiles: 2, MaxFiles: 2,
			})
		},
		tsRoute[tsImage]("gallery"), // the same input as images: an alias
		tsRoute[tsAvatar]("my-avatars"),
		tsRoute[tsAvatar]("my_avatars"),
		tsRoute[tsCrop]("3d-crops"),
	}},
}

// generate returns the TypeScript of a Router with routes.
func generate(t *testing.T, routes []func(*carcosa.Router)) []byte {
	t.Helper()
	r := newBundle(t, memstore.New(), nil).router
	for _, declare := range routes {
		declare(r)
	}
	var b bytes.Buffer
	if err := r.WriteTypeScript(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestWriteTypeScript compares the TypeScript of each case with its golden
// file; go test -run TestWriteTypeScript -update rewrites them.
func TestWriteTypeScript(t *testing.T) {
	t.Parallel()
	for _, tc := range tsCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := generate(t, tc.routes)
			if again := generate(t, tc.routes); !bytes.Equal(got, again) {
				t.Fatalf("two Routers with the same routes give different TypeScript:\n%s\n---\n%s", got, again)
			}
			golden := filepath.Join("testdata", "typescript", tc.name+".ts")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -run TestWriteTypeScript -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("WriteTypeScript differs from %s (go test -run TestWriteTypeScript -update rewrites it):\n%s", golden, lineDiff(string(want), string(got)))
			}
		})
	}
}

// lineDiff shows the first line where got departs from want, with the
// whole of got.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d: want %q, got %q\ngot:\n%s", i+1, wl, gl, got)
		}
	}
	return ""
}

// TestTypeScriptTypeChecks type-checks every case's TypeScript with tsc,
// strict, and testdata/typescript/usage.ts, a client typed by the routes
// case: its calls must check, and each call marked @ts-expect-error (a
// wrong route, a wrong or missing field, a value outside a oneof) must
// not. It needs npm (see testenv.TypeCheck).
func TestTypeScriptTypeChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var files []string
	for _, tc := range tsCases {
		if err := os.WriteFile(filepath.Join(dir, tc.name+".ts"), generate(t, tc.routes), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, tc.name+".ts")
	}
	usage, err := os.ReadFile(filepath.Join("testdata", "typescript", "usage.ts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "usage.ts"), usage, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.TypeCheck(t, dir, append(files, "usage.ts")...)
}
