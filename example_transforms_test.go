package carcosa_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // to decode the thumbnail
	"image/png"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/transform"
)

// A route that makes a thumbnail of every image: its derivatives are made
// after the checks and the scan, stored beside the file, and listed by name
// in the upload's record.
func ExampleRoute_derivatives() {
	dir, _ := os.MkdirTemp("", "carcosa-example")
	defer os.RemoveAll(dir)
	r, err := carcosa.New(carcosa.Config{DataDir: dir})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	carcosa.Handle(r, "photos", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"image"},
		Public: true,
		Derivatives: map[string]transform.Spec{
			"thumb": {Width: 128, Height: 128, Fit: transform.Cover, Format: transform.JPEG},
			"wide":  {Width: 320, Fit: transform.Contain, Format: transform.PNG},
		},
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	// A 640×480 picture.
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "photo.png")
	png.Encode(fw, img)
	mw.Close()
	resp, err := http.Post(srv.URL+"/routes/photos", mw.FormDataContentType(), &body)
	if err != nil {
		panic(err)
	}
	var out struct{ Uploads []carcosa.Upload }
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	u := out.Uploads[0]
	fmt.Println(resp.StatusCode, u.State, u.Type)

	for _, name := range slices.Sorted(maps.Keys(u.Derivatives)) {
		resp, err := http.Get(srv.URL + u.Derivatives[name])
		if err != nil {
			panic(err)
		}
		cfg, format, err := image.DecodeConfig(resp.Body)
		resp.Body.Close()
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %s %d×%d\n", name, format, cfg.Width, cfg.Height)
	}
	// Output:
	// 201 ready image/png
	// thumb: jpeg 128×128
	// wide: png 320×240
}
