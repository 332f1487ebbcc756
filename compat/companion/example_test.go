package companion_test

import (
	"context"
	"log"
	"net/http"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/compat/companion"
	"github.com/carcosa-dev/carcosa/storage"
	_ "github.com/carcosa-dev/carcosa/storage/s3"
)

// Uppy's @uppy/aws-s3, given companionEndpoint "/companion", uploads to
// the Router's S3 bucket; the route is named in each file's metadata.
func Example() {
	ctx := context.Background()
	bucket, err := storage.Open(ctx, "s3://uploads?endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1")
	if err != nil {
		log.Fatal(err)
	}
	router, err := carcosa.New(carcosa.Config{BasePath: "/api/uploads", Storage: bucket, DataDir: "data"})
	if err != nil {
		log.Fatal(err)
	}
	carcosa.Handle(router, "images", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"image"}, MaxFileSize: 8 << 20,
		Middleware: func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			return carcosa.Grant[struct{}]{Owner: "someone"}, nil // from the session, in an app
		},
	})
	uppy, err := companion.New(router, nil)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/uploads/", router)
	mux.Handle("/companion/", uppy)
	log.Fatal(http.ListenAndServe(":8080", mux))
}
