package safename

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestClean(t *testing.T) {
	long := func(unit string, n int) string { return strings.Repeat(unit, n) }
	tests := []struct {
		name string
		in   string
		want string
	}{
		// Ordinary names are left alone.
		{"plain", "report.pdf", "report.pdf"},
		{"spaces inside", "my holiday photo.JPG", "my holiday photo.JPG"},
		{"unicode", "Ünïcödé 写真.png", "Ünïcödé 写真.png"},
		{"no extension", "README", "README"},

		// Rule 1: invalid UTF-8.
		{"invalid bytes", "a\xffb\xc3.txt", "ab.txt"},
		{"truncated rune", "photo\xe2\x82.png", "photo.png"},
		{"only invalid", "\xff\xfe\xfd", "file"},

		// Rule 2: path elements and drive prefixes.
		{"unix traversal", "../../etc/passwd", "passwd"},
		{"windows traversal", `..\..\boot.ini`, "boot.ini"},
		{"windows path", `C:\Users\x\a.png`, "a.png"},
		{"mixed separators", `a/b\c/d.txt`, "d.txt"},
		{"drive relative", "C:a.png", "a.png"},
		{"lower drive", "d:notes.txt", "notes.txt"},
		{"trailing separator", "dir/", "file"},
		{"only dots path", "../..", "file"},
		{"unc path", `\\server\share\doc.txt`, "doc.txt"},

		// Rule 3: NFC.
		{"nfd", "e\u0301.txt", "\u00e9.txt"},
		{"nfd hangul", "\u1100\u1161.txt", "\uac00.txt"},
		{"singleton", "\u212b.txt", "\u00c5.txt"},

		// Rule 4: control, format and other invisible characters.
		{"rtl override", "invoice\u202Egpj.exe", "invoicegpj.exe"},
		{"bidi isolates", "a\u2066b\u2067c\u2068d\u2069.txt", "abcd.txt"},
		{"lrm rlm", "\u200Ea\u200Fb.txt", "ab.txt"},
		{"zero width", "a\u200Bb\u200Cc\u200Dd.txt", "abcd.txt"},
		{"bom", "\uFEFFdata.csv", "data.csv"},
		{"nul", "a\x00b.txt", "ab.txt"},
		{"newline", "a\r\nb.txt", "ab.txt"},
		{"tab", "a\tb.txt", "ab.txt"},
		{"del and c1", "a\x7fb\u0085c.txt", "abc.txt"},
		{"line separator", "a\u2028b\u2029c.txt", "abc.txt"},
		{"private use", "a\ue000b\U000F0000.txt", "ab.txt"},
		{"noncharacter", "a\ufffeb\uffff.txt", "ab.txt"},
		{"unassigned", "a\U000E0080b.txt", "ab.txt"},
		{"nbsp", "a\u00a0b.txt", "a b.txt"},
		{"ideographic space", "a\u3000\u3000b.txt", "a b.txt"},
		{"space run", "a  \u2003 b.txt", "a b.txt"},
		{"space run across removed", "a \u200B b.txt", "a b.txt"},
		{"renormalized after removal", "e\u200B\u0301.txt", "\u00e9.txt"},
		{"only controls", "\x00\x01\x1f\x7f", "file"},
		{"only format", "\u202E\u200B\uFEFF", "file"},

		// Rule 5: characters reserved on Windows.
		{"reserved", `a<b>c:d"e|f?g*h.txt`, "a_b_c_d_e_f_g_h.txt"},
		{"question mark", "what?.txt", "what_.txt"},

		// Rule 6: leading and trailing spaces and dots.
		{"trailing dots and spaces", "a.txt. . .", "a.txt"},
		{"leading spaces", "   a.txt", "a.txt"},
		{"dotfile", ".bashrc", "bashrc"},
		{"dot", ".", "file"},
		{"dotdot", "..", "file"},
		{"dots and spaces", " . .. ", "file"},
		{"empty", "", "file"},
		{"spaces", "   ", "file"},

		// Rule 7: Windows device names.
		{"con ext", "con.txt", "_con.txt"},
		{"CON", "CON", "_CON"},
		{"lpt1", "Lpt1", "_Lpt1"},
		{"com9 double ext", "com9.tar.gz", "_com9.tar.gz"},
		{"nul", "NUL.json", "_NUL.json"},
		{"aux", "aux", "_aux"},
		{"prn", "prn.log", "_prn.log"},
		{"com0", "COM0", "_COM0"},
		{"superscript", "COM\u00b9.txt", "_COM\u00b9.txt"},
		{"superscript lpt", "lpt\u00b3", "_lpt\u00b3"},
		{"conin", "CONIN$", "_CONIN$"},
		{"stem with space", "con .txt", "_con .txt"},
		{"device after path", `C:\dir\aux.c`, "_aux.c"},
		{"device after trim", "..nul..", "_nul"},
		{"not device com10", "com10.txt", "com10.txt"},
		{"not device console", "console.txt", "console.txt"},
		{"not device suffix", "icon.txt", "icon.txt"},
		{"not device com", "com.txt", "com.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Clean(tt.in)
			if got != tt.want {
				t.Errorf("Clean(%+q) = %+q, want %+q", tt.in, got, tt.want)
			}
			checkInvariants(t, tt.in, got)
		})
	}

	// Rule 8: length limits.
	lengthTests := []struct {
		name    string
		in      string
		wantLen int
		prefix  string
		suffix  string
	}{
		{"ascii with ext", long("a", 300) + ".txt", 255, "aaaa", "a.txt"},
		{"ascii no ext", long("b", 300), 255, "bbbb", "bbbb"},
		// "é" is two bytes: 125 of them (250 bytes) plus ".jpeg" is 255.
		{"two byte runes", long("é", 150) + ".jpeg", 255, "éé", "é.jpeg"},
		// "€" is three bytes: 83 of them (249 bytes) plus ".pdf" is 253.
		{"three byte runes", long("€", 100) + ".pdf", 253, "€€", "€.pdf"},
		// "😀" is four bytes: 62 of them (248 bytes) plus ".gif" is 252.
		{"four byte runes", long("😀", 80) + ".gif", 252, "😀", "😀.gif"},
		{"four byte runes no ext", long("😀", 80), 252, "😀", "😀"},
		// A cut that would leave "x." or "x " backs off further.
		{"cut before dot", long("x", 250) + "......" + long("y", 50) + ".txt", 254, "xxx", "x.txt"},
		{"cut before space", long("x", 250) + " " + long("y", 50) + ".txt", 254, "xxx", "x.txt"},
		// An extension longer than MaxExtLen is not kept.
		{"long ext", long("a", 250) + "." + long("e", 40), 255, "aaa", "eee"},
		// Combining marks stay with their base character.
		{"combining", long("a", 250) + "q\u0307\u0323\u0307\u0323" + long("z", 50) + ".txt", 254, "aaa", "a.txt"},
		// NFC inserts U+034F after every 30 marks; the cut lands there.
		{"many marks", "con" + long("\u0334", 200) + ".txt", 253, "con\u0334", "\u0334.txt"},
	}
	for _, tt := range lengthTests {
		t.Run(tt.name, func(t *testing.T) {
			got := Clean(tt.in)
			if tt.wantLen != 0 && len(got) != tt.wantLen {
				t.Errorf("len(Clean(%+q)) = %d, want %d", tt.in, len(got), tt.wantLen)
			}
			if !strings.HasPrefix(got, tt.prefix) || !strings.HasSuffix(got, tt.suffix) {
				t.Errorf("Clean(%+q) = %+q, want prefix %+q and suffix %+q", tt.in, got, tt.prefix, tt.suffix)
			}
			checkInvariants(t, tt.in, got)
		})
	}
}

func TestExt(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"a.png", ".png"},
		{"A.PNG", ".png"},
		{"archive.tar.GZ", ".gz"},
		{"README", ""},
		{".bashrc", ""},
		{"a.txt. . .", ".txt"},
		{"invoice\u202Egpj.exe", ".exe"},
		{"photo.jp\u200Bg", ".jpg"},
		{"../../etc/passwd", ""},
		{`C:\x\report.Docx`, ".docx"},
		{"", ""},
		{".", ""},
		{"con.txt", ".txt"},
		{strings.Repeat("a", 300) + ".webp", ".webp"},
	}
	for _, tt := range tests {
		if got := Ext(tt.in); got != tt.want {
			t.Errorf("Ext(%+q) = %+q, want %+q", tt.in, got, tt.want)
		}
	}
}

// checkInvariants reports every property of Clean's result that is broken
// for the input in.
func checkInvariants(t *testing.T, in, got string) {
	t.Helper()
	if got == "" {
		t.Fatalf("Clean(%+q) = \"\"", in)
	}
	if !utf8.ValidString(got) {
		t.Errorf("Clean(%+q) = %+q: invalid UTF-8", in, got)
	}
	if !norm.NFC.IsNormalString(got) {
		t.Errorf("Clean(%+q) = %+q: not NFC", in, got)
	}
	if strings.ContainsAny(got, "/\\\x00") {
		t.Errorf("Clean(%+q) = %+q: contains a separator or NUL", in, got)
	}
	if strings.ContainsAny(got, `<>:"|?*`) {
		t.Errorf("Clean(%+q) = %+q: contains a reserved character", in, got)
	}
	for _, r := range got {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp) {
			t.Errorf("Clean(%+q) = %+q: contains %U", in, got, r)
		}
	}
	if len(got) > MaxLen {
		t.Errorf("Clean(%+q) = %+q: %d bytes, more than %d", in, got, len(got), MaxLen)
	}
	if got == "." || got == ".." {
		t.Errorf("Clean(%+q) = %+q", in, got)
	}
	if strings.HasSuffix(got, ".") || strings.HasSuffix(got, " ") {
		t.Errorf("Clean(%+q) = %+q: ends with a dot or space", in, got)
	}
	if strings.HasPrefix(got, ".") || strings.HasPrefix(got, " ") {
		t.Errorf("Clean(%+q) = %+q: starts with a dot or space", in, got)
	}
	if strings.Contains(got, "  ") {
		t.Errorf("Clean(%+q) = %+q: contains a run of spaces", in, got)
	}
	if isDeviceName(got) {
		t.Errorf("Clean(%+q) = %+q: Windows device name", in, got)
	}
	if again := Clean(got); again != got {
		t.Errorf("Clean(%+q) = %+q, but Clean(%+q) = %+q", in, got, got, again)
	}
	ext := Ext(in)
	if ext != "" && !strings.HasSuffix(strings.ToLower(got), ext) {
		t.Errorf("Ext(%+q) = %+q is not a suffix of %+q", in, ext, got)
	}
	if Ext(got) != ext {
		t.Errorf("Ext(%+q) = %+q, but Ext(%+q) = %+q", in, ext, got, Ext(got))
	}
}

func FuzzClean(f *testing.F) {
	f.Add("report.pdf")
	f.Add("../../etc/passwd")
	f.Add("invoice\u202Egpj.exe")
	f.Fuzz(func(t *testing.T, name string) {
		checkInvariants(t, name, Clean(name))
	})
}
