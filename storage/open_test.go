package storage_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/storage"
	_ "github.com/carcosa-dev/carcosa/storage/s3"
)

func TestOpenSchemes(t *testing.T) {
	for _, u := range []string{"mem://", fileURL(t.TempDir(), ""), fileURL(t.TempDir(), "prefix=pre/")} {
		b, err := storage.Open(t.Context(), u)
		if err != nil {
			t.Errorf("Open(%q): %v", u, err)
			continue
		}
		b.Close()
	}
}

func TestOpenUnknownScheme(t *testing.T) {
	_, err := storage.Open(t.Context(), "nosuch://bucket")
	if err == nil {
		t.Fatal("Open of an unknown scheme succeeded")
	}
	if !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("error does not name the scheme: %v", err)
	}
}

// fakeS3 answers every request with an S3 error, as a service would for a
// bucket that does not exist or for credentials it refuses.
func fakeS3(t *testing.T, status int, code string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` +
			`<Error><Code>` + code + `</Code><Message>refused by the fake</Message><RequestId>1</RequestId></Error>`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// fakeS3URL is the URL of bucket on the fake at endpoint, with a
// secret-looking parameter that must never show in an error.
func fakeS3URL(endpoint, bucket string) string {
	q := url.Values{}
	q.Set("endpoint", endpoint)
	q.Set("use_path_style", "true")
	q.Set("region", "us-east-1")
	q.Set("anonymous", "true")
	q.Set("kmskeyid", "hunter2secret") // used only by writes
	return "s3://" + bucket + "?" + q.Encode()
}

// Open lists the bucket, so that a bucket that is missing or refuses the
// credentials fails start-up with an error saying so.
func TestOpenChecksAccess(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		want   string
	}{
		{http.StatusNotFound, "NoSuchBucket", "does not exist"},
		{http.StatusForbidden, "InvalidAccessKeyId", "access to the bucket denied"},
		{http.StatusForbidden, "SignatureDoesNotMatch", "access to the bucket denied"},
		{http.StatusForbidden, "AccessDenied", "access to the bucket denied"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			endpoint := fakeS3(t, tc.status, tc.code)
			_, err := storage.Open(t.Context(), fakeS3URL(endpoint, "uploads"))
			if err == nil {
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "s3://uploads") {
				t.Errorf("error = %q; want it to name s3://uploads and say %q", msg, tc.want)
			}
			if strings.Contains(msg, "hunter2secret") {
				t.Errorf("error reveals the URL's query: %s", msg)
			}
		})
	}
}

func TestOpenUnansweredBucket(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stop)

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := storage.Open(ctx, fakeS3URL(srv.URL, "uploads"))
	if err == nil {
		t.Fatal("Open succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Open took %v after its context ended", d)
	}
	if msg := err.Error(); !strings.Contains(msg, "did not answer") || strings.Contains(msg, "hunter2secret") {
		t.Errorf("error = %q; want it to say the bucket did not answer, without the query", msg)
	}
}

// The endpoint is printed, as it tells where requests went, but not its
// user information.
func TestOpenErrorShowsEndpointWithoutUser(t *testing.T) {
	u := url.URL{Scheme: "http", User: url.UserPassword("alice", "hunter2secret"), Host: "127.0.0.1:1"}
	_, err := storage.Open(t.Context(), fakeS3URL(u.String(), "uploads"))
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, "hunter2secret") || strings.Contains(msg, "alice") {
		t.Errorf("error reveals the endpoint's user information: %s", msg)
	}
	if !strings.Contains(msg, "127.0.0.1:1") {
		t.Errorf("error does not say where the requests went: %s", msg)
	}
}

func TestSignPutUnsupported(t *testing.T) {
	for _, u := range []string{"mem://", fileURL(t.TempDir(), "")} {
		b, err := storage.Open(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.SignPut(t.Context(), "a/b.png", "image/png", time.Minute)
		if !errors.Is(err, storage.ErrUnsupported) {
			t.Errorf("%s: SignPut error = %v, want ErrUnsupported", u, err)
		}
		b.Close()
	}
}
