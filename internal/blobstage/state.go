package blobstage

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"

	"gocloud.dev/blob"
)

// Hash state object layout (big endian):
//
//	magic[4] "BSH1" | offset uint64 | len uint16 | state[len] | crc32c uint32
//
// state is crypto/sha256's MarshalBinary of the hash of the upload's first
// offset bytes. The CRC covers everything before it, so a damaged object is
// treated like a missing one.
const (
	stateMagic    = "BSH1"
	stateHeader   = 4 + 8 + 2
	maxStateBytes = 1024
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type hashState struct {
	offset int64
	h      hash.Hash
}

func marshalState(offset int64, h hash.Hash) ([]byte, error) {
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, errors.New("blobstage: hash state cannot be saved")
	}
	hs, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if len(hs) > maxStateBytes {
		return nil, errors.New("blobstage: hash state too large")
	}
	b := make([]byte, 0, stateHeader+len(hs)+4)
	b = append(b, stateMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = binary.BigEndian.AppendUint16(b, uint16(len(hs)))
	b = append(b, hs...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable)), nil
}

// unmarshalState decodes a state object; nil means damaged.
func unmarshalState(b []byte) *hashState {
	if len(b) < stateHeader+4 || string(b[:4]) != stateMagic {
		return nil
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil
	}
	offset := int64(binary.BigEndian.Uint64(b[4:12]))
	n := int(binary.BigEndian.Uint16(b[12:14]))
	if offset < 0 || stateHeader+n != len(body) {
		return nil
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(body[stateHeader:]); err != nil {
		return nil
	}
	return &hashState{offset: offset, h: h}
}

// loadState reads the hash state of id. A missing or damaged object yields
// (nil, nil); only failures to read are errors.
func (s *Store) loadState(ctx context.Context, id string) (*hashState, error) {
	b, err := s.b.ReadAll(ctx, s.stateKey(id))
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("blobstage: reading hash state: %w", err)
	}
	return unmarshalState(b), nil
}

// saveState replaces the hash state of id with h covering offset bytes. An
// object write is atomic: readers see the old or the new state.
func (s *Store) saveState(ctx context.Context, id string, offset int64, h hash.Hash) error {
	b, err := marshalState(offset, h)
	if err != nil {
		return err
	}
	err = s.b.WriteAll(ctx, s.stateKey(id), b, &blob.WriterOptions{
		ContentType:                 octetStream,
		DisableContentTypeDetection: true,
	})
	if err != nil {
		return fmt.Errorf("blobstage: saving hash state: %w", err)
	}
	return nil
}

// dropState deletes the hash state of id; a missing one is not an error.
func (s *Store) dropState(ctx context.Context, id string) error {
	return s.deleteKeys(ctx, s.stateKey(id))
}

// hashAt returns the hash of the first offset bytes of upload id, or nil if
// it is unknown. At offset 0 it is always known (empty). A saved state for
// another offset is stale and deleted; failing to delete it is an error, since
// a stale state left behind could later match the offset again.
func (s *Store) hashAt(ctx context.Context, id string, offset int64) (hash.Hash, error) {
	st, err := s.loadState(ctx, id)
	if err != nil {
		return nil, err
	}
	if st != nil && st.offset == offset {
		return st.h, nil
	}
	if st != nil {
		if err := s.dropState(ctx, id); err != nil {
			return nil, err
		}
	}
	if offset == 0 {
		return sha256.New(), nil
	}
	return nil, nil
}
