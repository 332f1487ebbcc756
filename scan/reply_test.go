package scan

import (
	"errors"
	"strings"
	"testing"
)

func TestParseReply(t *testing.T) {
	tests := []struct {
		reply string
		want  Verdict
		err   error // matched with errors.Is
	}{
		{"stream: OK", Verdict{}, nil},
		{"stream: OK\x00", Verdict{}, nil},
		{"stream: OK\n", Verdict{}, nil},
		{"stream: Eicar-Test-Signature FOUND", Verdict{Infected: true, Signature: "Eicar-Test-Signature"}, nil},
		{"stream: Eicar-Test-Signature.UNOFFICIAL FOUND\x00", Verdict{Infected: true, Signature: "Eicar-Test-Signature.UNOFFICIAL"}, nil},
		{"stream: Win.Test.EICAR_HDB-1(44d88612fea8a8f36de82e1278abb02f:68) FOUND", Verdict{Infected: true, Signature: "Win.Test.EICAR_HDB-1"}, nil},
		{"stream: Odd(name) FOUND", Verdict{Infected: true, Signature: "Odd(name)"}, nil},
		{"stream: Heuristics.Encrypted.Zip FOUND", Verdict{Infected: true, Signature: "Heuristics.Encrypted.Zip"}, nil},
		{"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND", Verdict{}, ErrTooLarge},
		{"INSTREAM size limit exceeded. ERROR", Verdict{}, ErrTooLarge},
		{"INSTREAM size limit exceeded. ERROR\x00", Verdict{}, ErrTooLarge},
		{"stream: Can't allocate memory ERROR", Verdict{}, ErrUnavailable},
		{"Error processing command. ERROR", Verdict{}, ErrUnavailable},
		{"ERROR", Verdict{}, ErrUnavailable},
		{"UNKNOWN COMMAND", Verdict{}, ErrUnavailable},
		{"COMMAND READ TIMED OUT", Verdict{}, ErrUnavailable},
		{"", Verdict{}, ErrUnavailable},
		{"stream:", Verdict{}, ErrUnavailable},
		{"stream: FOUND", Verdict{}, ErrUnavailable},
		{"stream:  FOUND", Verdict{}, ErrUnavailable},
		{"stream: \x01 FOUND", Verdict{}, ErrUnavailable},
		{"stream: OK FOUND ERROR", Verdict{}, ErrUnavailable},
		{"stream: ok", Verdict{}, ErrUnavailable},
		{"/tmp/x: OK", Verdict{}, ErrUnavailable},
		{"PONG", Verdict{}, ErrUnavailable},
	}
	for _, tc := range tests {
		v, err := parseReply(tc.reply)
		if v != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("parseReply(%q) = %+v, %v; want %+v, %v", tc.reply, v, err, tc.want, tc.err)
		}
	}
	_, err := parseReply("INSTREAM size limit exceeded. ERROR")
	if !strings.Contains(err.Error(), "INSTREAM size limit exceeded") {
		t.Errorf("the error %q lost clamd's reason", err)
	}
}

// FuzzParseReply checks that no answer makes parseReply panic, or return a
// verdict and an error together, or an infected verdict without a name.
func FuzzParseReply(f *testing.F) {
	// The seeds are in testdata/fuzz/FuzzParseReply.
	f.Fuzz(func(t *testing.T, reply string) {
		v, err := parseReply(reply)
		switch {
		case err != nil && v != Verdict{}:
			t.Errorf("parseReply(%q) = %+v with the error %v", reply, v, err)
		case err != nil && !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrTooLarge):
			t.Errorf("parseReply(%q): %v matches neither ErrUnavailable nor ErrTooLarge", reply, err)
		case v.Infected && (v.Signature == "" || strings.ContainsAny(v.Signature, "\x00\n")):
			t.Errorf("parseReply(%q) = %+v: infected, without a valid name", reply, v)
		case !v.Infected && v.Signature != "":
			t.Errorf("parseReply(%q) = %+v: a name without infection", reply, v)
		case err == nil && !v.Infected && strings.TrimSpace(strings.TrimRight(reply, "\x00")) != "stream: OK":
			t.Errorf("parseReply(%q) is clean; only \"stream: OK\" is", reply)
		}
	})
}
