package tusadapter

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
)

// tusMeta is what Carcosa reads from a tus upload's Upload-Metadata.
type tusMeta struct {
	route string
	name  string // as the client sent it; cleaned before use
	typ   string // claimed MIME type
	input []byte // JSON, possibly empty
}

// parseTusMeta reads the route, the file's name and claimed type (under the
// names tus-js-client and Uppy use: filename or name, filetype or type) and
// the route input.
func parseTusMeta(md tusd.MetaData) (tusMeta, error) {
	m := tusMeta{route: md["route"]}
	if m.route == "" {
		return m, apierr.ErrBadRequest.With(`the Upload-Metadata header must name a "route"`)
	}
	if !lifecycle.ValidRouteName(m.route) {
		return m, apierr.ErrUnknownRoute
	}
	m.name = md["filename"]
	if m.name == "" {
		m.name = md["name"]
	}
	m.typ = md["filetype"]
	if m.typ == "" {
		m.typ = md["type"]
	}
	if len(m.typ) > 255 {
		m.typ = m.typ[:255]
	}
	if in, ok := md["input"]; ok {
		if len(in) > lifecycle.MaxInputSize {
			return m, apierr.ErrInvalidInput.With("the input is larger than 64 KiB")
		}
		if strings.TrimSpace(in) != "" && !json.Valid([]byte(in)) {
			return m, apierr.ErrBadRequest.With("the input is not valid JSON")
		}
		m.input = []byte(in)
	}
	return m, nil
}

// MaxTusMetadata bounds the Upload-Metadata of a tus creation, as sent
// (base64 values), leaving out the route input, which has its own limit of
// 64 KiB decoded. A larger header is refused with ErrMetadataTooLarge.
const MaxTusMetadata = 16 << 10

// checkMetadataSize refuses an Upload-Metadata header larger than
// MaxTusMetadata besides its input entry. The whole header is bounded
// first, since every entry named input is left out of the second count.
func checkMetadataSize(header string) error {
	const slack = 64 // "input ", separators and spaces
	if len(header) > MaxTusMetadata+base64.StdEncoding.EncodedLen(lifecycle.MaxInputSize)+slack {
		return apierr.ErrMetadataTooLarge
	}
	rest := len(header)
	for el := range strings.SplitSeq(header, ",") {
		if key, _, _ := strings.Cut(strings.TrimSpace(el), " "); key == "input" {
			rest -= len(el)
		}
	}
	if rest > MaxTusMetadata {
		return apierr.ErrMetadataTooLarge
	}
	return nil
}

// tusKeys are the Upload-Metadata keys staged with an upload, the ones
// Carcosa reads; tusd would keep any others too, for as long as the upload
// lives. The input is kept in the record only.
var tusKeys = []string{"route", "filename", "name", "filetype", "type"}

// keptMeta is what of md is staged with an upload.
func keptMeta(md tusd.MetaData) tusd.MetaData {
	kept := make(tusd.MetaData, len(tusKeys))
	for _, k := range tusKeys {
		if v, ok := md[k]; ok {
			kept[k] = v
		}
	}
	return kept
}
