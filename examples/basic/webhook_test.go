package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/webhook"
)

// TestWebhookFlags checks that -webhook and -webhook-secret send every
// upload event, signed, to the URLs given, and that a secret made for the
// run is logged.
func TestWebhookFlags(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	var mu sync.Mutex
	got := map[string][]string{} // by receiver: the event types, verified
	receiver := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, _ := io.ReadAll(r.Body)
			if err := webhook.Verify(r.Header, raw, []string{secret}, 0); err != nil {
				t.Errorf("%s: Verify: %v", name, err)
			}
			var b webhook.Body
			json.Unmarshal(raw, &b)
			mu.Lock()
			got[name] = append(got[name], b.Type)
			mu.Unlock()
		}))
		t.Cleanup(s.Close)
		return s
	}
	a, b := receiver("a"), receiver("b")
	base, logs := startServerLogs(t, options{Data: t.TempDir(), Webhooks: []string{a.URL, b.URL}, WebhookSecret: secret})
	if strings.Contains(logs.String(), secret) {
		t.Error("the log holds the secret given with -webhook-secret")
	}

	var img bytes.Buffer
	png.Encode(&img, image.NewGray(image.Rect(0, 0, 8, 8)))
	client := &http.Client{Timeout: 30 * time.Second}
	resp, body := send(t, client, http.MethodPost, base+"/api/uploads/tus/", img.Bytes(), map[string]string{
		"Upload-Length":   strconv.Itoa(img.Len()),
		"Upload-Metadata": "route " + b64("images") + ",filename " + b64("dot.png"),
		"Content-Type":    "application/offset+octet-stream",
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %s %s", resp.Status, truncate(body))
	}
	t.Logf("upload %s", path.Base(resp.Header.Get("Location")))
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		done := strings.Contains(strings.Join(got["a"], " "), webhook.TypeReady) && strings.Contains(strings.Join(got["b"], " "), webhook.TypeReady)
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks received %v; want upload.ready at both", got)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Without -webhook-secret, one is made and logged once.
	_, logs = startServerLogs(t, options{Data: t.TempDir(), Webhooks: []string{a.URL}})
	if n := strings.Count(logs.String(), webhook.SecretPrefix); n != 1 {
		t.Errorf("the made secret is logged %d times, want once:\n%s", n, logs.String())
	}
}
