package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/carcosa-dev/carcosa/store"
)

// The event types, one per change of an upload that receivers hear of.
const (
	TypeCreated     = "upload.created"     // the upload's record was made
	TypeReady       = "upload.ready"       // the file is verified, stored and served
	TypeRejected    = "upload.rejected"    // refused: bad type, size or input
	TypeQuarantined = "upload.quarantined" // malware found; never served
	TypeFailed      = "upload.failed"      // internal failure; the client may retry
	TypeDeleted     = "upload.deleted"     // the record was removed
	TypeReleased    = "upload.released"    // a quarantined file was released for processing
)

// Types lists every event type.
var Types = []string{TypeCreated, TypeReady, TypeRejected, TypeQuarantined, TypeFailed, TypeDeleted, TypeReleased}

// TypeOf returns the event type of a change of an upload's state: from ""
// is a creation, deleted a removal. It returns "" for changes that send
// nothing, such as uploading→processing.
func TypeOf(from, to store.State, deleted bool) string {
	switch {
	case deleted:
		return TypeDeleted
	case from == "":
		return TypeCreated
	case from == store.Quarantined && to == store.Processing:
		return TypeReleased
	}
	switch to {
	case store.Ready:
		return TypeReady
	case store.Rejected:
		return TypeRejected
	case store.Quarantined:
		return TypeQuarantined
	case store.Failed:
		return TypeFailed
	}
	return ""
}

// Event is what a Dispatcher sends.
type Event struct {
	// Type is one of Types.
	Type string
	// Tenant's endpoints receive the event, besides the operator's; ""
	// sends it to the operator's only.
	Tenant string
	// Data is the body's "data", encoded as JSON (a json.RawMessage is
	// sent as is).
	Data any
	// Time is when it happened: the body's "timestamp". Defaults to now.
	Time time.Time
	// ID, when not empty, is the event's ID (the webhook-id header)
	// instead of a new random one: a sender that may send one event twice
	// (after a crash, say) gives it the same ID both times, and receivers,
	// which dedupe by webhook-id, see it once.
	ID string
}

// Body is the JSON body of every webhook request.
type Body struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// newID returns a random identifier with prefix.
func newID(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// isType reports whether t is one of Types.
func isType(t string) bool {
	for _, x := range Types {
		if x == t {
			return true
		}
	}
	return false
}
