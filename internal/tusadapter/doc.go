// Package tusadapter serves tus 1.0 (creation, creation-with-upload,
// concatenation, termination, checksum and expiration) under the Router's
// B/tus/, on top of tusd's unrouted handler. It admits each request
// through the Router (Host), stages the bytes in a staging area it opens
// (a local directory or a bucket), locks each upload through the Store
// when the Store can lock, and hands an upload whose last byte arrived to
// the Router to be verified and stored, answering tusd's errors in
// Carcosa's JSON.
//
// Shielding: tusd answers a request for an upload's lock by asking the
// holder to let go, and the holder does so by cutting its request body
// short; that is how a client that reconnects takes over its upload. A
// request that has received every byte and is finishing the upload has
// nothing left to cut, and cutting it would spoil its connection for the
// next request, so its lock is shielded: a waiter's request to let go is
// not passed on to it, and the waiter waits for the finish to end. The
// finish hook shields only the lock that its own request holds on the
// upload (tusd holds one while a PATCH, or a creation with upload, writes
// the last bytes; it holds none while it finishes a final concatenation or
// an empty upload). The mark belongs to that lock and ends with it, when
// tusd unlocks: no count is kept that could outlive the request. Nor is
// a holder asked to let go before tusd reads its body (see bodyGate).
package tusadapter
