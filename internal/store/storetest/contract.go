package storetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

var (
	// A time in a zone east of UTC, with nanoseconds the store drops.
	t0  = time.Date(2026, 3, 14, 1, 59, 26, 535897932, time.FixedZone("UTC+5:30", 5*3600+1800))
	t1  = time.Date(1969, 7, 20, 20, 17, 40, 999, time.UTC) // before the epoch
	bad = []string{"bad\xffutf8", "nul\x00byte"}
)

func testOrgs(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	beta := store.Org{ID: "org-β", Name: "Ingeniería Ōsaka 株式会社 🏗", CreatedAt: t0}
	update(t, s, func(tx store.Tx) error {
		for _, o := range []store.Org{beta, {ID: "org-c", Name: "C", CreatedAt: t1}, {ID: "org-a", Name: ""}} {
			if err := tx.PutOrg(o); err != nil {
				return err
			}
		}
		wantErr(t, "duplicate org", tx.PutOrg(store.Org{ID: "org-β", Name: "usurper"}), store.ErrConflict)
		// The transaction stays usable after a conflict.
		return tx.PutOrg(store.Org{ID: "org-d", Name: "after the conflict"})
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Org("org-β")
		want := beta
		want.CreatedAt = norm(t0)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Org = %+v, %v; want %+v", got, err, want)
		}
		_, err = tx.Org("org-missing")
		wantErr(t, "missing org", err, store.ErrNotFound)
		all, err := tx.Orgs()
		if err != nil {
			return err
		}
		var ids []string
		for _, o := range all {
			ids = append(ids, o.ID)
		}
		if want := []string{"org-a", "org-c", "org-d", "org-β"}; !slices.Equal(ids, want) {
			t.Errorf("Orgs = %q, want %q (byte order)", ids, want)
		}
		if all[0].CreatedAt != (time.Time{}) || !all[1].CreatedAt.Equal(t1.Truncate(time.Microsecond)) || all[1].CreatedAt.Location() != time.UTC {
			t.Errorf("times: zero read back as %v, pre-epoch as %v", all[0].CreatedAt, all[1].CreatedAt)
		}
		return nil
	})
}

func testIdentities(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	jane := store.Identity{ID: "id-2", OrgID: "org-1", Owner: "u-jane", Name: "Jane Doe, P.E. 12345, Texas", CreatedAt: t0}
	update(t, s, func(tx store.Tx) error {
		wantErr(t, "identity of a missing org", tx.PutIdentity(store.Identity{ID: "id-0", OrgID: "org-none"}), store.ErrNotFound)
		if err := tx.PutOrg(store.Org{ID: "org-1"}); err != nil {
			return err
		}
		if err := tx.PutOrg(store.Org{ID: "org-2"}); err != nil {
			return err
		}
		for _, i := range []store.Identity{jane, {ID: "id-1", OrgID: "org-1", Name: "José Ñúñez, Ing."}, {ID: "id-3", OrgID: "org-2"}} {
			if err := tx.PutIdentity(i); err != nil {
				return err
			}
		}
		wantErr(t, "duplicate identity", tx.PutIdentity(store.Identity{ID: "id-2", OrgID: "org-2"}), store.ErrConflict)
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Identity("id-2")
		want := jane
		want.CreatedAt = norm(t0)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Identity = %+v, %v; want %+v", got, err, want)
		}
		_, err = tx.Identity("id-missing")
		wantErr(t, "missing identity", err, store.ErrNotFound)
		list, err := tx.Identities("org-1")
		if err != nil || len(list) != 2 || list[0].ID != "id-1" || list[1].ID != "id-2" || list[0].Name != "José Ñúñez, Ing." {
			t.Errorf("Identities(org-1) = %+v, %v", list, err)
		}
		if list, err := tx.Identities("org-none"); err != nil || len(list) != 0 {
			t.Errorf("Identities(org-none) = %+v, %v", list, err)
		}
		return nil
	})
}

// testChain returns root, intermediate and leaf certificates (DER), made
// with crypto/x509.
func testChain(t *testing.T) [][]byte {
	t.Helper()
	var (
		ders   [][]byte
		parent *x509.Certificate
		pkey   *ecdsa.PrivateKey
	)
	for i, name := range []string{"Root CA", "Intermediate CA", "Jane Doe, P.E."} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(int64(i + 1)),
			Subject:               pkix.Name{CommonName: name},
			NotBefore:             t0,
			NotAfter:              t0.AddDate(1, 0, 0),
			BasicConstraintsValid: true,
			IsCA:                  i < 2,
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		}
		if parent == nil {
			parent, pkey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, pkey)
		if err != nil {
			t.Fatal(err)
		}
		if parent, err = x509.ParseCertificate(der); err != nil {
			t.Fatal(err)
		}
		pkey = key
		ders = append([][]byte{der}, ders...)
	}
	return ders // leaf first
}

func testVersions(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	chain := testChain(t)
	big := bytes.Repeat([]byte{0, 0xff, 0x30}, 30000) // needs a 3-byte length
	versions := map[int]store.Version{
		1:  {IdentityID: "id-1", Version: 1, Status: "pending", KeyRef: "local", CreatedAt: t0, UpdatedAt: t1},
		2:  {IdentityID: "id-1", Version: 2, Status: "ready", KeyRef: "pkcs11:token=Ā;object=k", KeyBlob: []byte{}, PublicKey: []byte{}, CSR: []byte{}, CertDER: []byte{}, ChainDER: [][]byte{}},
		3:  {IdentityID: "id-1", Version: 3, Status: "active", KeyRef: "local", KeyBlob: []byte{0, 1, 0}, PublicKey: []byte{0x30}, CSR: big, CertDER: chain[0], ChainDER: chain, CreatedAt: t0},
		10: {IdentityID: "id-1", Version: 10, Status: "destroyed", ChainDER: [][]byte{chain[1], {}, big}},
	}
	update(t, s, func(tx store.Tx) error {
		wantErr(t, "version of a missing identity", tx.PutVersion(store.Version{IdentityID: "id-none", Version: 1}), store.ErrNotFound)
		if err := tx.PutOrg(store.Org{ID: "org-1"}); err != nil {
			return err
		}
		if err := tx.PutIdentity(store.Identity{ID: "id-1", OrgID: "org-1"}); err != nil {
			return err
		}
		for _, v := range []int{10, 3, 1, 2} {
			if err := tx.PutVersion(versions[v]); err != nil {
				return err
			}
		}
		return nil
	})
	check := func(want store.Version, got store.Version) {
		t.Helper()
		want.CreatedAt, want.UpdatedAt = norm(want.CreatedAt), norm(want.UpdatedAt)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("version %d does not round-trip:\n got %+v\nwant %+v", want.Version, got, want)
		}
	}
	view(t, s, func(tx store.ReadTx) error {
		for _, v := range versions {
			got, err := tx.Version("id-1", v.Version)
			if err != nil {
				return err
			}
			check(v, got)
		}
		got, err := tx.Version("id-1", 3)
		if err != nil {
			return err
		}
		if _, err := x509.ParseCertificate(got.ChainDER[0]); err != nil {
			t.Errorf("stored leaf no longer parses: %v", err)
		}
		_, err = tx.Version("id-1", 99)
		wantErr(t, "missing version", err, store.ErrNotFound)
		list, err := tx.Versions("id-1")
		if err != nil {
			return err
		}
		var nums []int
		for _, v := range list {
			nums = append(nums, v.Version)
		}
		if !slices.Equal(nums, []int{1, 2, 3, 10}) {
			t.Errorf("Versions order = %v", nums)
		}
		return nil
	})
	// PutVersion replaces every field, including a blob set back to nil.
	destroyed := versions[3]
	destroyed.Status, destroyed.KeyBlob, destroyed.UpdatedAt = "destroyed", nil, t1
	update(t, s, func(tx store.Tx) error { return tx.PutVersion(destroyed) })
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Version("id-1", 3)
		if err != nil {
			return err
		}
		check(destroyed, got)
		return nil
	})
}

func testDEKs(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	k := func(org string, v, kek uint32, wrapped []byte, enc uint64) store.WrappedDEK {
		return store.WrappedDEK{OrgID: org, Version: v, KEKVersion: kek, Wrapped: wrapped, Encryptions: enc, CreatedAt: t0}
	}
	keys := []store.WrappedDEK{
		k("org-b", 1, 1, []byte{1}, 0),
		k("org-a", math.MaxUint32, math.MaxUint32, []byte{}, math.MaxInt64),
		k("org-a", 1, 7, nil, 1<<40),
	}
	update(t, s, func(tx store.Tx) error {
		wantErr(t, "data key of a missing org", tx.PutDEK(k("org-none", 1, 1, nil, 0)), store.ErrNotFound)
		wantErr(t, "encryption count beyond int64", tx.PutDEK(k("org-a", 9, 1, nil, math.MaxUint64)), store.ErrInvalid)
		for _, o := range []string{"org-a", "org-b"} {
			if err := tx.PutOrg(store.Org{ID: o}); err != nil {
				return err
			}
		}
		for _, d := range keys {
			if err := tx.PutDEK(d); err != nil {
				return err
			}
		}
		// Replace: KEK rotation re-wraps and counts on.
		keys[0] = k("org-b", 1, 2, []byte{2, 2}, 5)
		return tx.PutDEK(keys[0])
	})
	for i := range keys {
		keys[i].CreatedAt = norm(t0)
	}
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.DEK("org-a", math.MaxUint32)
		if err != nil || !reflect.DeepEqual(got, keys[1]) {
			t.Errorf("DEK = %+v, %v; want %+v", got, err, keys[1])
		}
		_, err = tx.DEK("org-a", 2)
		wantErr(t, "missing data key", err, store.ErrNotFound)
		list, err := tx.DEKs("org-a")
		if err != nil || !reflect.DeepEqual(list, []store.WrappedDEK{keys[2], keys[1]}) {
			t.Errorf("DEKs(org-a) = %+v, %v", list, err)
		}
		all, err := tx.AllDEKs()
		if err != nil || !reflect.DeepEqual(all, []store.WrappedDEK{keys[2], keys[1], keys[0]}) {
			t.Errorf("AllDEKs = %+v, %v", all, err)
		}
		return nil
	})
}

func testInvalid(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutOrg(store.Org{ID: "org-1"}); err != nil {
			return err
		}
		for _, v := range bad {
			wantErr(t, "org name", tx.PutOrg(store.Org{ID: "org-2", Name: v}), store.ErrInvalid)
			wantErr(t, "identity owner", tx.PutIdentity(store.Identity{ID: "id", OrgID: "org-1", Owner: v}), store.ErrInvalid)
			e := event("org-1", "x", 0)
			e.Details[v] = "value"
			_, err := tx.AppendAudit(e)
			wantErr(t, "detail key", err, store.ErrInvalid)
			e = event(v, "x", 0)
			_, err = tx.AppendAudit(e)
			wantErr(t, "chain name", err, store.ErrInvalid)
			_, err = tx.Org(v)
			wantErr(t, "lookup by an invalid id", err, store.ErrNotFound)
		}
		// Entries that audit.Entry.Validate refuses are not stored: the
		// verifier would report them as breaks.
		for name, mutate := range map[string]func(*audit.Entry){
			"empty chain":         func(e *audit.Entry) { e.Chain = "" },
			"padded chain":        func(e *audit.Entry) { e.Chain = " org-1" },
			"unknown action":      func(e *audit.Entry) { e.Action = "test.unknown" },
			"empty details key":   func(e *audit.Entry) { e.Details[""] = "x" },
			"negative version":    func(e *audit.Entry) { e.Subject.Version = -1 },
			"time after 9999 A.D": func(e *audit.Entry) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		} {
			e := event("org-1", "x", 0)
			mutate(&e)
			_, err := tx.AppendAudit(e)
			wantErr(t, name, err, store.ErrInvalid)
		}
		// Invalid input does not poison the transaction.
		_, err := tx.AppendAudit(event("org-1", "x", 0))
		return err
	})
	if got := verifyChain(t, s, "org-1"); len(got) != 1 {
		t.Errorf("chain has %d entries, want 1", len(got))
	}
}

func testAudit(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	view(t, s, func(tx store.ReadTx) error {
		_, err := tx.AuditHead("org-1")
		wantErr(t, "head of an empty chain", err, store.ErrNotFound)
		chains, err := tx.AuditChains()
		if err != nil || len(chains) != 0 {
			t.Errorf("AuditChains = %q, %v", chains, err)
		}
		return nil
	})
	inputs := []audit.Entry{{
		Chain:    "org-1",
		Seq:      99, // all three are the store's to set
		PrevHash: audit.Hash{1},
		Hash:     audit.Hash{2},
		Time:     t1,
		Actor:    audit.Actor{Kind: "user", ID: "u-ß"},
		Action:   audit.ActionVersionRevoke,
		Subject:  audit.Subject{Org: "org-1", Identity: "id-ü", Version: 3},
		Details: map[string]string{
			audit.DetailReason: "keyCompromise: <script>&\"quoted\"\\\n\t\u2028 ☃",
			"z":                "",
		},
	}, {
		Chain:  "org-1",
		Actor:  audit.Actor{Kind: "cli", ID: "root"},
		Action: audit.ActionSeal,
		Time:   t0,
		// Details nil
	}, {
		Chain:   "org-1",
		Actor:   audit.Actor{Kind: "system"},
		Action:  audit.ActionDEKCreate,
		Details: map[string]string{}, // empty, not nil
		// Time zero: now
	}, {
		Chain:  audit.SystemChain,
		Time:   t0,
		Actor:  audit.Actor{Kind: audit.ActorSystem},
		Action: audit.ActionKEKRotate,
	}}
	var appended []audit.Entry
	before := time.Now().Add(-time.Second)
	update(t, s, func(tx store.Tx) error {
		appended = appended[:0] // fn may run again
		for _, in := range inputs {
			e, err := tx.AppendAudit(in)
			if err != nil {
				return err
			}
			appended = append(appended, e)
		}
		return nil
	})
	after := time.Now().Add(time.Second)
	for i, e := range appended {
		want := inputs[i]
		want.Time = norm(want.Time)
		if i == 2 {
			want.Time = e.Time
			if e.Time.Before(before) || e.Time.After(after) || e.Time != norm(e.Time) || e.Time.Location() != time.UTC {
				t.Errorf("zero time became %v, want now in UTC microseconds", e.Time)
			}
		}
		want.Seq = map[int]uint64{0: 1, 1: 2, 2: 3, 3: 1}[i]
		if i == 0 || i == 3 {
			want.PrevHash = audit.Hash{}
		} else {
			want.PrevHash = appended[i-1].Hash
		}
		want.Hash = e.Hash
		if !reflect.DeepEqual(e, want) || e.Hash != e.ComputeHash() {
			t.Errorf("AppendAudit %d returned\n%+v\nwant\n%+v", i, e, want)
		}
	}
	// What was returned is exactly what is read back.
	if got := verifyChain(t, s, "org-1"); !reflect.DeepEqual(got, appended[:3]) {
		t.Errorf("stored chain differs from the appended entries:\n got %+v\nwant %+v", got, appended[:3])
	}
	if got := verifyChain(t, s, audit.SystemChain); !reflect.DeepEqual(got, appended[3:]) {
		t.Errorf("system chain = %+v", got)
	}
	errStop := errors.New("stop")
	view(t, s, func(tx store.ReadTx) error {
		chains, err := tx.AuditChains()
		if err != nil || !slices.Equal(chains, []string{"org-1", audit.SystemChain}) {
			t.Errorf("AuditChains = %q, %v", chains, err)
		}
		var seqs []uint64
		if err := tx.AuditEntries("org-1", 2, func(e audit.Entry) error {
			seqs = append(seqs, e.Seq)
			return nil
		}); err != nil || !slices.Equal(seqs, []uint64{2, 3}) {
			t.Errorf("AuditEntries from 2 = %v, %v", seqs, err)
		}
		n := 0
		err = tx.AuditEntries("org-1", 0, func(audit.Entry) error { n++; return errStop })
		if !errors.Is(err, errStop) || n != 1 {
			t.Errorf("AuditEntries did not stop at the callback's error: %v after %d", err, n)
		}
		if err := tx.AuditEntries("org-1", 4, func(audit.Entry) error { return errStop }); err != nil {
			t.Errorf("AuditEntries past the head: %v", err)
		}
		for _, c := range []struct {
			from  uint64
			limit int
			want  []audit.Entry
		}{
			{0, 2, appended[:2]}, {1, 1000, appended[:3]}, {2, 1, appended[1:2]}, {3, 5, appended[2:3]}, {4, 5, nil}, {1 << 63, 5, nil},
		} {
			got, err := tx.AuditPage("org-1", c.from, c.limit)
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("AuditPage from %d, %d = %+v, %v; want %+v", c.from, c.limit, got, err, c.want)
			}
		}
		for _, limit := range []int{0, -1, store.MaxAuditPage + 1} {
			if _, err := tx.AuditPage("org-1", 1, limit); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("AuditPage with limit %d: %v", limit, err)
			}
		}
		if got, err := tx.AuditPage("nope", 1, 5); err != nil || len(got) != 0 {
			t.Errorf("AuditPage of an unknown chain: %v %v", got, err)
		}
		head, err := tx.AuditHead("org-1")
		if err != nil || !reflect.DeepEqual(head, appended[2]) {
			t.Errorf("AuditHead = %+v, %v", head, err)
		}
		return nil
	})
	// LockChain alone creates no chain; the next append continues.
	update(t, s, func(tx store.Tx) error {
		if err := tx.LockChain("org-2"); err != nil {
			return err
		}
		if err := tx.LockChain("org-1"); err != nil {
			return err
		}
		e, err := tx.AppendAudit(event("org-1", "x", 4))
		if err == nil && (e.Seq != 4 || e.PrevHash != appended[2].Hash) {
			t.Errorf("append after LockChain: seq %d", e.Seq)
		}
		return err
	})
	view(t, s, func(tx store.ReadTx) error {
		chains, err := tx.AuditChains()
		if err != nil || !slices.Equal(chains, []string{"org-1", audit.SystemChain}) {
			t.Errorf("after LockChain(org-2): AuditChains = %q, %v", chains, err)
		}
		return nil
	})
}

// testAuditBatches crosses the implementations' read batches and uses the
// transaction from inside the AuditEntries callback.
func testAuditBatches(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	const n = 2345
	update(t, s, func(tx store.Tx) error {
		for i := range n {
			if _, err := tx.AppendAudit(event("long", "x", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if got := verifyChain(t, s, "long"); len(got) != n {
		t.Fatalf("chain has %d entries, want %d", len(got), n)
	}
	update(t, s, func(tx store.Tx) error {
		next := uint64(999)
		return tx.AuditEntries("long", next, func(e audit.Entry) error {
			if e.Seq != next {
				return errors.New("seq " + strconv.FormatUint(e.Seq, 10) + " out of order")
			}
			next++
			if e.Seq%500 == 0 {
				head, err := tx.AuditHead("long")
				if err != nil || head.Seq != n {
					t.Errorf("AuditHead inside AuditEntries: %d, %v", head.Seq, err)
				}
			}
			return nil
		})
	})
	// A read-only transaction may read ahead (sqlcore): the entries must be
	// those a read-write one gives, fn may still use the transaction, even
	// for a nested read of the same chain, and an early stop must end it.
	var inUpdate, inView []audit.Entry
	errStop := errors.New("stop")
	update(t, s, func(tx store.Tx) error {
		return tx.AuditEntries("long", 3, func(e audit.Entry) error { inUpdate = append(inUpdate, e); return nil })
	})
	view(t, s, func(tx store.ReadTx) error {
		err := tx.AuditEntries("long", 3, func(e audit.Entry) error {
			inView = append(inView, e)
			if e.Seq%700 == 0 {
				nested := 0
				err := tx.AuditEntries("long", e.Seq-1, func(f audit.Entry) error {
					if nested++; f.Seq != e.Seq-2+uint64(nested) || nested == 3 {
						return errStop
					}
					return nil
				})
				if head, herr := tx.AuditHead("long"); err != errStop || nested != 3 || herr != nil || head.Seq != n {
					t.Errorf("inside AuditEntries at %d: nested read %v after %d, head %d, %v", e.Seq, err, nested, head.Seq, herr)
				}
			}
			if e.Seq == 2100 {
				return errStop
			}
			return nil
		})
		if err != errStop || len(inView) != 2098 {
			t.Errorf("AuditEntries in a View stopped with %v after %d entries, want errStop after 2098", err, len(inView))
		}
		return nil
	})
	if len(inUpdate) != n-2 || !reflect.DeepEqual(inView, inUpdate[:len(inView)]) {
		t.Errorf("a View read %d entries, an Update %d, or they differ", len(inView), len(inUpdate))
	}
}

// writeEverything writes one of each kind of record and two audit entries.
func writeEverything(tx store.Tx, tag string) error {
	if err := tx.PutOrg(store.Org{ID: "org-" + tag}); err != nil {
		return err
	}
	if err := tx.PutIdentity(store.Identity{ID: "id-" + tag, OrgID: "org-" + tag}); err != nil {
		return err
	}
	if err := tx.PutVersion(store.Version{IdentityID: "id-" + tag, Version: 1, KeyBlob: []byte("sealed")}); err != nil {
		return err
	}
	if err := tx.PutDEK(store.WrappedDEK{OrgID: "org-" + tag, Version: 1, Wrapped: []byte("wrapped")}); err != nil {
		return err
	}
	for i := range 2 {
		if _, err := tx.AppendAudit(event("org-"+tag, "x", i)); err != nil {
			return err
		}
	}
	return nil
}

// assertNothing fails unless the store holds no record of tag and no
// audit chain at all.
func assertNothing(t *testing.T, s store.Store, tag string) {
	t.Helper()
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.Org("org-" + tag); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("org survived: %v", err)
		}
		if _, err := tx.Identity("id-" + tag); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("identity survived: %v", err)
		}
		if l, err := tx.Versions("id-" + tag); len(l) != 0 || err != nil {
			t.Errorf("versions survived: %v", err)
		}
		if l, err := tx.AllDEKs(); len(l) != 0 || err != nil {
			t.Errorf("data keys survived: %v", err)
		}
		if _, err := tx.AuditHead("org-" + tag); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("audit entry survived: %v", err)
		}
		if c, err := tx.AuditChains(); len(c) != 0 || err != nil {
			t.Errorf("audit chains survived: %q, %v", c, err)
		}
		return nil
	})
}

// assertUsable appends to the chain of tag and expects sequence number 1.
func assertUsable(t *testing.T, s store.Store, tag string) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		e, err := tx.AppendAudit(event("org-"+tag, "after", 0))
		if err == nil && e.Seq != 1 {
			t.Errorf("first committed entry has seq %d", e.Seq)
		}
		return err
	})
}

func testRollback(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	errBoom := errors.New("boom")
	err := s.Update(context.Background(), func(tx store.Tx) error {
		if err := writeEverything(tx, "r"); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	assertNothing(t, s, "r")

	func() {
		defer func() {
			if r := recover(); r != errBoom {
				t.Errorf("panic = %v, want fn's panic", r)
			}
		}()
		s.Update(context.Background(), func(tx store.Tx) error {
			if err := writeEverything(tx, "r"); err != nil {
				return err
			}
			panic(errBoom)
		})
	}()
	assertNothing(t, s, "r")
	assertUsable(t, s, "r")
}

// testCancelled cancels the context inside fn, after the writes; fn then
// ignores the failure of a further write and returns nil. Nothing commits.
func testCancelled(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := writeEverything(tx, "c"); err != nil {
			return err
		}
		cancel()
		tx.AppendAudit(event("org-c", "x", 2)) // fails; the error is ignored
		return nil
	})
	if err == nil {
		t.Fatal("Update committed after its context was cancelled")
	}
	assertNothing(t, s, "c")
	assertUsable(t, s, "c")
}

// testAuditInsertFails makes the database refuse an audit insert (a
// trigger) after other writes of the same transaction succeeded.
func testAuditInsertFails(t *testing.T, b Backend) {
	s, dsn := fresh(t, b)
	b.Exec(t, dsn, b.FailAuditSQL)
	for _, ignore := range []bool{false, true} {
		err := s.Update(context.Background(), func(tx store.Tx) error {
			if err := writeEverything(tx, "f"); err != nil {
				return err
			}
			e := event("org-f", "x", 2)
			e.Actor.ID = "storetest-fail"
			_, err := tx.AppendAudit(e)
			if err == nil {
				t.Error("the injected failure did not happen")
			}
			if ignore {
				return nil // a careless fn: the store must still fail closed
			}
			return err
		})
		if err == nil {
			t.Fatalf("Update committed although an audit insert failed (fn ignoring it: %v)", ignore)
		}
		assertNothing(t, s, "f")
	}
	assertUsable(t, s, "f")
}

// testSnapshot checks that View reads one snapshot while a writer commits.
func testSnapshot(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	update(t, s, func(tx store.Tx) error {
		_, err := tx.AppendAudit(event("org-1", "x", 0))
		return err
	})
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.AuditHead("org-1"); err != nil {
			return err
		}
		done := make(chan error)
		go func() {
			done <- s.Update(context.Background(), func(tx store.Tx) error {
				if err := tx.PutOrg(store.Org{ID: "org-1"}); err != nil {
					return err
				}
				_, err := tx.AppendAudit(event("org-1", "x", 1))
				return err
			})
		}()
		if err := <-done; err != nil {
			return err
		}
		head, err := tx.AuditHead("org-1")
		if err != nil || head.Seq != 1 {
			t.Errorf("View saw a commit made after its snapshot: head %d, %v", head.Seq, err)
		}
		if _, err := tx.Org("org-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("View saw an org committed after its snapshot: %v", err)
		}
		return nil
	})
	if got := verifyChain(t, s, "org-1"); len(got) != 2 {
		t.Errorf("chain has %d entries, want 2", len(got))
	}
}

func testMigrations(t *testing.T, b Backend) {
	dsn := b.Fresh(t)
	// Two stores migrating the same new database at once.
	var wg sync.WaitGroup
	stores := make([]store.Store, 2)
	errs := make([]error, 2)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = b.Open(context.Background(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent open %d: %v", i, err)
		}
	}
	update(t, stores[0], func(tx store.Tx) error { return tx.PutOrg(store.Org{ID: "org-kept", Name: "kept"}) })
	for _, s := range stores {
		s.Close()
	}
	// Reopening keeps the data and applies nothing twice.
	s := openStore(t, b, dsn)
	view(t, s, func(tx store.ReadTx) error {
		o, err := tx.Org("org-kept")
		if err != nil || o.Name != "kept" {
			t.Errorf("after reopening: %+v, %v", o, err)
		}
		return nil
	})
	s.Close()
	b.Exec(t, dsn, `INSERT INTO schema_migrations (version, name, applied_us) VALUES (9999, '9999_future.sql', 0)`)
	s, err := b.Open(context.Background(), dsn)
	if err == nil {
		s.Close()
		t.Fatal("opened a database with a newer schema")
	}
	if !errors.Is(err, store.ErrSchemaTooNew) || !bytes.Contains([]byte(err.Error()), []byte("9999")) {
		t.Errorf("newer schema: got %v, want ErrSchemaTooNew naming version 9999", err)
	}
}

// testLockChain runs concurrent read-modify-write transactions (a counter
// in a data key) that call LockChain first; no increment may be lost.
func testLockChain(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutOrg(store.Org{ID: "org-1"}); err != nil {
			return err
		}
		return tx.PutDEK(store.WrappedDEK{OrgID: "org-1", Version: 1})
	})
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				err := s.Update(context.Background(), func(tx store.Tx) error {
					if err := tx.LockChain("org-1"); err != nil {
						return err
					}
					k, err := tx.DEK("org-1", 1)
					if err != nil {
						return err
					}
					k.Encryptions++
					if err := tx.PutDEK(k); err != nil {
						return err
					}
					_, err = tx.AppendAudit(event("org-1", strconv.Itoa(w), i))
					return err
				})
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	view(t, s, func(tx store.ReadTx) error {
		k, err := tx.DEK("org-1", 1)
		if err != nil || k.Encryptions != workers*each {
			t.Errorf("counter = %d, want %d (lost updates): %v", k.Encryptions, workers*each, err)
		}
		return nil
	})
	if got := verifyChain(t, s, "org-1"); len(got) != workers*each {
		t.Errorf("chain has %d entries", len(got))
	}
}

// checkAll verifies a chain of appends by several actors and that each
// actor's entries 0..n-1 appear exactly once.
func checkAll(t *testing.T, entries []audit.Entry, actors []string, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, e := range entries {
		seen[e.Actor.ID+"/"+e.Details["i"]]++
	}
	for _, a := range actors {
		for i := range n {
			if c := seen[a+"/"+strconv.Itoa(i)]; c != 1 {
				t.Errorf("entry %d of %s appears %d times", i, a, c)
			}
		}
	}
	if len(entries) != len(actors)*n {
		t.Errorf("chain has %d entries, want %d", len(entries), len(actors)*n)
	}
}

func testConcurrentAppend(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	const workers, each = 16, 20
	var wg sync.WaitGroup
	var actors []string
	for w := range workers {
		actors = append(actors, "g"+strconv.Itoa(w))
		wg.Go(func() {
			for i := range each {
				err := s.Update(context.Background(), func(tx store.Tx) error {
					_, err := tx.AppendAudit(event("org-1", "g"+strconv.Itoa(w), i))
					return err
				})
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	checkAll(t, verifyChain(t, s, "org-1"), actors, each)
}

// testTwoProcesses appends to one chain from this process and a child at
// once. The first parent append holds the chain's lock until the child has
// started its own append, so the child certainly waits on a lock held by
// another process; then both append with short pauses, interleaving.
func testTwoProcesses(t *testing.T, b Backend, top string) {
	s, dsn := fresh(t, b)
	const each = 120
	c := startChild(t, top, "append", dsn, "org-1", each)
	c.await(t, readyLine)
	var once sync.Once
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.AppendAudit(event("org-1", "parent", 0)); err != nil {
			return err
		}
		once.Do(func() {
			if _, err := c.stdin.WriteString("go\n"); err != nil {
				t.Error(err)
			}
			c.await(t, attemptLine)
			time.Sleep(100 * time.Millisecond) // the child is now blocked on our lock
		})
		return nil
	})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 1 + w; i < each; i += 2 {
				err := s.Update(context.Background(), func(tx store.Tx) error {
					_, err := tx.AppendAudit(event("org-1", "parent", i))
					return err
				})
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				pause()
			}
		})
	}
	wg.Wait()
	if err := c.wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, c.out)
	}
	entries := verifyChain(t, s, "org-1")
	checkAll(t, entries, []string{"parent", "child"}, each)
	switches := 0
	for i := 1; i < len(entries); i++ {
		if entries[i].Actor.ID != entries[i-1].Actor.ID {
			switches++
		}
	}
	t.Logf("%d entries, the writing process changed %d times", len(entries), switches)
}

func testKilled(t *testing.T, b Backend, top string) {
	s, dsn := fresh(t, b)
	update(t, s, func(tx store.Tx) error {
		_, err := tx.AppendAudit(event("org-k", "parent", 0))
		return err
	})
	c := startChild(t, top, "crash", dsn, "org-k", 50)
	c.await(t, crashLine)
	if err := c.wait(); err == nil {
		t.Fatalf("child survived its kill:\n%s", c.out)
	}
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.Org("org-k"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("org of the killed transaction survived: %v", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		_, err := tx.AppendAudit(event("org-k", "parent", 1))
		return err
	})
	if got := verifyChain(t, s, "org-k"); len(got) != 2 {
		t.Errorf("chain has %d entries, want 2 (the parent's)", len(got))
	}
}
