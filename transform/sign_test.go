package transform

import "testing"

func TestSignVerify(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	s := Spec{Width: 256, Height: 256, Fit: Cover}
	sig := Sign(secret, "photos/cat.jpg", s)
	if !Verify(secret, "photos/cat.jpg", s, sig) {
		t.Fatal("a valid signature is refused")
	}
	// The same canonical spec, spelled otherwise, verifies.
	if !Verify(secret, "photos/cat.jpg", Spec{Width: 256, Height: 256, Quality: DefaultQuality}, sig) {
		t.Error("an equal spec is refused")
	}
	tests := []struct {
		name   string
		secret []byte
		key    string
		spec   Spec
		sig    string
	}{
		{"tampered key", secret, "photos/dog.jpg", s, sig},
		{"key and spec moved across the separator", secret, "photos/cat.jpg\x00w256", s, sig},
		{"tampered spec", secret, "photos/cat.jpg", Spec{Width: 4096, Height: 4096}, sig},
		{"a format added", secret, "photos/cat.jpg", Spec{Width: 256, Height: 256, Format: WebP}, sig},
		{"auto for the source's format", secret, "photos/cat.jpg", Spec{Width: 256, Height: 256, Format: Auto}, sig},
		{"wrong secret", []byte("another secret"), "photos/cat.jpg", s, sig},
		{"empty signature", secret, "photos/cat.jpg", s, ""},
		{"truncated signature", secret, "photos/cat.jpg", s, sig[:len(sig)-1]},
		{"padded signature", secret, "photos/cat.jpg", s, sig + "="},
	}
	for _, tt := range tests {
		if Verify(tt.secret, tt.key, tt.spec, tt.sig) {
			t.Errorf("%s: verified", tt.name)
		}
	}
	// The quality of WebP and AVIF is signed, as JPEG's.
	for _, f := range []Format{WebP, AVIF, Auto} {
		q50 := Sign(secret, "photos/cat.jpg", Spec{Format: f, Quality: 50})
		if Verify(secret, "photos/cat.jpg", Spec{Format: f, Quality: 90}, q50) {
			t.Errorf("%s: a signature for q=50 verifies q=90", f)
		}
	}
	if len(sig) != 43 {
		t.Errorf("the signature %q is %d characters, want 43 (32 bytes, base64url without padding)", sig, len(sig))
	}
}
