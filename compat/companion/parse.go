package companion

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/drivers"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
)

// The client's input is parsed here, apart from the handlers, so that the
// fuzz tests reach every parser.

// maxParts is S3's largest part number, and the most parts an upload has.
const maxParts = 10000

// maxBody bounds the JSON bodies: a create request (input of 64 KiB at
// most, Uppy's metadata) and a complete request (10,000 parts of about 60
// bytes each).
const maxBody = 1 << 20

// createRequest is the body of POST {Path}/s3/multipart.
type createRequest struct {
	Filename string         `json:"filename"`
	Type     string         `json:"type"`
	Metadata map[string]any `json:"metadata"`
}

// declared is what a client declares of a new upload: the route, the
// route's input (JSON; nil for none), and the file's name and type (""
// when it declares none).
type declared struct {
	Route string
	Input []byte
	Name  string
	Type  string
}

// decodeCreate reads the body of a create request: {filename, type,
// metadata}, where metadata is Uppy's file.meta, whose values may be of
// any JSON type.
func decodeCreate(r io.Reader) (declared, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return declared{}, apierr.Body(err)
	}
	if len(body) > maxBody {
		return declared{}, apierr.ErrBadRequest.With("the request body is too large")
	}
	var cr createRequest
	if err := json.Unmarshal(body, &cr); err != nil {
		return declared{}, apierr.ErrBadRequest.With(`the body must be JSON: {"filename", "type", "metadata": {"route", "input"?}}`)
	}
	d := declared{Name: cr.Filename, Type: fileType(cr.Type)}
	route, _ := cr.Metadata["route"].(string)
	if route == "" {
		return declared{}, errNoRoute
	}
	d.Route = route
	switch in := cr.Metadata["input"].(type) {
	case nil:
	case string:
		if d.Input, err = inputOf(in); err != nil {
			return declared{}, err
		}
	default:
		d.Input, _ = json.Marshal(in) // it came from JSON
	}
	return d, nil
}

// decodeParams reads the query of GET {Path}/s3/params: filename, type
// and metadata[name] for each of Uppy's metadata fields, which Uppy sends
// as strings (an object as "[object Object]", so input is JSON text).
func decodeParams(q map[string][]string) (declared, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	d := declared{Name: get("filename"), Type: fileType(get("type")), Route: get("metadata[route]")}
	if d.Route == "" {
		return declared{}, errNoRoute
	}
	if in, ok := q["metadata[input]"]; ok && len(in) > 0 {
		var err error
		if d.Input, err = inputOf(in[0]); err != nil {
			return declared{}, err
		}
	}
	return d, nil
}

var errNoRoute = apierr.ErrBadRequest.With(`the upload's metadata must name its route: uppy.setMeta({route: "…"})`)

// inputOf reads an input sent as text: JSON, or nothing for "", "null"
// and "undefined" (what Uppy sends for a field set to null or undefined).
func inputOf(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "null", "undefined":
		return nil, nil
	}
	if !json.Valid([]byte(s)) {
		return nil, apierr.ErrBadRequest.With("metadata.input must be JSON (JSON.stringify the route's input)")
	}
	return []byte(s), nil
}

// fileType is the type a client declared; Uppy sends
// application/octet-stream for a file the browser has no type for, which
// declares nothing.
func fileType(t string) string {
	mt, _, _ := strings.Cut(t, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if mt == "application/octet-stream" || len(t) > 255 {
		return ""
	}
	return t
}

// uploadID is the uploadId the client is given: the upload's Carcosa ID
// and its S3 multipart upload's id, so that each request names both.
func uploadID(id, s3ID string) string { return id + "." + s3ID }

// parseUploadID splits an uploadId made by uploadID; ok is false for any
// other.
func parseUploadID(s string) (id, s3ID string, ok bool) {
	id, s3ID, found := strings.Cut(s, ".")
	if !found || !lifecycle.ValidID(id) || s3ID == "" || len(s3ID) > 1024 {
		return "", "", false
	}
	for i := 0; i < len(s3ID); i++ {
		if c := s3ID[i]; c <= ' ' || c >= 0x7f {
			return "", "", false
		}
	}
	return id, s3ID, true
}

// parsePartNumber reads a part number, 1 to 10,000.
func parsePartNumber(s string) (int32, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxParts || len(s) > 5 {
		return 0, apierr.ErrBadRequest.With("a part number is an integer from 1 to 10000")
	}
	return int32(n), nil
}

// maxBatch bounds the parts signed by one batch request.
const maxBatch = 1000

// parsePartNumbers reads the partNumbers of a batch request: part
// numbers separated by commas, each once, at most 1,000 of them.
func parsePartNumbers(s string) ([]int32, error) {
	if s == "" {
		return nil, apierr.ErrBadRequest.With("partNumbers must list part numbers separated by commas")
	}
	fields := strings.Split(s, ",")
	if len(fields) > maxBatch {
		return nil, apierr.ErrBadRequest.With("at most 1000 parts are signed at once")
	}
	seen := make(map[int32]bool, len(fields))
	out := make([]int32, 0, len(fields))
	for _, f := range fields {
		n, err := parsePartNumber(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

type completeRequest struct {
	Parts []struct {
		PartNumber json.Number `json:"PartNumber"`
		ETag       string      `json:"ETag"`
	} `json:"parts"`
}

// decodeParts reads the body of a complete request, {"parts":
// [{"PartNumber", "ETag"}]}, into parts in ascending order, each once,
// their ETags quoted as S3 gives them (Uppy sends them without quotes).
func decodeParts(r io.Reader) ([]drivers.Part, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, apierr.Body(err)
	}
	if len(body) > maxBody {
		return nil, apierr.ErrBadRequest.With("the request body is too large")
	}
	bad := apierr.ErrBadRequest.With(`the body must be JSON: {"parts": [{"PartNumber", "ETag"}]}, each part once, with its ETag`)
	var cr completeRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&cr); err != nil || len(cr.Parts) == 0 || len(cr.Parts) > maxParts {
		return nil, bad
	}
	parts := make([]drivers.Part, len(cr.Parts))
	for i, p := range cr.Parts {
		n, err := parsePartNumber(p.PartNumber.String())
		if err != nil {
			return nil, err
		}
		etag := strings.Trim(strings.TrimSpace(p.ETag), `"`)
		if !etagOK(etag) {
			return nil, bad
		}
		parts[i] = drivers.Part{Number: n, ETag: `"` + etag + `"`}
	}
	// S3 wants them ascending; a client may list them as they finished.
	slices.SortFunc(parts, func(a, b drivers.Part) int { return cmp.Compare(a.Number, b.Number) })
	for i := 1; i < len(parts); i++ {
		if parts[i].Number == parts[i-1].Number {
			return nil, bad
		}
	}
	return parts, nil
}

// etagOK reports whether an ETag, unquoted, is of S3's form: hex digits,
// and "-" with the count of parts for an object made of parts.
func etagOK(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}
