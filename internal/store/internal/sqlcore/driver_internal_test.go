package sqlcore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"reflect"
	"testing"

	_ "modernc.org/sqlite"
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
	for _, row := range []string{
		`1, 1700000000000000, 'system', 'bench', 'seal', 'org-1', '', 3, '{"i":"1"}', zeroblob(32), x'0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'`,
		`2, -5, '', 'ü', 'x', 'o', 'i', -1, NULL, zeroblob(32), zeroblob(32)`,
		`'7', 2.0, x'6b696e64', 42, 1.5, 'o', 'i', '9', '{}', ` + h + `, zeroblob(32)`,
		`3, 1, 'a', 'b', 'c', 'd', 'e', 0, '{"b":"1","a":"2"}', zeroblob(31), zeroblob(32)`,
		`4, 1.5, 'a', 'b', 'c', 'd', 'e', 0, NULL, zeroblob(32), zeroblob(32)`,
		`x'35', 1, 'a', 'b', 'c', 'd', 'e', 'x', NULL, zeroblob(32), zeroblob(32)`,
		`5, 1, 'a', 'b', 'c', 'd', 'e', 0, 'not json', zeroblob(32), zeroblob(32)`,
		`6, 1, 'a', 'b', 'c', 'd', 'e', 0, 12, zeroblob(32), NULL`,
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
	d[9], d[10] = (*[]byte)(&r.prev), (*[]byte)(&r.hash)
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
