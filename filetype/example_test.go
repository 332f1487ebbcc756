package filetype_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"io"

	"github.com/carcosa-dev/carcosa/filetype"
)

func Example() {
	// A route declares what it accepts; check the declaration at start-up.
	accepted := []string{"image", "application/pdf"}
	for _, entry := range accepted {
		if err := filetype.ValidAccept(entry); err != nil {
			panic(err)
		}
	}

	// An upload arrives as "avatar.jpg" but holds PNG bytes.
	var upload bytes.Buffer
	_ = png.Encode(&upload, image.NewGray(image.Rect(0, 0, 2, 2)))

	head := make([]byte, filetype.SniffLen)
	n, _ := io.ReadFull(bytes.NewReader(upload.Bytes()), head)
	t := filetype.Detect(head[:n])

	fmt.Println("detected:", t.MIME, t.Extension)
	fmt.Println("accepted:", filetype.Accepts(accepted, t))
	fmt.Println("executable:", filetype.IsExecutable(t))
	fmt.Println("name agrees:", filetype.ExtensionAgrees(".jpg", t))
	fmt.Println("polyglot:", filetype.Polyglot(head[:n], t))
	fmt.Println("inline:", filetype.InlineSafe(t))
	// Output:
	// detected: image/png .png
	// accepted: true
	// executable: false
	// name agrees: false
	// polyglot: false
	// inline: true
}

func ExampleAccepts() {
	svg := filetype.Detect([]byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
	fmt.Println(svg.MIME)
	fmt.Println(filetype.Accepts([]string{"image"}, svg))
	fmt.Println(filetype.Accepts([]string{"image/*"}, svg))
	fmt.Println(filetype.Accepts([]string{"image/svg+xml"}, svg))

	csv := filetype.Detect([]byte("id,name\n1,hastur\n2,cassilda\n"))
	fmt.Println(csv.MIME, filetype.Accepts([]string{"text"}, csv))
	// Output:
	// image/svg+xml
	// false
	// false
	// true
	// text/csv true
}

func ExampleExtensionAgrees() {
	text := filetype.Detect([]byte("just some notes\n"))
	for _, ext := range []string{".md", ".log", "", ".png", ".exe"} {
		fmt.Printf("%q %v\n", ext, filetype.ExtensionAgrees(ext, text))
	}
	// Output:
	// ".md" true
	// ".log" true
	// "" true
	// ".png" false
	// ".exe" false
}
