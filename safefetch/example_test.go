package safefetch_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/carcosa-dev/carcosa/safefetch"
)

func Example() {
	ctx := context.Background()

	// The zero Options refuse the metadata service, and every other
	// address only the server could reach, before any packet is sent.
	_, err := safefetch.New(safefetch.Options{}).Get(ctx, "http://169.254.169.254/latest/meta-data")
	fmt.Println(safefetch.Code(err))

	// A loopback server is reachable only when allowed explicitly.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	defer srv.Close()
	c := safefetch.New(safefetch.Options{
		AllowedNets:  []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		AllowedPorts: []int{srv.Listener.Addr().(*net.TCPAddr).Port},
		MaxBytes:     10 << 20,
	})
	resp, err := c.Get(ctx, srv.URL)
	if err != nil {
		fmt.Println(safefetch.Code(err))
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body), err)
	// Output:
	// url_forbidden_address
	// 200 hello <nil>
}
