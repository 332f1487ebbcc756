package safename_test

import (
	"fmt"

	"github.com/carcosa-dev/carcosa/safename"
)

func Example() {
	for _, name := range []string{
		"../../etc/passwd",
		`C:\Users\x\holiday.PNG`,
		"invoice\u202Egpj.exe",
		"con.txt",
		"a.txt. . .",
		"\x00\x01",
	} {
		fmt.Printf("%q -> %q %q\n", name, safename.Clean(name), safename.Ext(name))
	}
	// Output:
	// "../../etc/passwd" -> "passwd" ""
	// "C:\\Users\\x\\holiday.PNG" -> "holiday.PNG" ".png"
	// "invoice\u202egpj.exe" -> "invoicegpj.exe" ".exe"
	// "con.txt" -> "_con.txt" ".txt"
	// "a.txt. . ." -> "a.txt" ".txt"
	// "\x00\x01" -> "file" ""
}
