package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/client"
)

// A server with one route for text notes, to upload to.
func exampleServer() (url string, stop func()) {
	dir, _ := os.MkdirTemp("", "carcosa-example")
	r, err := carcosa.New(carcosa.Config{BasePath: "/api/uploads", DataDir: dir})
	if err != nil {
		panic(err)
	}
	type Input struct {
		Topic string `json:"topic" validate:"required"`
	}
	carcosa.Handle(r, "notes", carcosa.Route[Input, string]{
		Accept: []string{"text"},
		Middleware: func(ctx context.Context, req *carcosa.Request[Input]) (carcosa.Grant[string], error) {
			if req.HTTP.Header.Get("Authorization") != "Bearer secret" {
				return carcosa.Grant[string]{}, carcosa.Unauthorized("sign in")
			}
			return carcosa.Grant[string]{Owner: "user-1", Metadata: req.Input.Topic}, nil
		},
		OnComplete: func(ctx context.Context, topic string, f carcosa.File) (any, error) {
			return map[string]string{"topic": topic}, nil
		},
	})
	srv := httptest.NewServer(r)
	return srv.URL + "/api/uploads", func() {
		srv.Close()
		r.Close()
		os.RemoveAll(dir)
	}
}

// Upload a note with its input; the route's result comes back in the
// record. A refusal is an *Error matched by its code.
func Example() {
	base, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	c, err := client.New(base, &client.Options{
		Token: func(ctx context.Context) (string, error) { return "secret", nil },
	})
	if err != nil {
		panic(err)
	}
	note := "eggs\nmilk\n"
	u, err := c.Upload(ctx, "notes", "list.txt", strings.NewReader(note), int64(len(note)), &client.UploadOptions{
		Input: map[string]string{"topic": "groceries"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(u.State, u.Name, u.Type, string(u.Result))

	_, err = c.Upload(ctx, "notes", "cat.png", strings.NewReader("\x89PNG\r\n\x1a\n"), 8, &client.UploadOptions{
		Input: map[string]string{"topic": "pets"},
	})
	var e *client.Error
	if errors.As(err, &e) && errors.Is(err, client.ErrTypeNotAllowed) {
		fmt.Println(e.Status, e.Code)
	}
	// Output:
	// ready list.txt text/plain {"topic":"groceries"}
	// 415 type_not_allowed
}
