package carcosa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/carcosa-dev/carcosa"
)

// A route for plain-text notes, uploaded as multipart/form-data. The
// completion callback's result comes back in the upload record.
func Example() {
	dir, _ := os.MkdirTemp("", "carcosa-example")
	defer os.RemoveAll(dir)

	r, err := carcosa.New(carcosa.Config{BasePath: "/api/uploads", DataDir: dir})
	if err != nil {
		panic(err)
	}
	defer r.Close()

	type Input struct {
		Topic string `json:"topic" validate:"required"`
	}
	type Meta struct {
		Topic string `json:"topic"`
	}
	carcosa.Handle(r, "notes", carcosa.Route[Input, Meta]{
		Accept:      []string{"text"},
		MaxFileSize: 1 << 20,
		Middleware: func(ctx context.Context, req *carcosa.Request[Input]) (carcosa.Grant[Meta], error) {
			return carcosa.Grant[Meta]{Owner: "user-1", Metadata: Meta{Topic: req.Input.Topic}}, nil
		},
		OnComplete: func(ctx context.Context, m Meta, f carcosa.File) (any, error) {
			return map[string]any{"topic": m.Topic, "bytes": f.Size}, nil
		},
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("input", `{"topic":"groceries"}`)
	fw, _ := mw.CreateFormFile("file", "list.txt")
	fw.Write([]byte("eggs\nmilk\n"))
	mw.Close()

	resp, err := http.Post(srv.URL+"/api/uploads/routes/notes", mw.FormDataContentType(), &body)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var out struct {
		Uploads []carcosa.Upload `json:"uploads"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	u := out.Uploads[0]
	fmt.Println(resp.StatusCode, u.State, u.Name, u.Type, string(u.Result))
	// Output: 201 ready list.txt text/plain {"bytes":10,"topic":"groceries"}
}

// Refusals are JSON errors with stable codes.
func ExampleError() {
	dir, _ := os.MkdirTemp("", "carcosa-example")
	defer os.RemoveAll(dir)
	r, _ := carcosa.New(carcosa.Config{DataDir: dir})
	defer r.Close()
	carcosa.Handle(r, "images", carcosa.Route[struct{}, struct{}]{Accept: []string{"image"}})
	srv := httptest.NewServer(r)
	defer srv.Close()

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "cat.png")
	fw.Write([]byte("not a picture at all"))
	mw.Close()
	resp, err := http.Post(srv.URL+"/routes/images", mw.FormDataContentType(), &body)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	fmt.Println(resp.StatusCode, e.Error.Code)
	// Output: 415 type_not_allowed
}
