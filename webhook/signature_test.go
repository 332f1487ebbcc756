package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/store"
)

// The vectors of the Standard Webhooks reference libraries
// (github.com/standard-webhooks/standard-webhooks, libraries/go/webhook_test.go,
// TestWebhookSign, and the same values in the other languages' tests).
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	// A well-formed signature that matches nothing, from the same tests.
	specWrong = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
)

func specHeader(ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set(HeaderID, specID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h
}

func TestSignSpecVector(t *testing.T) {
	got, err := Sign(specID, time.Unix(specTimestamp, 0), []byte(specBody), []string{specSecret})
	if err != nil {
		t.Fatal(err)
	}
	if got != specSignature {
		t.Errorf("Sign = %s, want %s", got, specSignature)
	}
	// The spec's vector verifies at its own time.
	at := time.Unix(specTimestamp, 0)
	if err := verify(specHeader(at, specSignature), []byte(specBody), []string{specSecret}, 0, at.Add(time.Minute)); err != nil {
		t.Errorf("verify of the spec's vector: %v", err)
	}
}

func TestVerify(t *testing.T) {
	now := time.Now()
	body := []byte(specBody)
	valid, err := Sign(specID, now, body, []string{specSecret})
	if err != nil {
		t.Fatal(err)
	}
	other := NewSecret()
	for _, tc := range []struct {
		name    string
		header  http.Header
		body    string
		secrets []string
		want    error
	}{
		{"valid", specHeader(now, valid), specBody, []string{specSecret}, nil},
		{"valid among others", specHeader(now, strings.Join([]string{specWrong, "v2," + valid[3:], valid, specWrong}, " ")), specBody, []string{specSecret}, nil},
		{"second secret matches", specHeader(now, valid), specBody, []string{other, specSecret}, nil},
		{"wrong signature", specHeader(now, specWrong), specBody, []string{specSecret}, ErrNoMatch},
		{"other version only", specHeader(now, "v1a,"+valid[3:]), specBody, []string{specSecret}, ErrNoMatch},
		{"body changed", specHeader(now, valid), specBody + " ", []string{specSecret}, ErrNoMatch},
		{"wrong secret", specHeader(now, valid), specBody, []string{other}, ErrNoMatch},
		{"no secret", specHeader(now, valid), specBody, nil, ErrNoMatch},
		{"old", specHeader(now.Add(-DefaultTolerance-time.Second), valid), specBody, []string{specSecret}, ErrBadTimestamp},
		{"future", specHeader(now.Add(DefaultTolerance+2*time.Second), valid), specBody, []string{specSecret}, ErrBadTimestamp},
		{"missing id", func() http.Header { h := specHeader(now, valid); h.Del(HeaderID); return h }(), specBody, []string{specSecret}, ErrMissingHeader},
		{"missing timestamp", func() http.Header { h := specHeader(now, valid); h.Del(HeaderTimestamp); return h }(), specBody, []string{specSecret}, ErrMissingHeader},
		{"missing signature", func() http.Header { h := specHeader(now, valid); h.Del(HeaderSignature); return h }(), specBody, []string{specSecret}, ErrMissingHeader},
		{"timestamp not a number", func() http.Header { h := specHeader(now, valid); h.Set(HeaderTimestamp, "-1"); return h }(), specBody, []string{specSecret}, ErrBadTimestamp},
		{"malformed secret", specHeader(now, valid), specBody, []string{"whsec_short"}, ErrBadSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.header, []byte(tc.body), tc.secrets, 0)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	// A wider tolerance accepts an older request.
	old := now.Add(-10 * time.Minute)
	sig, _ := Sign(specID, old, body, []string{specSecret})
	if err := Verify(specHeader(old, sig), body, []string{specSecret}, time.Hour); err != nil {
		t.Errorf("Verify with an hour's tolerance: %v", err)
	}
}

func TestSignSeveralSecrets(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	now := time.Now()
	sig, err := Sign("msg_1", now, []byte("{}"), []string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("%d signatures in %q, want 2", n, sig)
	}
	h := specHeader(now, sig)
	h.Set(HeaderID, "msg_1")
	for _, s := range []string{a, b} {
		if err := Verify(h, []byte("{}"), []string{s}, 0); err != nil {
			t.Errorf("Verify with one of the two secrets: %v", err)
		}
	}
}

func TestSecrets(t *testing.T) {
	s := NewSecret()
	if key, err := ParseSecret(s); err != nil || len(key) != 32 {
		t.Errorf("ParseSecret(NewSecret()) = %d bytes, %v", len(key), err)
	}
	if s == NewSecret() {
		t.Error("two NewSecret are equal")
	}
	if _, err := ParseSecret(specSecret); err != nil {
		t.Errorf("the spec's secret: %v", err)
	}
	for _, bad := range []string{
		"",
		"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",      // no prefix
		"whsec_",                                // nothing
		"whsec_AAAA",                            // 3 bytes
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", // not base64
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=", // trailing junk
		"whsec_" + strings.Repeat("A", 88),        // 66 bytes
		"whsec_MfKQ9r8GKYqrTwjU_D8ILPZIo2LaLaSw",  // URL alphabet
	} {
		if _, err := ParseSecret(bad); !errors.Is(err, ErrBadSecret) {
			t.Errorf("ParseSecret(%q) = %v, want ErrBadSecret", bad, err)
		}
	}
}

func TestTypeOf(t *testing.T) {
	for _, tc := range []struct {
		from, to store.State
		deleted  bool
		want     string
	}{
		{"", store.Uploading, false, TypeCreated},
		{"", store.Processing, false, TypeCreated},
		{store.Uploading, store.Processing, false, ""},
		{store.Processing, store.Ready, false, TypeReady},
		{store.Uploading, store.Rejected, false, TypeRejected},
		{store.Processing, store.Quarantined, false, TypeQuarantined},
		{store.Processing, store.Failed, false, TypeFailed},
		{store.Quarantined, store.Processing, false, TypeReleased},
		{store.Failed, store.Processing, false, ""},
		{store.Ready, "", true, TypeDeleted},
	} {
		if got := TypeOf(tc.from, tc.to, tc.deleted); got != tc.want {
			t.Errorf("TypeOf(%q, %q, %v) = %q, want %q", tc.from, tc.to, tc.deleted, got, tc.want)
		}
	}
}
