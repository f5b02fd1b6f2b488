package verify

import (
	"crypto"
	"crypto/sha256"
	"encoding"
	"fmt"
	"hash"
	"io"
	"sort"
)

// hashJob is one signature's digest: the ranges [0, a) and [b, end) under
// alg.
type hashJob struct {
	alg       crypto.Hash
	a, b, end int64
	h         hash.Hash
	sum       []byte
}

// hashAll reads the file once and returns its SHA-256, filling in every
// job's sum. Every signed range starts at 0, so a SHA-256 job shares the
// file hash's work up to its gap: the file hasher's state is cloned there,
// and only the job's second range is hashed again. The cost is one SHA-256
// pass over the file plus the signed tails of the revisions.
func (v *verifier) hashAll(jobs []*hashJob) ([]byte, error) {
	file := sha256.New()
	cuts := map[int64]bool{0: true, v.size: true}
	for _, j := range jobs {
		cuts[j.a], cuts[j.b], cuts[j.end] = true, true, true
		if j.alg != crypto.SHA256 {
			j.h = j.alg.New()
		}
	}
	points := make([]int64, 0, len(cuts))
	for p := range cuts {
		points = append(points, p)
	}
	sort.Slice(points, func(i, k int) bool { return points[i] < points[k] })
	buf := make([]byte, 1<<20)
	var done int64
	for i := 0; i+1 < len(points); i++ {
		p, q := points[i], points[i+1]
		for _, j := range jobs {
			if j.alg == crypto.SHA256 && p == j.a {
				h, err := cloneSHA256(file)
				if err != nil {
					return nil, err
				}
				j.h = h
			}
		}
		for off := p; off < q; {
			if err := v.ctx.Err(); err != nil {
				return nil, err
			}
			n := min(int64(len(buf)), q-off)
			m, err := v.ra.ReadAt(buf[:n], off)
			if int64(m) < n {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, fmt.Errorf("read %d bytes at %d: %w", n, off, err)
			}
			chunk := buf[:n]
			file.Write(chunk)
			for _, j := range jobs {
				inFirst := j.alg != crypto.SHA256 && off < j.a
				if inFirst || (off >= j.b && off < j.end) {
					j.h.Write(chunk)
				}
			}
			off += n
			done += n
			if v.opts.Progress != nil {
				v.opts.Progress(done, v.size)
			}
		}
	}
	for _, j := range jobs {
		j.sum = j.h.Sum(nil)
	}
	return file.Sum(nil), nil
}

// cloneSHA256 copies a SHA-256 hasher's state.
func cloneSHA256(h hash.Hash) (hash.Hash, error) {
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, err
	}
	c := sha256.New()
	if err := c.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil, err
	}
	return c, nil
}
