package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// state keeps the tus URL of each upload under way, so that an upload cut
// short resumes when the command is run again: one small file per upload,
// named by a hash of the server, route, file path, size and modification
// time (a file changed since is uploaded anew).
type state struct {
	dir string // "" when there is nowhere to keep it
	c   *cli
}

// resumeEntry is a state file's content.
type resumeEntry struct {
	URL     string    `json:"url"`
	Server  string    `json:"server"`
	Route   string    `json:"route"`
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
}

// openState finds the state directory: $CARCOSA_STATE_DIR, else carcosa/
// under the user's cache directory.
func openState(c *cli) *state {
	dir := os.Getenv("CARCOSA_STATE_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			fmt.Fprintf(c.stderr, "carcosa: no cache directory (%v): an interrupted upload will start over\n", err)
			return &state{c: c}
		}
		dir = filepath.Join(cache, "carcosa")
	}
	return &state{dir: filepath.Join(dir, "uploads"), c: c}
}

// key names the state of file f, with info fi, uploaded to route at server.
func (s *state) key(server, route, f string, fi os.FileInfo) string {
	abs, err := filepath.Abs(f)
	if err != nil {
		abs = f
	}
	e := resumeEntry{Server: server, Route: route, Path: abs, Size: fi.Size(), ModTime: fi.ModTime().UTC()}
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func (s *state) path(key string) string { return filepath.Join(s.dir, key+".json") }

// load returns the tus URL kept under key, or "".
func (s *state) load(key string) string {
	if s.dir == "" {
		return ""
	}
	b, err := os.ReadFile(s.path(key))
	if err != nil {
		return ""
	}
	var e resumeEntry
	if json.Unmarshal(b, &e) != nil {
		return ""
	}
	return e.URL
}

// save keeps url under key. A failure is reported, not fatal: the upload
// goes on, and would start over if interrupted.
func (s *state) save(key, url string) {
	if s.dir == "" {
		return
	}
	b, _ := json.Marshal(resumeEntry{URL: url})
	err := os.MkdirAll(s.dir, 0o700)
	if err == nil {
		tmp := s.path(key) + ".tmp" + strconv.Itoa(os.Getpid())
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, s.path(key))
		}
	}
	if err != nil {
		fmt.Fprintf(s.c.stderr, "carcosa: cannot keep the upload's URL for a resume: %v\n", err)
	}
}

// forget removes key's state.
func (s *state) forget(key string) {
	if s.dir != "" {
		os.Remove(s.path(key))
	}
}
