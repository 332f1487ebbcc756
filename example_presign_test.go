package carcosa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/storage"
)

// signingBucket stands in for a bucket that signs upload URLs (S3, GCS,
// Azure): its URLs point at a test server that stores what is PUT there.
// mem:// and file:// buckets cannot sign, and presign answers them 501.
type signingBucket struct {
	storage.Storage
	endpoint string
}

func (b signingBucket) SignPut(ctx context.Context, key, contentType string, ttl time.Duration) (string, error) {
	return b.endpoint + "/" + key + "?signature=example", nil
}

// A presigned upload: the client asks for a URL, PUTs the file straight to
// the bucket with the headers it was given, then asks the server to
// complete the upload, which verifies the bytes as for any other upload.
func Example_presign() {
	mem, err := storage.Open(context.Background(), "mem://")
	if err != nil {
		panic(err)
	}
	bucketSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		key := strings.TrimPrefix(req.URL.Path, "/")
		opts := &storage.PutOptions{ContentType: req.Header.Get("Content-Type"), Size: req.ContentLength}
		if err := mem.Put(req.Context(), key, req.Body, opts); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	defer bucketSrv.Close()

	dir, _ := os.MkdirTemp("", "carcosa-example")
	defer os.RemoveAll(dir)
	r, err := carcosa.New(carcosa.Config{
		BasePath: "/api/uploads",
		DataDir:  dir,
		Storage:  signingBucket{Storage: mem, endpoint: bucketSrv.URL},
	})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	carcosa.Handle(r, "docs", carcosa.Route[struct{}, struct{}]{Accept: []string{"text"}, MaxFileSize: 1 << 20})
	srv := httptest.NewServer(r)
	defer srv.Close()

	data := []byte("hello, bucket\n")
	// 1. Ask for a URL, declaring each file's name, size and type.
	resp, err := http.Post(srv.URL+"/api/uploads/routes/docs/presign", "application/json",
		strings.NewReader(fmt.Sprintf(`{"files": [{"name": "hello.txt", "size": %d, "type": "text/plain"}]}`, len(data))))
	if err != nil {
		panic(err)
	}
	var presigned struct {
		Uploads []struct {
			ID, URL, Method string
			Headers         map[string]string
			ExpiresAt       time.Time
		}
	}
	json.NewDecoder(resp.Body).Decode(&presigned)
	resp.Body.Close()
	p := presigned.Uploads[0]
	fmt.Println(resp.StatusCode, p.Method, strings.HasPrefix(p.URL, bucketSrv.URL), p.Headers)

	// 2. PUT the bytes to the bucket, with the headers given.
	req, _ := http.NewRequest(p.Method, p.URL, bytes.NewReader(data))
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()

	// 3. Complete: the server reads the object, checks it and answers the
	// upload's record.
	resp, err = http.Post(srv.URL+"/api/uploads/uploads/"+p.ID+"/complete", "", nil)
	if err != nil {
		panic(err)
	}
	var u carcosa.Upload
	json.NewDecoder(resp.Body).Decode(&u)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, u.State, u.Name, u.Type, u.Size)
	// Output:
	// 201 PUT true map[Content-Type:text/plain]
	// 200 ready hello.txt text/plain 14
}
