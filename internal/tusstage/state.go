package tusstage

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// Sidecar record layout (big endian):
//
//	magic[4] "TSH1" | offset int64 | limit int64 | len uint16 | state[len] | crc32c uint32
//
// The CRC covers everything before it, so a damaged record is recognised and
// treated like a missing one instead of seeding the hash with garbage.
const (
	recordMagic   = "TSH1"
	recordHeader  = 4 + 8 + 8 + 2
	maxStateBytes = 1024
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Copy buffers. A chunk streams through three goroutines at once: the
// request's, reading from the client; a writer, appending to the file; and
// a hasher, hashing what was written. Each hands buffers on in order, so the
// client's bytes keep being read while earlier ones are written and hashed,
// on as many cores as there are. One chunk holds at most copyBufs buffers;
// the pool keeps memory constant however large an upload or chunk is.
//
// Every chunk may hold one buffer; the others it takes from sharedBufs,
// which all chunks share. One upload alone runs with copyBufs buffers, and
// many at once hold about one each, so memory grows by one buffer per
// upload in flight rather than by copyBufs.
const (
	copyBufSize = 64 << 10
	copyBufs    = 16
	sharedBufs  = 64
)

// shared holds a token for each buffer beyond its first that a chunk has.
var shared = make(chan struct{}, sharedBufs)

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, copyBufSize)
	return &b
}}

// state is the resumable part of an upload's bookkeeping: the hash of the
// first offset bytes of the data file, and the limit fixed at creation.
type state struct {
	offset int64
	limit  int64
	h      hash.Hash
}

func newHash() hash.Hash { return sha256.New() }

func (st *state) marshal() ([]byte, error) {
	m, ok := st.h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, errors.New("tusstage: hash state cannot be saved")
	}
	hs, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if len(hs) > maxStateBytes {
		return nil, errors.New("tusstage: hash state too large")
	}
	b := make([]byte, 0, recordHeader+len(hs)+4)
	b = append(b, recordMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(st.offset))
	b = binary.BigEndian.AppendUint64(b, uint64(st.limit))
	b = binary.BigEndian.AppendUint16(b, uint16(len(hs)))
	b = append(b, hs...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	return b, nil
}

// unmarshalState decodes a sidecar record; any inconsistency is an error.
func unmarshalState(b []byte) (*state, error) {
	bad := errors.New("tusstage: damaged hash state")
	if len(b) < recordHeader+4 || string(b[:4]) != recordMagic {
		return nil, bad
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, bad
	}
	offset := int64(binary.BigEndian.Uint64(b[4:12]))
	limit := int64(binary.BigEndian.Uint64(b[12:20]))
	n := int(binary.BigEndian.Uint16(b[20:22]))
	if offset < 0 || limit < 0 || recordHeader+n != len(body) {
		return nil, bad
	}
	h := newHash()
	u, ok := h.(encoding.BinaryUnmarshaler)
	if !ok {
		return nil, bad
	}
	if err := u.UnmarshalBinary(body[recordHeader:]); err != nil {
		return nil, bad
	}
	return &state{offset: offset, limit: limit, h: h}, nil
}

// loadState reads the sidecar of id. A missing or damaged sidecar yields
// (nil, nil): both simply mean "recover"; only real I/O failures are errors.
func (s *Store) loadState(id string) (*state, error) {
	b, err := os.ReadFile(s.hashPath(id))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	st, err := unmarshalState(b)
	if err != nil {
		return nil, nil
	}
	return st, nil
}

// saveState replaces the sidecar of id via a temp file and rename, so readers
// and crashes only ever see a complete old or new record. There is no fsync:
// a record that is stale after a power loss is caught by its offset not
// matching the data file.
func (s *Store) saveState(id string, st *state) error {
	b, err := st.marshal()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, id+".hash.tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.hashPath(id))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("tusstage: saving hash state: %w", err)
	}
	return nil
}

// stateAt returns the hash state of id covering exactly the first offset
// bytes of its data file. If the sidecar does not cover exactly that prefix,
// the state is rebuilt from the file and recovered is true; the caller decides
// whether to persist it. fallbackLimit is only called if the sidecar is gone,
// to re-derive the limit it carried.
func (s *Store) stateAt(ctx context.Context, id string, offset int64, fallbackLimit func() int64) (st *state, recovered bool, err error) {
	st, err = s.loadState(id)
	if err != nil {
		return nil, false, err
	}
	if st != nil && st.offset == offset {
		return st, false, nil
	}
	var limit int64
	if st != nil {
		// The record is intact, just behind (or ahead of) the data: its limit
		// is still the one fixed at creation.
		limit = st.limit
	} else {
		limit = fallbackLimit()
	}
	h := newHash()
	if err := hashPrefix(ctx, h, s.Path(id), offset); err != nil {
		return nil, false, err
	}
	return &state{offset: offset, limit: limit, h: h}, true, nil
}

// hashPrefix feeds exactly the first n bytes of the file at path into h.
// This is the crash-recovery path, the only place a file is re-read.
func hashPrefix(ctx context.Context, h hash.Hash, path string, n int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var done int64
	for done < n {
		if err := context.Cause(ctx); err != nil {
			return err
		}
		want := int64(len(buf))
		if rest := n - done; rest < want {
			want = rest
		}
		m, err := io.ReadFull(f, buf[:want])
		h.Write(buf[:m])
		done += int64(m)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("tusstage: %s shorter than %d bytes", path, n)
			}
			return err
		}
	}
	return nil
}

var errInvalidWrite = errors.New("tusstage: invalid write result")

// copyHashed copies src to dst and feeds h exactly the bytes dst accepted, so
// the hash never covers data that did not reach the file. max is the number of
// bytes still allowed (negative: unlimited); once src offers more than that,
// the allowed part is written and ErrTooLarge returned. When copyHashed
// returns, every written byte has been hashed. A write error comes before a
// read error.
func copyHashed(dst io.Writer, h hash.Hash, src io.Reader, max int64) (int64, error) {
	n, hashed, err := copyWritten(dst, h, src, max)
	hashed()
	return n, err
}

// copyWritten is copyHashed that returns as soon as the bytes are written;
// h is fed the last of them until hashed, which waits for that, returns.
func copyWritten(dst io.Writer, h hash.Hash, src io.Reader, max int64) (int64, func(), error) {
	defer active.Add(-1)
	if active.Add(1) > int64(runtime.NumCPU()) {
		n, err := copyInline(dst, h, src, max)
		return n, func() {}, err
	}
	p := newPipe(dst, h)
	var read int64
	var rerr error
	for {
		b := p.buffer()
		if b == nil {
			break // the writer failed
		}
		n, err := src.Read(*b)
		over := max >= 0 && int64(n) > max-read
		if over {
			n = int(max - read)
		}
		if n > 0 {
			p.write(b, n)
			read += int64(n)
		} else {
			p.release(b)
		}
		if over {
			rerr = ErrTooLarge
			break
		}
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
	}
	written, werr := p.closeWrites()
	if werr != nil {
		return written, p.hashed, werr
	}
	return written, p.hashed, rerr
}

// active counts the copies under way. Beyond one per core, a copy runs in
// its caller's goroutine alone: the cores are busy with the other uploads,
// and handing each buffer on to a writer and a hasher would only add work.
var active atomic.Int64

// copyInline is copyWritten in one goroutine: read, write, then hash what
// was written, one buffer at a time.
func copyInline(dst io.Writer, h hash.Hash, src io.Reader, max int64) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var read, written int64
	for {
		n, err := src.Read(buf)
		over := max >= 0 && int64(n) > max-read
		if over {
			n = int(max - read)
		}
		if n > 0 {
			read += int64(n)
			m, werr := dst.Write(buf[:n])
			if m < 0 || m > n {
				m = 0
				if werr == nil {
					werr = errInvalidWrite
				}
			}
			if werr == nil && m != n {
				werr = io.ErrShortWrite
			}
			h.Write(buf[:m])
			written += int64(m)
			if werr != nil {
				return written, werr
			}
		}
		if over {
			return written, ErrTooLarge
		}
		if err != nil {
			if err == io.EOF {
				return written, nil
			}
			return written, err
		}
	}
}

// pipe runs the writer and hasher stages of copyHashed.
type pipe struct {
	dst   io.Writer
	h     hash.Hash
	wq    chan chunk    // read, to write
	hq    chan chunk    // written, to hash
	free  chan *[]byte  // done with
	stop  chan struct{} // closed when a write fails
	wdone chan struct{} // closed when everything is written
	done  chan struct{} // closed when everything is hashed

	allocated int   // buffers taken from the pool; only the reader touches it
	written   int64 // set by the writer, read after done
	werr      error
}

type chunk struct {
	buf *[]byte
	n   int
}

func newPipe(dst io.Writer, h hash.Hash) *pipe {
	p := &pipe{
		dst: dst, h: h,
		wq:    make(chan chunk, copyBufs),
		hq:    make(chan chunk, copyBufs),
		free:  make(chan *[]byte, copyBufs),
		stop:  make(chan struct{}),
		wdone: make(chan struct{}),
		done:  make(chan struct{}),
	}
	go p.writer()
	go p.hasher()
	return p
}

func (p *pipe) writer() {
	defer close(p.wdone)
	defer close(p.hq)
	for c := range p.wq {
		if p.werr != nil {
			p.release(c.buf)
			continue
		}
		n, err := p.dst.Write((*c.buf)[:c.n])
		if n < 0 || n > c.n {
			n = 0
			if err == nil {
				err = errInvalidWrite
			}
		}
		if err == nil && n != c.n {
			err = io.ErrShortWrite
		}
		p.written += int64(n)
		if n > 0 {
			p.hq <- chunk{c.buf, n}
		} else {
			p.release(c.buf)
		}
		if err != nil {
			p.werr = err
			close(p.stop)
		}
	}
}

func (p *pipe) hasher() {
	defer close(p.done)
	for c := range p.hq {
		p.h.Write((*c.buf)[:c.n])
		p.release(c.buf)
	}
}

// buffer returns an empty buffer: a free one, a new one while fewer than
// copyBufs are out and the shared budget allows, or else the next one the
// pipe is done with. It returns
// nil once a write has failed.
func (p *pipe) buffer() *[]byte {
	select {
	case <-p.stop:
		return nil
	case b := <-p.free:
		return b
	default:
	}
	if p.allocated == 0 {
		p.allocated++
		return bufPool.Get().(*[]byte)
	}
	if p.allocated < copyBufs {
		select {
		case shared <- struct{}{}:
			p.allocated++
			return bufPool.Get().(*[]byte)
		default:
		}
	}
	select {
	case <-p.stop:
		return nil
	case b := <-p.free:
		return b
	}
}

// write queues the first n bytes of b to be written, then hashed.
func (p *pipe) write(b *[]byte, n int) { p.wq <- chunk{b, n} }

// release returns a buffer to the free list; it never blocks, since the
// list has room for every buffer.
func (p *pipe) release(b *[]byte) { p.free <- b }

// closeWrites waits until everything queued is written and reports how
// many bytes reached dst.
func (p *pipe) closeWrites() (int64, error) {
	close(p.wq)
	<-p.wdone
	return p.written, p.werr
}

// hashed waits until everything written is hashed and returns the buffers
// to the pool. Call it once, after closeWrites.
func (p *pipe) hashed() {
	<-p.done
	for i := range p.allocated {
		bufPool.Put(<-p.free)
		if i > 0 {
			<-shared
		}
	}
}
