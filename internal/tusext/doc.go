// Package tusext adds the tus checksum extension, which tusd v2 does not
// implement, in front of tusd's handler.
//
// # Protocol
//
// A client may send
//
//	Upload-Checksum: <algorithm> <base64 digest>
//
// with a PATCH or a creation-with-upload POST. The server answers
// [StatusMismatch] (460 Checksum Mismatch) when the body's digest differs,
// and 400 Bad Request for an algorithm it does not offer or a header it
// cannot read; in both cases the upload's offset does not move. The server
// advertises "checksum" in Tus-Extension and [Algorithms] in
// Tus-Checksum-Algorithm on OPTIONS.
//
// # Why the body is spooled
//
// tusd writes bytes into its store as they arrive and cannot take a chunk
// back, so a chunk must be verified before tusd sees any of it. [Spool]
// streams the body into a temporary file while hashing it, so memory does
// not grow with the chunk, and returns a [Spooled] reader over that file only
// when the digest matches:
//
//	sum, err := tusext.ParseChecksum(r.Header.Get("Upload-Checksum"))
//	// ErrUnsupported, ErrMalformed → 400
//	body, err := tusext.Spool(r.Context(), r.Body, sum, dir, remaining)
//	// ErrMismatch → 460; ErrTooLarge → 413
//	defer body.Close()
//	r.Body = body // hand the verified chunk to tusd
//
// The errors are plain sentinels: mapping them to responses is the router's
// job, and their text is not meant for clients.
package tusext
