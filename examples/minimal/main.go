// Command minimal serves one upload route: photos, each with a caption.
package main

import (
	"context"
	"log"
	"net/http"

	"github.com/carcosa-dev/carcosa"
)

// PhotoInput is what the client sends with its photos, as JSON.
type PhotoInput struct {
	Caption string `json:"caption" validate:"max=200"`
}

// Session is what the middleware hands to OnComplete.
type Session struct {
	UserID  string
	Caption string
}

func main() {
	r, err := carcosa.New(carcosa.Config{BasePath: "/api/uploads", DataDir: "./carcosa-data"})
	if err != nil {
		log.Fatal(err)
	}

	carcosa.Handle(r, "photos", carcosa.Route[PhotoInput, Session]{
		Accept:      []string{"image"}, // judged from the bytes, not the client's claim
		MaxFileSize: 16 << 20,          // enforced while streaming
		MaxFiles:    10,
		Middleware: func(ctx context.Context, req *carcosa.Request[PhotoInput]) (carcosa.Grant[Session], error) {
			user, password, ok := req.HTTP.BasicAuth()
			if !ok || password != "demo" { // your authentication here
				return carcosa.Grant[Session]{}, carcosa.Unauthorized("sign in to upload")
			}
			s := Session{UserID: user, Caption: req.Input.Caption} // the validated input
			return carcosa.Grant[Session]{Owner: user, Metadata: s}, nil
		},
		OnComplete: func(ctx context.Context, s Session, f carcosa.File) (any, error) {
			// Keep f.Key, f.SHA256 and s.Caption in your database here.
			return map[string]string{"caption": s.Caption, "by": s.UserID}, nil // the client receives this result
		},
	})
	http.Handle("/api/uploads/", r)
	err = http.ListenAndServe("127.0.0.1:8080", nil)
	r.Close()
	log.Fatal(err)
}
