// Package client is a Go client of a Carcosa server: it uploads files
// through tus, resumably, and reads, lists, follows and deletes uploads
// over the server's HTTP contract (see the README's "HTTP contract").
//
// It imports nothing of the server: a program that only uploads links the
// standard library alone.
//
// # Uploading
//
// [Client.Upload] and [Client.UploadFile] create a tus upload whose
// metadata name the route, the file and the route's JSON input, and send
// the bytes in chunks ([Options].ChunkSize), each with its SHA-256 when
// the server takes the checksum extension. A dropped connection, or an
// answer that may change if asked again (5xx, 408, 409, 423, 460), is
// retried after a backoff ([Retry]), from the offset the server reports;
// other refusals are returned at once. They return the upload's record
// once it is final: ready, or rejected, quarantined or failed with the
// record's error.
//
//	c, err := client.New("https://example.com/api/uploads", &client.Options{
//		Token: func(ctx context.Context) (string, error) { return token, nil },
//	})
//	u, err := c.UploadFile(ctx, "photos", "lake.png", &client.UploadOptions{
//		Input: map[string]string{"caption": "At the lake"},
//	})
//	if errors.Is(err, client.ErrTypeNotAllowed) { … }
//	fmt.Println(u.State, u.URL)
//
// Memory does not grow with the file: each chunk is read twice from the
// io.ReadSeeker, to hash it and to send it. A program that may stop
// mid-upload keeps the URL [UploadOptions].OnCreate gives it and passes it
// back as [UploadOptions].ResumeURL; the upload goes on where the server
// stopped receiving.
//
// # Errors
//
// Every answer of the server's that refuses a request is an [*Error] with
// the server's stable code, status, message, failing input fields and
// request ID. Errors compare by code: errors.Is(err, client.ErrQuotaExceeded)
// holds for any quota_exceeded answer. Errors on the way (a refused
// connection, a context done) are returned as the net/http client gives
// them.
//
// # Following an upload
//
// [Client.Wait] follows an upload's Server-Sent Events until a final
// state, and polls the record should the stream fail.
package client
