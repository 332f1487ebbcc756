package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/webhook"
)

// A receiver checks every request before it trusts the body.
func ExampleVerify() {
	secret := webhook.NewSecret() // shared with the sender once
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(req.Header, body, []string{secret}, 0); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// Dedupe by req.Header.Get("webhook-id"), then handle body.
		w.WriteHeader(http.StatusNoContent)
	})

	// A request signed as a Dispatcher signs it.
	body := []byte(`{"type":"upload.ready","timestamp":"2026-12-03T14:00:00Z","data":{}}`)
	h, _ := webhook.Header("msg_1", time.Now(), body, []string{secret})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/hooks", bytes.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	handler.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output: 204
}

// A Dispatcher on an in-process queue sends every event to an operator's
// endpoint.
func ExampleDispatcher_Send() {
	secret := webhook.NewSecret()
	got := make(chan string, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if webhook.Verify(req.Header, body, []string{secret}, 0) == nil {
			got <- string(body[:22])
		}
	}))
	defer receiver.Close()

	q := queue.NewMemory(nil)
	d, err := webhook.New(webhook.Options{
		Queue:     q,
		Endpoints: []webhook.Endpoint{{Name: "ops", URL: receiver.URL, Secrets: []string{secret}}},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	q.Start(ctx)
	defer q.Stop(ctx)

	d.Send(ctx, webhook.Event{Type: webhook.TypeReady, Data: map[string]string{"id": "u1"}})
	fmt.Println(<-got)
	// Output: {"type":"upload.ready"
}
