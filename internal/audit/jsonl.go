package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	jsonv2 "encoding/json/v2"
	"fmt"
	"io"
	"iter"
	"time"

	"sealkeep/internal/errs"
)

// ErrFormat reports a JSON Lines record that [ParseEntry] rejects.
var ErrFormat = errs.New(errs.Invalid, "audit: malformed entry record")

// WriteJSONL writes entries to w, one JSON object per line, in the field
// names of [Entry]'s struct tags. Each entry must pass [Entry.Validate], so
// that what is written reads back, byte for byte in every hashed field.
func WriteJSONL(w io.Writer, entries iter.Seq2[Entry, error]) error {
	bw := bufio.NewWriter(w)
	for e, err := range entries {
		if err != nil {
			return fmt.Errorf("audit: export: %w", err)
		}
		if err := e.Validate(); err != nil {
			return fmt.Errorf("audit: export: entry %d: %w", e.Seq, err)
		}
		b, err := marshalEntry(e)
		if err != nil {
			return fmt.Errorf("audit: export: entry %d: %w", e.Seq, err)
		}
		if _, err := bw.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("audit: export: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("audit: export: %w", err)
	}
	return nil
}

func marshalEntry(e Entry) ([]byte, error) {
	e.Time = e.Time.UTC()
	if len(e.Details) == 0 {
		e.Details = nil
	}
	return json.Marshal(e)
}

// wireEntry has a pointer for every required field, to tell a missing field
// from a zero one.
type wireEntry struct {
	Chain    *string           `json:"chain"`
	Seq      *uint64           `json:"seq"`
	Time     *time.Time        `json:"time"`
	Actor    *wireActor        `json:"actor"`
	Action   *Action           `json:"action"`
	Subject  *Subject          `json:"subject"`
	Details  map[string]string `json:"details"`
	PrevHash *Hash             `json:"prev_hash"`
	Hash     *Hash             `json:"hash"`
}

type wireActor struct {
	Kind *string `json:"kind"`
	ID   *string `json:"id"`
}

// ParseEntry reads one JSON object as written by [WriteJSONL]. It is strict:
// at most [MaxLineLen] bytes; unknown, duplicate or missing fields, invalid
// UTF-8 and hashes other than 64 lowercase hex digits are rejected; the entry
// must pass [Entry.Validate]. Times may carry any UTC offset and are returned
// in UTC; an empty details object reads as nil. Hashes are not checked:
// [Verify] does that.
func ParseEntry(b []byte) (Entry, error) {
	if len(b) > MaxLineLen {
		return Entry{}, fmt.Errorf("%w: longer than %d bytes", ErrFormat, MaxLineLen)
	}
	var w wireEntry
	if err := jsonv2.Unmarshal(b, &w, jsonv2.RejectUnknownMembers(true)); err != nil {
		return Entry{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	switch {
	case w.Chain == nil, w.Seq == nil, w.Time == nil, w.Actor == nil, w.Actor.Kind == nil, w.Actor.ID == nil,
		w.Action == nil, w.Subject == nil, w.PrevHash == nil, w.Hash == nil:
		return Entry{}, fmt.Errorf("%w: missing field (chain, seq, time, actor.kind, actor.id, action, subject, prev_hash and hash are required)", ErrFormat)
	}
	e := Entry{
		Chain:    *w.Chain,
		Seq:      *w.Seq,
		Time:     w.Time.UTC(),
		Actor:    Actor{Kind: *w.Actor.Kind, ID: *w.Actor.ID},
		Action:   *w.Action,
		Subject:  *w.Subject,
		PrevHash: *w.PrevHash,
		Hash:     *w.Hash,
	}
	if len(w.Details) > 0 {
		e.Details = w.Details
	}
	if err := e.Validate(); err != nil {
		return Entry{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return e, nil
}

// DecodeJSONL reads JSON Lines written by [WriteJSONL], streaming, one
// [ParseEntry] per line. Every line must hold an entry: blank lines, a line
// longer than [MaxLineLen] and a missing final newline are errors. The
// first error ends the iteration.
func DecodeJSONL(r io.Reader) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		br := bufio.NewReaderSize(r, 64<<10)
		var line []byte
		for n := 1; ; n++ {
			line = line[:0]
			for {
				chunk, err := br.ReadSlice('\n')
				line = append(line, chunk...)
				if len(line) > MaxLineLen+1 {
					yield(Entry{}, fmt.Errorf("%w: line %d is longer than %d bytes", ErrFormat, n, MaxLineLen))
					return
				}
				if err == bufio.ErrBufferFull {
					continue
				}
				if err == io.EOF {
					if len(line) != 0 {
						yield(Entry{}, fmt.Errorf("%w: line %d has no final newline", ErrFormat, n))
					}
					return
				}
				if err != nil {
					yield(Entry{}, fmt.Errorf("audit: reading line %d: %w", n, err))
					return
				}
				break
			}
			body := bytes.TrimSuffix(line, []byte{'\n'})
			if len(body) == 0 {
				yield(Entry{}, fmt.Errorf("%w: line %d is empty", ErrFormat, n))
				return
			}
			e, err := ParseEntry(body)
			if err != nil {
				err = fmt.Errorf("line %d: %w", n, err)
			}
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}
