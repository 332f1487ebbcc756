package webhook

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"testing"
	"time"
)

// FuzzVerify feeds Verify headers as a client may send them. It must never
// panic, accept only what was signed with the secret, and every signature
// ParseSignatures returns must be a SHA-256 MAC.
func FuzzVerify(f *testing.F) {
	f.Add(specID, "1614265330", specSignature, []byte(specBody))
	f.Add(specID, "1614265330", specWrong+" "+specSignature, []byte(specBody))
	f.Add("", "", "", []byte{})
	f.Add("id", "99999999999999999999", "v1,", []byte("x"))
	f.Add("id", "1614265330", "v1,====", []byte("x"))
	f.Add("id", "+1614265330", "v2,abc v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=  ", []byte("{}"))
	at := time.Unix(specTimestamp, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		for _, s := range ParseSignatures(sig) {
			if len(s) != sha256.Size {
				t.Fatalf("ParseSignatures(%q) returned %d bytes", sig, len(s))
			}
		}
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		err := verify(h, body, []string{specSecret}, time.Hour, at)
		if err != nil {
			return
		}
		// Accepted: then a signature of the header must be the MAC of
		// exactly these id, timestamp and body.
		key, _ := ParseSecret(specSecret)
		want := mac(key, id, ts, body)
		for _, s := range ParseSignatures(sig) {
			if bytes.Equal(s, want) {
				return
			}
		}
		t.Fatalf("Verify accepted id %q ts %q sig %q without a matching signature", id, ts, sig)
	})
}
