package testenv

import (
	"bytes"
	"crypto/rand"
	"io"
)

// neutral starts the random data of tests: it matches no file signature,
// so type detection takes the data for application/octet-stream. Plain
// random data is now and then taken for MP3, gzip, zlib or even a Windows
// executable (about 1 in 2500 samples of 4 KiB), which made tests that
// upload it fail at random.
const neutral = "\x7fCRC\x00\x01\x02\x03"

// RandomBytes returns n random bytes, after neutral's. It panics when n is
// less than 8: such a slice would hold no random byte at all.
func RandomBytes(n int) []byte {
	if n < len(neutral) {
		panic("testenv: RandomBytes needs n >= 8; use crypto/rand for names")
	}
	b := make([]byte, n)
	rand.Read(b)
	copy(b, neutral)
	return b
}

// RandomReader returns an endless reader of random bytes, after neutral's.
func RandomReader() io.Reader {
	return io.MultiReader(bytes.NewReader([]byte(neutral)), rand.Reader)
}
