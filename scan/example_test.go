package scan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/carcosa-dev/carcosa/scan"
)

// A scan's three outcomes besides clean, and what a caller does with each.
func ExampleClamd() {
	c, err := scan.NewClamd("tcp://127.0.0.1:3310", scan.ClamdOptions{MaxSize: 50 << 20})
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Open("upload.bin")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	v, err := c.Scan(context.Background(), f)
	switch {
	case errors.Is(err, scan.ErrTooLarge):
		fmt.Println("rejected: larger than the scanner examines")
	case err != nil:
		fmt.Println("not kept: no verdict, try again later:", err) // fail closed
	case v.Infected:
		fmt.Println("rejected:", v.Signature)
	default:
		fmt.Println("clean")
	}
}

// A scanner of one's own: here one that refuses Windows executables.
func ExampleFunc() {
	noExe := scan.Func(func(ctx context.Context, r io.Reader) (scan.Verdict, error) {
		head := make([]byte, 2)
		if _, err := io.ReadFull(r, head); err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return scan.Verdict{}, err
		}
		if _, err := io.Copy(io.Discard, r); err != nil { // read to the end, as Scan must
			return scan.Verdict{}, err
		}
		if err := ctx.Err(); err != nil {
			return scan.Verdict{}, err
		}
		if string(head) == "MZ" {
			return scan.Verdict{Infected: true, Signature: "Windows executable"}, nil
		}
		return scan.Verdict{}, nil
	})
	v, err := noExe.Scan(context.Background(), bytes.NewReader([]byte("MZ\x90\x00")))
	fmt.Println(v, err)
	// Output: {true Windows executable} <nil>
}
