package tusadapter

import (
	"fmt"
	"path/filepath"

	"github.com/carcosa-dev/carcosa/internal/blobstage"
	"github.com/carcosa-dev/carcosa/internal/staging"
	"github.com/carcosa-dev/carcosa/internal/tusstage"
	"github.com/carcosa-dev/carcosa/storage"
)

// openStaging opens bucket b as the staging area, or the local area under
// dataDir/tus when b is nil.
func (h *Handler) openStaging(b *storage.Bucket, dataDir string) (staging.Area, error) {
	if b != nil {
		s, err := blobstage.New(b.Blob(), &blobstage.Options{
			Prefix:   stagingPrefix,
			Limit:    h.tusLimit,
			S3Bucket: b.S3Name(),
		})
		if err != nil {
			return nil, fmt.Errorf("carcosa: opening the staging bucket: %w", err)
		}
		return s, nil
	}
	s, err := tusstage.New(filepath.Join(dataDir, "tus"), &tusstage.Options{Limit: h.tusLimit})
	if err != nil {
		return nil, fmt.Errorf("carcosa: opening the tus staging area: %w", err)
	}
	return s, nil
}

// stagingPrefix is where resumable uploads are staged in a staging bucket.
// Keys of stored files start with a route name, which cannot start with a
// dot, so the two never meet.
const stagingPrefix = ".carcosa-tus/"

// Both staging areas satisfy staging.Area as they are;
// internal/stagingtest holds the suite both run.
var (
	_ staging.Area = (*blobstage.Store)(nil)
	_ staging.Area = (*tusstage.Store)(nil)
)
