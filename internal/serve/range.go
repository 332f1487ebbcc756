package serve

import (
	"cmp"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// maxRanges is the most ranges a Range header may ask for. A header with
// more is ignored and the whole file served, as RFC 9110 allows: such a
// header is the mark of a broken client or of an attack.
const maxRanges = 16

// partOverhead is about what one part of a multipart/byteranges answer
// costs beyond its bytes: the boundary line, Content-Type and Content-Range.
// filterRange merges ranges closer than that, as RFC 9110 allows, so that
// the parts of an answer never cost more than the bytes they skip.
const partOverhead = 256

type rangeVerdict int

const (
	rangeSatisfiable   rangeVerdict = iota // serve the ranges filterRange returns
	rangeIgnored                           // serve the whole file
	rangeUnsatisfiable                     // answer 416
)

// filterRange judges a Range header against a file of size bytes, reading
// it as net/http's ServeContent does, and rewrites it so that no answer is
// much larger than the file:
//
//   - a header that is malformed, not in bytes or asks for more than
//     maxRanges ranges is ignored;
//   - ranges that select nothing (beyond the end, or a suffix of 0 bytes)
//     are dropped, and a header left with none is unsatisfiable, unless the
//     file is empty, which is served whole as ServeContent does;
//   - the rest are sorted and those that overlap or lie closer than
//     partOverhead are merged.
//
// For rangeSatisfiable it returns the new header: at most maxRanges
// disjoint ranges, in order, in the form "bytes=first-last,…".
func filterRange(h string, size int64) (string, rangeVerdict) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return "", rangeIgnored
	}
	type span struct{ first, last int64 }
	var (
		spans []span
		count int
	)
	for ra := range strings.SplitSeq(spec, ",") {
		ra = textproto.TrimString(ra)
		if ra == "" {
			continue
		}
		if count++; count > maxRanges {
			return "", rangeIgnored
		}
		first, last, ok := strings.Cut(ra, "-")
		if !ok {
			return "", rangeIgnored
		}
		first, last = textproto.TrimString(first), textproto.TrimString(last)
		if first == "" {
			// A suffix range: the last n bytes.
			if last == "" || last[0] == '-' {
				return "", rangeIgnored
			}
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil || n < 0 {
				return "", rangeIgnored
			}
			if n > 0 && size > 0 {
				spans = append(spans, span{size - min(n, size), size - 1})
			}
			continue
		}
		i, err := strconv.ParseInt(first, 10, 64)
		if err != nil || i < 0 {
			return "", rangeIgnored
		}
		if i >= size {
			continue // as ServeContent, without reading the end
		}
		j := size - 1
		if last != "" {
			if j, err = strconv.ParseInt(last, 10, 64); err != nil || j < i {
				return "", rangeIgnored
			}
			j = min(j, size-1)
		}
		spans = append(spans, span{i, j})
	}
	if len(spans) == 0 {
		if count == 0 || size == 0 {
			return "", rangeIgnored
		}
		return "", rangeUnsatisfiable
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.first, b.first) })
	merged := spans[:1]
	for _, s := range spans[1:] {
		if m := &merged[len(merged)-1]; s.first-m.last <= partOverhead {
			m.last = max(m.last, s.last)
		} else {
			merged = append(merged, s)
		}
	}
	var b strings.Builder
	b.WriteString("bytes=")
	for k, s := range merged {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(s.first, 10) + "-" + strconv.FormatInt(s.last, 10))
	}
	return b.String(), rangeSatisfiable
}
