package carcosa_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/storage"
)

// failing is a bucket whose writes fail, as during an outage.
type failing struct{ storage.Storage }

func (failing) Put(context.Context, string, io.Reader, *storage.PutOptions) error {
	return errors.New("the bucket is down")
}

// Rules place each new upload in one of several buckets, by route and by
// the owner's tier; Failover names the bucket that takes a bucket's uploads
// while its writes fail. Stats counts the files in each.
func ExampleRule() {
	open := func() *storage.Bucket {
		b, err := storage.Open(context.Background(), "mem://")
		if err != nil {
			panic(err)
		}
		return b
	}
	dir, _ := os.MkdirTemp("", "carcosa-example")
	defer os.RemoveAll(dir)
	r, err := carcosa.New(carcosa.Config{
		DataDir: dir,
		Storage: open(), // the default bucket, named ""
		Buckets: map[string]storage.Storage{
			"avatars": open(),
			"pro":     failing{open()},
			"spare":   open(),
		},
		Rules: []carcosa.Rule{
			{Route: "avatars", Bucket: "avatars"},
			{Tier: "pro", Bucket: "pro"},
		},
		Failover: map[string]string{"pro": "spare"},
	})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	for _, name := range []string{"avatars", "docs"} {
		carcosa.Handle(r, name, carcosa.Route[struct{}, struct{}]{
			Accept: []string{"any"},
			Middleware: func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
				return carcosa.Grant[struct{}]{Owner: "u1", Tier: req.HTTP.Header.Get("X-Tier")}, nil
			},
		})
	}
	srv := httptest.NewServer(r)
	defer srv.Close()

	upload := func(route, tier string) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "f.bin")
		fw.Write([]byte("some bytes"))
		mw.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/routes/"+route, &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("X-Tier", tier)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Printf("%s, tier %q: %d\n", route, tier, resp.StatusCode)
	}
	upload("avatars", "")
	upload("docs", "")
	upload("docs", "pro") // "pro" fails: this upload fails...
	upload("docs", "pro") // ...and the next ones go to "spare" for 30 seconds

	stats, err := r.Stats(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(stats.Buckets) // fmt prints a map sorted by key
	// Output:
	// avatars, tier "": 201
	// docs, tier "": 201
	// docs, tier "pro": 503
	// docs, tier "pro": 201
	// map[:{1 10} avatars:{1 10} spare:{1 10}]
}
