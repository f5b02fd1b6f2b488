package sqlcore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"reflect"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"sealkeep/internal/audit"
)

// TestDriverValues checks driverValues against database/sql's Scan, the
// oracle, on the values SQLite returns for well-typed rows and for rows
// whose columns hold other types (as a hand-edited database could).
func TestDriverValues(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	h := "'abcdefghijabcdefghijabcdefghij01'" // 32 bytes of text
	canon := func(seq uint64, action audit.Action, details map[string]string) string {
		e := audit.Entry{Chain: "c", Seq: seq, Time: time.UnixMicro(1700000000000000).UTC(), Actor: audit.Actor{Kind: "system", ID: "bench"},
			Action: action, Subject: audit.Subject{Org: "org-1", Version: 3}, Details: details}
		return "x'" + hex.EncodeToString(e.Canonical()) + "'"
	}
	c1 := canon(1, audit.ActionSeal, map[string]string{"i": "1"})
	for _, row := range []string{
		`1, ` + c1 + `, x'0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 'seal', '{"i":"1"}'`,
		`1, ` + c1 + `, zeroblob(32), 'seal', '{ "i" : "1" }'`,
		`1, ` + c1 + `, zeroblob(32), 'seal', '{"i":"2"}'`,
		`1, ` + c1 + `, zeroblob(32), 'seal', NULL`,
		`2, ` + c1 + `, zeroblob(32), 'seal', '{"i":"1"}'`,
		`1, ` + c1 + `, zeroblob(32), 'org.create', '{"i":"1"}'`,
		`'7', ` + canon(7, "x", nil) + `, ` + h + `, x'78', '{}'`,
		`2.0, ` + canon(2, "x", nil) + `, zeroblob(32), 42, NULL`,
		`3, ` + canon(3, "x", nil) + `, zeroblob(31), 'x', NULL`,
		`4, NULL, zeroblob(32), 'x', NULL`,
		`4, x'00', zeroblob(32), 'x', NULL`,
		`x'35', ` + canon(5, "x", nil) + `, zeroblob(32), 'x', NULL`,
		`5, ` + canon(5, "x", nil) + `, zeroblob(32), 'x', 'not json'`,
		`6, ` + canon(6, "x", nil) + `, NULL, 'x', 12`,
		`1.5, ` + canon(6, "x", nil) + `, zeroblob(32), 'x', NULL`,
	} {
		q := "SELECT " + row
		var want entryRow
		wantErr := db.QueryRow(q).Scan(scanDest(&want)...)
		var wantE, gotE auditResult
		if wantErr == nil {
			wantE = result(want.entry("c"))
		}
		conn, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var got entryRow
		var gotErr error
		err = conn.Raw(func(dc any) error {
			rows, err := dc.(driver.QueryerContext).QueryContext(context.Background(), q, nil)
			if err != nil {
				return err
			}
			defer rows.Close()
			vals := make([]driver.Value, len(rows.Columns()))
			if err := rows.Next(vals); err != nil {
				return err
			}
			gotErr = got.driverValues(vals)
			return nil
		})
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if gotErr == nil {
			gotE = result(got.entry("c"))
		}
		if (gotErr != nil) != (wantErr != nil) || !reflect.DeepEqual(gotE, wantE) {
			t.Errorf("SELECT %s:\n driverValues %v, %+v\n Scan         %v, %+v", row, gotErr, gotE, wantErr, wantE)
		}
	}
}

// scanDest is entryRow.dest with []byte hashes, which Row.Scan accepts.
func scanDest(r *entryRow) []any {
	d := r.dest()
	d[1], d[2] = (*[]byte)(&r.canon), (*[]byte)(&r.hash)
	return d
}

type auditResult struct {
	Entry any
	Err   bool
}

func result(e any, err error) auditResult {
	if err != nil {
		return auditResult{Err: true}
	}
	return auditResult{Entry: e}
}
