package storage

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	// The built-in drivers register file:// and mem:// with blob.OpenBucket
	// on import; the cloud ones are imported by storage/s3, storage/gcs and
	// storage/azure.
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob"

	"github.com/carcosa-dev/carcosa/internal/drivers"
)

const (
	defaultContentType = "application/octet-stream"

	// defaultBufferSize is the chunk the cloud drivers buffer and send per
	// request (the S3 part size, the GCS chunk size). Larger chunks mean
	// fewer round trips; the file and memory drivers ignore it.
	defaultBufferSize = 8 << 20

	// maxParts keeps multipart uploads under S3's limit of 10,000 parts,
	// with some headroom.
	maxParts = 9000
)

var (
	_ Storage      = (*Bucket)(nil)
	_ FileImporter = (*Bucket)(nil)
)

// Bucket is a Storage over a gocloud.dev/blob bucket. It is safe for
// concurrent use.
//
// Every Bucket implements FileImporter. A bucket on the local file system
// opened with Open imports by renaming; any other copies the file's bytes in
// with Put and then removes it.
type Bucket struct {
	b    *blob.Bucket
	file *fileDir // nil unless opened by Open from a file:// URL

	// rename moves a file on the local file system; tests replace it to
	// simulate a move across devices.
	rename func(oldpath, newpath string) error

	putByUpload bool // whether b's driver must be given the whole reader; see Put

	// fileMode is the mode of the objects of a file:// bucket opened with
	// Open, 0 for any other bucket.
	fileMode os.FileMode

	s3name   string // the bucket's name, for an s3:// URL
	s3prefix string // the URL's prefix parameter, for an s3:// URL
}

// fileDir is where a file:// bucket keeps its objects, as fileblob lays
// them out.
type fileDir struct {
	dir     string      // absolute path of the bucket's root
	prefix  string      // from the URL's "prefix" parameter, put before every key
	dirMode os.FileMode // for the directories made for keys, and the root
	sidecar bool        // whether fileblob keeps attributes in ".attrs" files
}

// Open opens the bucket at urlstr with blob.OpenBucket: file:///var/data
// and mem:// always; s3://, gs:// and azblob:// once storage/s3,
// storage/gcs or storage/azure is imported (an error names the import
// otherwise); and the schemes of any other gocloud.dev/blob driver
// imported.
//
// A bucket of any other scheme is then listed for at most one object, so
// that a bucket that does not exist, credentials that are refused (they need
// the right to list the bucket) or an endpoint that does not answer within
// 30 seconds fail here, with an error saying which, rather than at the
// first upload.
//
// For a file:// URL, the directory is created if missing and the returned
// Bucket imports files by renaming them into it. Each Put is written to a
// temporary file beside its object and renamed into place (no_tmp_dir=1 is
// the default; set no_tmp_dir=0 to stage in os.TempDir instead). What the
// bucket creates is private to the process's user: directories 0700 (set
// dir_file_mode to change it, as for fileblob) and files 0600 (set
// file_mode, such as file_mode=0640; values as for dir_file_mode). A file's
// mode is set before any of its bytes are written; its ".attrs" sidecar,
// which fileblob writes with the umask's mode, gets it just after, in a
// directory no other user may enter unless dir_file_mode allows it.
//
// Errors never contain the URL's user information or query, which may hold
// credentials.
func Open(ctx context.Context, urlstr string) (*Bucket, error) {
	u, err := url.Parse(urlstr)
	if err != nil {
		// url.Parse errors quote the whole input, so say nothing of it.
		return nil, errors.New("storage: open bucket: malformed URL")
	}
	safe := redactURL(u)
	secrets := urlSecrets(urlstr, u)

	if err := checkScheme(u.Scheme); err != nil {
		return nil, err
	}

	b := &Bucket{rename: os.Rename}
	openURL := urlstr
	if u.Scheme == "file" {
		fd, err := fileDirOf(u)
		if err != nil {
			return nil, fmt.Errorf("storage: open bucket %s: %s", safe, scrub(err.Error(), secrets, safe))
		}
		b.file = fd
		q := u.Query()
		if b.fileMode, err = modeParam(q, "file_mode", 0o600); err != nil {
			return nil, fmt.Errorf("storage: open bucket %s: %s", safe, scrub(err.Error(), secrets, safe))
		}
		q.Del("file_mode") // Carcosa's own: fileblob refuses it
		if !q.Has("dir_file_mode") {
			q.Set("dir_file_mode", "0700")
		}
		// Let fileblob create the directory, after it has checked the
		// rest of the URL, so a bad URL creates nothing.
		q.Set("create_dir", "1")
		if !q.Has("no_tmp_dir") {
			// Stage writes beside their object, not in os.TempDir: the final
			// rename then never crosses file systems.
			q.Set("no_tmp_dir", "1")
		}
		withCreate := *u
		withCreate.RawQuery = q.Encode()
		openURL = withCreate.String()
		secrets = append(secrets, urlSecrets(openURL, &withCreate)...)
	}

	bb, err := blob.OpenBucket(ctx, openURL)
	if err != nil {
		// The drivers quote the URL in their errors. The original error is
		// not wrapped, so that no chain leads back to that text.
		return nil, fmt.Errorf("storage: open bucket %s: %s", safe, scrub(err.Error(), secrets, safe))
	}
	// fileblob has found or made the directory already; listing it would
	// read a whole directory of a large bucket. memblob cannot fail.
	if u.Scheme != "file" && u.Scheme != "mem" {
		if err := checkAccess(ctx, bb); err != nil {
			_ = bb.Close()
			return nil, fmt.Errorf("storage: open bucket %s: %s", safe, scrub(err.Error(), secrets, safe))
		}
	}
	b.b = bb
	b.putByUpload = drivers.PutByUpload(bb)
	if strings.EqualFold(u.Scheme, "s3") {
		b.s3name = u.Host
		b.s3prefix = u.Query().Get("prefix")
	}
	return b, nil
}

// driverImports names the package that adds each cloud scheme. Open
// requires it rather than only gocloud's driver, which it registers, so that
// what a driver adds beyond blob.OpenBucket (S3 staging, Azure's writes) is
// always there.
var driverImports = map[string]string{
	"s3":     "github.com/carcosa-dev/carcosa/storage/s3",
	"gs":     "github.com/carcosa-dev/carcosa/storage/gcs",
	"azblob": "github.com/carcosa-dev/carcosa/storage/azure",
}

// checkScheme fails, naming the import to add, for a scheme no imported
// driver opens. url.Parse has lower-cased it. A URL without a scheme is left
// to blob.OpenBucket's error.
func checkScheme(scheme string) error {
	if pkg, ok := driverImports[scheme]; ok {
		if drivers.Registered(scheme) {
			return nil
		}
		return fmt.Errorf("storage: no driver for %q URLs; import _ %q", scheme+"://", pkg)
	}
	if scheme != "" && !blob.DefaultURLMux().ValidBucketScheme(scheme) {
		return fmt.Errorf("storage: no driver for %q URLs; import its gocloud.dev/blob driver", scheme+"://")
	}
	return nil
}

// S3Name is the name of the S3 bucket, for a Bucket opened from an s3://
// URL; "" for any other.
func (b *Bucket) S3Name() string { return b.s3name }

// S3Prefix is the prefix (the URL's prefix parameter) that the Bucket puts
// before every key, for a Bucket opened from an s3:// URL: the S3 API
// of the bucket sees keys with it.
func (b *Bucket) S3Prefix() string { return b.s3prefix }

// httpStatus is the status of the HTTP response err reports, or 0. The S3
// driver reports refused credentials (InvalidAccessKeyId,
// SignatureDoesNotMatch) as errors of unknown kind, with status 403.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// checkTimeout bounds the access check of Open when ctx has no sooner
// deadline, so that an endpoint that never answers fails start-up rather
// than hanging it.
const checkTimeout = 30 * time.Second

// checkAccess lists at most one object of b, so that a bucket that does not
// exist, refused credentials or an unreachable endpoint show when the bucket
// is opened rather than at the first upload. The drivers open their buckets
// without a request; this is the first.
func checkAccess(ctx context.Context, b *blob.Bucket) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	ok, err := b.IsAccessible(ctx)
	switch {
	case err == nil && ok:
		return nil
	case err == nil:
		return errors.New("the bucket does not exist (check its name, and the endpoint and region if set)")
	case gcerrors.Code(err) == gcerrors.PermissionDenied || httpStatus(err) == http.StatusUnauthorized || httpStatus(err) == http.StatusForbidden:
		return fmt.Errorf("access to the bucket denied (check the credentials, and that they may list the bucket): %v", err)
	case ctx.Err() != nil:
		return fmt.Errorf("the bucket did not answer: %v", err)
	default:
		return fmt.Errorf("cannot list the bucket: %v", err)
	}
}

// NewBucket wraps an already-open bucket. It takes over b: Close closes it.
// Its ImportFile copies, as it cannot know where b keeps its files.
func NewBucket(b *blob.Bucket) *Bucket {
	return &Bucket{b: b, rename: os.Rename, putByUpload: drivers.PutByUpload(b)}
}

// Blob returns the underlying bucket, for driver-specific access through As.
func (b *Bucket) Blob() *blob.Bucket { return b.b }

// Put streams r into the object at key. It never leaves a partial object:
// on a read error or a cancelled ctx the write is aborted and any previous
// object at key is kept.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, opts *PutOptions) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage: put %q: %w", key, err)
	}
	var o PutOptions
	if opts != nil {
		o = *opts
	}
	if o.ContentType == "" {
		o.ContentType = defaultContentType
	}

	// gocloud aborts a write whose context is cancelled before Close, so
	// the write gets its own context to cancel on failure.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wopts := &blob.WriterOptions{
		ContentType:                 o.ContentType,
		DisableContentTypeDetection: true,
		BufferSize:                  bufferSize(o.Size),
	}
	if b.fileMode != 0 {
		// fileblob creates its temporary file with the umask's mode; it
		// gets the bucket's before the first byte is written.
		wopts.BeforeWrite = func(as func(any) bool) error {
			var f *os.File
			if !as(&f) {
				return errors.New("the file driver gave no file to set the mode of")
			}
			return f.Chmod(b.fileMode)
		}
	}
	if b.putByUpload {
		// The Azure driver of gocloud.dev v0.47.0 panics in Close when an
		// upload fed through Write fails (writer.Close reads the pipe it
		// has set to nil). Upload hands it the reader instead; a failed
		// read then fails the upload before its blocks are committed.
		if err := b.b.Upload(wctx, key, ctxReader{ctx: ctx, r: r}, wopts); err != nil {
			return fmt.Errorf("storage: put %q: %w", key, err)
		}
		return nil
	}
	w, err := b.b.NewWriter(wctx, key, wopts)
	if err != nil {
		return fmt.Errorf("storage: put %q: %w", key, err)
	}
	// Reads check ctx so that a cancelled upload stops now rather than
	// after the rest of r has been read and thrown away.
	_, err = w.ReadFrom(ctxReader{ctx: ctx, r: r})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		cancel()
		_ = w.Close()
		return fmt.Errorf("storage: put %q: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("storage: put %q: %w", key, err)
	}
	if b.file != nil && b.file.sidecar {
		if p, err := b.file.objectPath(key); err == nil {
			if err := os.Chmod(p+attrsExt, b.fileMode); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("storage: put %q: %w", key, err)
			}
		}
	}
	return nil
}

// bufferSize picks the upload chunk: the default, or larger when the size
// hint says the default would need more parts than S3 allows.
func bufferSize(sizeHint int64) int {
	n := int64(defaultBufferSize)
	if need := (sizeHint + maxParts - 1) / maxParts; need > n {
		const mib = 1 << 20
		n = (need + mib - 1) / mib * mib
	}
	return int(n)
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Open returns a reader of the object at key; it is a *blob.Reader, whose
// ContentType and As are reachable by type assertion. The reader keeps ctx
// for the reads it makes after a Seek, so ctx must outlive the reader's use.
func (b *Bucket) Open(ctx context.Context, key string) (Reader, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	r, err := b.b.NewReader(ctx, key, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, fmt.Errorf("%w: %q: %w", ErrNotFound, key, err)
		}
		return nil, fmt.Errorf("storage: open %q: %w", key, err)
	}
	return r, nil
}

// Delete removes the object at key; a missing object is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := b.b.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("storage: delete %q: %w", key, err)
	}
	return nil
}

// Close closes the underlying bucket.
func (b *Bucket) Close() error {
	return b.b.Close()
}

// ImportFile moves the regular file at path into the bucket under key.
//
// In a file:// bucket opened with Open it renames the file to the object's
// path, so no byte is copied; the file takes the bucket's file mode first
// (see Open). Its content
// type goes into fileblob's ".attrs" sidecar (unless the URL says
// metadata=skip), without the MD5 fileblob would compute, since computing it
// means reading the file. The rename is atomic, but nothing is fsynced: a
// crash soon after may lose the move.
//
// When the rename fails across devices, and in any other bucket, the file is
// copied in with Put and then removed.
func (b *Bucket) ImportFile(ctx context.Context, key, path string, opts *PutOptions) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("storage: import %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("storage: import %q: %s is not a regular file", key, path)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage: import %q: %w", key, err)
	}
	if b.file == nil {
		return b.copyIn(ctx, key, path, fi.Size(), opts)
	}

	dst, err := b.file.objectPath(key)
	if err != nil {
		return fmt.Errorf("storage: import %q: %w", key, err)
	}
	ct := defaultContentType
	if opts != nil && opts.ContentType != "" {
		// Normalized as blob.NewWriter does, so readers see the same value
		// whichever way the object arrived.
		t, params, err := mime.ParseMediaType(opts.ContentType)
		if err != nil {
			return fmt.Errorf("storage: import %q: content type: %w", key, err)
		}
		ct = mime.FormatMediaType(t, params)
	}
	if err := os.MkdirAll(filepath.Dir(dst), b.file.dirMode); err != nil {
		return fmt.Errorf("storage: import %q: %w", key, err)
	}
	// The file takes the bucket's mode while it is still where the caller
	// keeps it, so it is never in the bucket with another.
	if err := os.Chmod(path, b.fileMode); err != nil {
		return fmt.Errorf("storage: import %q: %w", key, err)
	}
	// The attributes go first, as fileblob does, so that a new object is
	// never seen with the wrong content type.
	if b.file.sidecar {
		if err := writeAttrs(dst, ct, b.fileMode); err != nil {
			return fmt.Errorf("storage: import %q: %w", key, err)
		}
	}
	err = b.rename(path, dst)
	if err == nil {
		return nil
	}
	if b.file.sidecar {
		// Drop the attributes written for an object that did not arrive,
		// unless they now describe an object already there.
		if _, serr := os.Lstat(dst); errors.Is(serr, fs.ErrNotExist) {
			_ = os.Remove(dst + attrsExt)
		}
	}
	if errors.Is(err, syscall.EXDEV) {
		return b.copyIn(ctx, key, path, fi.Size(), opts)
	}
	return fmt.Errorf("storage: import %q: %w", key, err)
}

// copyIn is ImportFile by copying: Put the file's bytes, then remove it.
func (b *Bucket) copyIn(ctx context.Context, key, path string, size int64, opts *PutOptions) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("storage: import %q: %w", key, err)
	}
	var o PutOptions
	if opts != nil {
		o = *opts
	}
	o.Size = size
	err = b.Put(ctx, key, f, &o)
	_ = f.Close()
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("storage: import %q: stored, but the source remains: %w", key, err)
	}
	return nil
}

// fileDirOf reads a file:// URL the way fileblob's URL opener does.
func fileDirOf(u *url.URL) (*fileDir, error) {
	q := u.Query()
	if q.Get("key") != "" {
		// A single-key bucket maps every key to one object; renaming into
		// it by key would bypass that, so such a bucket copies instead.
		return nil, nil
	}
	p := u.Path
	if u.Host == "." || os.PathSeparator != '/' {
		p = strings.TrimPrefix(p, "/")
	}
	dir, err := filepath.Abs(filepath.FromSlash(p))
	if err != nil {
		return nil, err
	}
	fd := &fileDir{
		dir:     dir,
		prefix:  q.Get("prefix"),
		sidecar: q.Get("metadata") != "skip",
	}
	fd.dirMode, err = modeParam(q, "dir_file_mode", 0o700)
	if err != nil {
		return nil, err
	}
	return fd, nil
}

// modeParam reads the file mode in URL parameter name as fileblob reads
// dir_file_mode: base 0, so "0700" is octal. It gives def when name is
// unset.
func modeParam(q url.Values, name string, def os.FileMode) (os.FileMode, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	m, err := strconv.ParseUint(s, 0, 32)
	if err != nil || m == 0 || m&^uint64(os.ModePerm) != 0 {
		return 0, fmt.Errorf("invalid %s %q", name, s)
	}
	return os.FileMode(m), nil
}

// attrsExt is the suffix of fileblob's attribute sidecar files.
const attrsExt = ".attrs"

// objectPath is where fileblob keeps the object at key. It refuses keys
// that fileblob would escape or reject, as their paths would differ.
func (d *fileDir) objectPath(key string) (string, error) {
	full := d.prefix + key
	if err := CheckKey(full); err != nil {
		return "", fmt.Errorf("bucket prefix %q: %w", d.prefix, err)
	}
	if strings.HasSuffix(full, attrsExt) {
		return "", fmt.Errorf("key ends in %q, which the file bucket reserves", attrsExt)
	}
	return filepath.Join(d.dir, filepath.FromSlash(full)), nil
}

// sidecarAttrs mirrors the JSON of fileblob's ".attrs" files
// (gocloud.dev/blob/fileblob/attrs.go).
type sidecarAttrs struct {
	CacheControl       string            `json:"user.cache_control"`
	ContentDisposition string            `json:"user.content_disposition"`
	ContentEncoding    string            `json:"user.content_encoding"`
	ContentLanguage    string            `json:"user.content_language"`
	ContentType        string            `json:"user.content_type"`
	Metadata           map[string]string `json:"user.metadata"`
	MD5                []byte            `json:"md5"`
}

// writeAttrs writes the sidecar of the object at path, with mode perm,
// through a temporary file and a rename, so a reader never sees half of it.
func writeAttrs(path, contentType string, perm os.FileMode) error {
	data, err := json.Marshal(sidecarAttrs{ContentType: contentType})
	if err != nil {
		return err
	}
	final := path + attrsExt
	tmp := final + "." + rand.Text() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// redactURL gives u without user information, query or fragment.
func redactURL(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, Opaque: u.Opaque}
	return r.String()
}

// plainParams are URL parameters that hold no secret and help to read an
// error: where the requests went. The user information of an endpoint
// remains a secret.
var plainParams = map[string]bool{"endpoint": true, "region": true}

// urlSecrets lists the parts of a URL that may appear in a driver's error
// and must not reach ours: the URL itself in the forms drivers print it,
// its user information and its query, but for the values of plainParams.
func urlSecrets(raw string, u *url.URL) []string {
	s := []string{raw, strconv.Quote(raw), u.String(), strconv.Quote(u.String()), u.Redacted()}
	s = append(s, userSecrets(u.User)...)
	if u.RawQuery != "" {
		s = append(s, u.RawQuery)
		for name, vs := range u.Query() {
			for _, v := range vs {
				if plainParams[name] {
					if pu, err := url.Parse(v); err == nil {
						s = append(s, userSecrets(pu.User)...)
						continue
					}
				}
				// Very short values ("1", "on") are switches, not secrets;
				// replacing them would garble the message.
				if len(v) >= 4 {
					s = append(s, v, url.QueryEscape(v))
				}
			}
		}
	}
	if u.Fragment != "" {
		s = append(s, u.Fragment)
	}
	return s
}

// userSecrets lists the forms of user information that may be printed.
func userSecrets(user *url.Userinfo) []string {
	if user == nil {
		return nil
	}
	s := []string{user.String()}
	// A very short user name would garble the message where it replaces
	// the same letters elsewhere.
	if len(user.Username()) >= 4 {
		s = append(s, user.Username())
	}
	if p, ok := user.Password(); ok {
		s = append(s, p, url.PathEscape(p), url.QueryEscape(p))
	}
	return s
}

// scrub replaces every secret in msg. URL forms become the redacted URL and
// other parts "REDACTED"; longer secrets go first so a part inside a whole
// URL does not break the URL's replacement.
func scrub(msg string, secrets []string, safe string) string {
	s := slices.Clone(secrets)
	slices.SortFunc(s, func(a, b string) int { return len(b) - len(a) })
	for _, v := range s {
		if v == "" || v == safe || strings.Contains(safe, v) {
			continue
		}
		repl := "REDACTED"
		if strings.Contains(v, "://") {
			repl = safe
		}
		msg = strings.ReplaceAll(msg, v, repl)
	}
	return msg
}
