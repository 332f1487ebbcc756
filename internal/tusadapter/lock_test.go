package tusadapter

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A request for an upload's lock (a PATCH or a HEAD, as a client resuming
// sends) takes it over from a PATCH that holds it and is about to read its
// body, however soon after the holder locked it the request comes: the
// holder is cut short, not left to run until its body ends. (tusd sets up
// the holder's body reader after locking; asked to let go before that,
// tusd read the field it was setting, a data race under -race, and cut
// nothing short.)
func TestWaiterTakesOverFromAPatchStartingItsBody(t *testing.T) {
	f, srv := newTestHandler(t)
	for i := range 20 {
		method, want := http.MethodPatch, http.StatusNoContent
		if i%2 == 1 {
			method, want = http.MethodHead, http.StatusOK
		}
		id := create(t, srv, "", map[string]string{"Upload-Length": "5"})

		// The holder: a PATCH whose body does not come. A raw connection
		// sends its headers at once.
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "PATCH /tus/%s HTTP/1.1\r\nHost: carcosa\r\nTus-Resumable: 1.0.0\r\n"+
			"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 5\r\n\r\n", id)
		holder := make(chan int, 1)
		go func() {
			status := 0
			if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
				status = resp.StatusCode
			}
			holder <- status
		}()
		for deadline := time.Now().Add(5 * time.Second); f.h.locks.holding() == 0; runtime.Gosched() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the holder's PATCH took no lock", i)
			}
		}

		// The waiter asks as soon as the holder has the lock.
		waiter := make(chan int, 1)
		go func() {
			var body io.Reader
			if method == http.MethodPatch {
				body = strings.NewReader("hello")
			}
			req, _ := http.NewRequest(method, srv.URL+"/tus/"+id, body)
			req.Header.Set("Tus-Resumable", "1.0.0")
			req.Header.Set("Content-Type", "application/offset+octet-stream")
			req.Header.Set("Upload-Offset", "0")
			status := 0
			if resp, err := srv.Client().Do(req); err == nil {
				resp.Body.Close()
				status = resp.StatusCode
			}
			waiter <- status
		}()
		select {
		case status := <-waiter:
			if status != want {
				t.Errorf("round %d: the waiter's %s: %d, want %d", i, method, status, want)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("round %d: the holder was not cut short", i)
			conn.Close()
			<-waiter
		}
		if status := <-holder; status == http.StatusNoContent {
			t.Errorf("round %d: the holder's PATCH, which sent no byte, succeeded", i)
		}
		conn.Close()
	}
}
