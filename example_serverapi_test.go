package carcosa_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/safefetch"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/store"
)

// UploadFromURL fetches a file into a route as if its owner had uploaded
// it. Addresses on the server's own network are refused unless
// Config.Fetch allows them: here the loopback test server, by address and
// port, but not the cloud metadata service.
func ExampleRouter_UploadFromURL() {
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.WriteString(w, "a,b\n1,2\n")
	}))
	defer src.Close()
	_, port, _ := net.SplitHostPort(src.Listener.Addr().String())
	srcPort, _ := strconv.Atoi(port)

	dir, _ := os.MkdirTemp("", "carcosa-example")
	defer os.RemoveAll(dir)
	r, err := carcosa.New(carcosa.Config{
		DataDir: dir,
		Fetch: safefetch.Options{
			AllowedNets:  []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			AllowedPorts: []int{80, 443, srcPort},
		},
	})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	type Meta struct{ Source string }
	carcosa.Handle(r, "imports", carcosa.Route[struct{}, Meta]{
		Accept:      []string{"text"},
		MaxFileSize: 1 << 20,
		OnComplete: func(ctx context.Context, m Meta, f carcosa.File) (any, error) {
			fmt.Println("imported from", m.Source, "for", f.Owner)
			return nil, nil
		},
	})

	ctx := context.Background()
	u, err := r.UploadFromURL(ctx, "imports", src.URL+"/export/data.csv",
		carcosa.FromURL{Owner: "user-1", Metadata: Meta{Source: "the nightly export"}})
	if err != nil {
		panic(err)
	}
	fmt.Println(u.State, u.Name, u.Type, u.Size)

	_, err = r.UploadFromURL(ctx, "imports", "http://169.254.169.254/latest/meta-data/", carcosa.FromURL{Owner: "user-1"})
	var e *carcosa.Error
	fmt.Println(errors.Is(err, carcosa.ErrURLRefused), errors.As(err, &e) && e.Code == "url_forbidden_address")
	// Output:
	// imported from the nightly export for user-1
	// ready data.csv text/csv 8
	// true true
}

// A scanner's false positive: the file is quarantined (422
// malware_detected) and never served, until an operator releases it. The
// route's OnComplete then runs and the upload becomes ready, its scan
// recorded as "released".
func ExampleRouter_Release() {
	// A scanner, for the example, that finds "malware" in any file that
	// mentions it.
	scanner := scan.Func(func(ctx context.Context, r io.Reader) (scan.Verdict, error) {
		b, err := io.ReadAll(r)
		if err != nil {
			return scan.Verdict{}, err
		}
		if bytes.Contains(b, []byte("malware")) {
			return scan.Verdict{Infected: true, Signature: "Example.Keyword"}, nil
		}
		return scan.Verdict{}, nil
	})
	dir, _ := os.MkdirTemp("", "carcosa-example")
	defer os.RemoveAll(dir)
	r, err := carcosa.New(carcosa.Config{DataDir: dir, Scanner: scanner})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	carcosa.Handle(r, "reports", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"text"},
		OnComplete: func(ctx context.Context, _ struct{}, f carcosa.File) (any, error) {
			fmt.Println("OnComplete:", f.Name)
			return nil, nil
		},
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "report.txt")
	fw.Write([]byte("How we removed the malware from the build server.\n"))
	mw.Close()
	resp, err := http.Post(srv.URL+"/routes/reports", mw.FormDataContentType(), &body)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)

	ctx := carcosa.WithActor(context.Background(), "admin-1") // for the audit log
	held, err := r.Quarantined(ctx, store.Cursor{}, 10)
	if err != nil {
		panic(err)
	}
	for _, q := range held {
		fmt.Println("quarantined:", q.Name, q.Signature)
		u, err := r.Release(ctx, q.ID)
		if err != nil {
			panic(err)
		}
		fmt.Println(u.State, u.Scan)
	}
	// Output:
	// 422
	// quarantined: report.txt Example.Keyword
	// OnComplete: report.txt
	// ready released
}
