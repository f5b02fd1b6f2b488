//go:build unix

package server

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/config"
	"sealkeep/internal/custody"
	"sealkeep/internal/envelope"
	"sealkeep/internal/idempotency"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/pdf/verify"
	"sealkeep/internal/redact"
	"sealkeep/internal/signer/local"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres/pgtest"
	"sealkeep/internal/translog"
)

// sealBenchClients are the concurrencies BenchmarkSealThroughput measures.
var sealBenchClients = []int{1, 4, 16}

// stepsPerRound is how many seals each client makes per round: a TOTP
// code is accepted for the current step and one either side, so a user
// can approve three seals (steps cur-1, cur, cur+1, in that order) before
// the clock must move.
const stepsPerRound = 1 + 2*auth.TOTPSkew

// BenchmarkSealThroughput (issue 9) runs N concurrent clients (1, 4, 16)
// against a real server on loopback HTTP, composed as `sealkeep serve`
// composes it (a data directory made by config.Init, the checkpoint
// publisher, one DEK cache for custody and accounts, Idempotency-Keys),
// on SQLite and on PostgreSQL. Each client is one sealer with its own
// local RSA-3072 identity (a key generated in custody, certified by a
// test CA, active) and API token; each request seals a small PDF with a
// fresh, valid TOTP code and an Idempotency-Key, as `sealkeep seal
// --server` sends it.
//
// A user's TOTP time step is accepted once and in increasing order, so
// the server's clock is a settable one: in each round every client seals
// up to three times (codes for steps cur-1, cur and cur+1), all clients
// finish, and the clock moves three steps. The round's end is a barrier:
// a client that finished waits for the slowest (reported as
// idle-share, the share of client time spent waiting there).
//
// Before and after the seals, in the same run and with the same
// concurrency, N goroutines sign SHA-256 digests with crypto/rsa
// (SignPKCS1v15, the scheme the seals use) and an RSA-3072 key parsed
// once: the raw signing throughput the seals are compared with
// (x-raw: seals/s over the mean of the two raw rates). CPU seconds are
// reported beside the wall figures (the process's user+system time: the
// server, the clients and, for SQLite, the database; PostgreSQL's own
// processes are not counted), since other jobs on a shared machine
// inflate wall time but not CPU time; x-raw-cpu is the raw CPU per
// signature over the CPU per seal. A third loop signs as custody's local
// signer does (the PKCS #8 key form parsed, used and wiped for every
// signature, since no private key is cached), without the store and the
// envelope: x-raw-local (rate) and x-raw-local-cpu are what that rule
// alone leaves of the raw throughput, the ceiling of any seal.
//
// Afterwards every audit chain verifies through custody (hash chain,
// Merkle tree, newest checkpoint), the org's chain holds exactly the
// seals answered, and each client's last sealed PDF verifies with its
// seal receipt. Any request that is not answered 200 with the sealed PDF
// fails the benchmark.
func BenchmarkSealThroughput(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			sb := newSealBench(b, backend, slices.Max(sealBenchClients))
			for _, n := range sealBenchClients {
				b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) { sb.run(b, n) })
			}
			sb.check(b)
		})
	}
}

// sealBench is the benchmark's server, its sealers and its baseline key.
type sealBench struct {
	ctx     context.Context
	clk     *testClock
	url     string
	http    *http.Client
	pub     *translog.Publisher
	keys    *custody.Service
	ca      *pkitest.Cert
	doc     []byte
	raw     *rsa.PrivateKey
	local   *local.Signer // raw's key, parsed for every signature
	sealers []*benchSealer
	sealed  atomic.Int64 // seals answered 200
}

// benchSealer is one client: a sealer with an identity and a token.
type benchSealer struct {
	login, id, identity string
	totp, token         string
	last                int64  // the last TOTP step used
	sealed              []byte // the last sealed PDF
}

// benchOrg is the organization of the benchmark's sealers.
const benchOrg = "bench"

func newSealBench(b *testing.B, backend string, clients int) *sealBench {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	init := config.InitOptions{Dir: filepath.Join(dir, "data")}
	if backend == "postgres" {
		init.Database = pgtest.Fresh(b)
	}
	if _, err := config.Init(ctx, init); err != nil {
		b.Fatal(err)
	}
	env, err := config.Open(ctx, init.Dir)
	if err != nil {
		b.Fatal(err)
	}
	// The service's logger: JSON through the redacting handler, at info.
	log := slog.New(redact.NewHandler(slog.NewJSONHandler(io.Discard, nil)))
	pub, err := env.Publisher(log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pub.Close() })
	dekCache := envelope.NewDEKCache(5 * time.Minute)
	b.Cleanup(dekCache.Close)
	// The clock starts in the middle of a TOTP step.
	start := time.Now().UTC().Truncate(auth.TOTPPeriod * time.Second).Add(auth.TOTPPeriod / 2 * time.Second)
	clk := &testClock{t: start}
	// Password hashing is not on the seal path: cheap parameters keep the
	// set-up short.
	au := auth.New(pub, env.KEK, auth.Options{Logger: log, DEKCache: dekCache, Clock: clk.now, Password: cheapHash})
	keys := custody.New(pub, env.KEK, custody.Options{Logger: log, DEKCache: dekCache, Clock: clk.now})
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		b.Fatal(err)
	}
	srv, err := New(Config{Logger: log, Auth: au, Keys: keys, Clock: clk.now, TempDir: tmp,
		Idempotency: idempotency.New(pub, idempotency.Options{Lease: 2 * DefaultSealTimeout, Clock: clk.now})})
	if err != nil {
		b.Fatal(err)
	}
	ln, base, err := Listen("127.0.0.1:0", nil)
	if err != nil {
		b.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	b.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			b.Error(err)
		}
	})

	sb := &sealBench{ctx: ctx, clk: clk, url: base, pub: pub, keys: keys, ca: pkitest.Root(b, "seal benchmark CA"),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * clients, DisableCompression: true}}}
	b.Cleanup(sb.http.CloseIdleConnections)
	if sb.doc, err = os.ReadFile("../pdf/testdata/corpus/libreoffice-report.pdf"); err != nil {
		b.Fatal(err)
	}
	if sb.raw, err = rsa.GenerateKey(rand.Reader, 3072); err != nil {
		b.Fatal(err)
	}
	der, err := local.Marshal(sb.raw)
	if err != nil {
		b.Fatal(err)
	}
	if sb.local, err = local.New(sb.raw.Public(), func(context.Context) ([]byte, error) { return bytes.Clone(der), nil }); err != nil {
		b.Fatal(err)
	}
	sb.setup(b, au, clients)
	return sb
}

// setup makes the operator, the org, its owner and the sealers (TOTP,
// token, identity with an active RSA-3072 version).
func (sb *sealBench) setup(b *testing.B, au *auth.Service, clients int) {
	b.Helper()
	ctx := sb.ctx
	pw := func(login string) *redact.Secret { return redact.NewSecret([]byte(login + " password 12345")) }
	op, err := au.Setup(ctx, "operator", pw("operator"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sb.keys.CreateOrg(ctx, audit.Actor{Kind: audit.ActorUser, ID: op.ID}, benchOrg, "Bench"); err != nil {
		b.Fatal(err)
	}
	owner, err := au.CreateUser(ctx, op.ID, "owner", pw("owner"))
	if err != nil {
		b.Fatal(err)
	}
	if err := au.SetMember(ctx, op.ID, benchOrg, owner.ID, auth.RoleOwner); err != nil {
		b.Fatal(err)
	}
	for i := range clients {
		s := &benchSealer{login: fmt.Sprintf("sealer%02d", i), identity: fmt.Sprintf("id-%02d", i)}
		u, err := au.CreateUser(ctx, owner.ID, s.login, pw(s.login))
		if err != nil {
			b.Fatal(err)
		}
		s.id = u.ID
		if err := au.SetMember(ctx, owner.ID, benchOrg, u.ID, auth.RoleSealer); err != nil {
			b.Fatal(err)
		}
		e, err := au.BeginTOTP(ctx, u.ID)
		if err != nil {
			b.Fatal(err)
		}
		q, err := url.Parse(string(e.URI.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		s.totp = q.Query().Get("secret")
		if _, err := au.ConfirmTOTP(ctx, u.ID, s.code(b, sb.step()), ""); err != nil {
			b.Fatal(err)
		}
		sb.sealers = append(sb.sealers, s)
	}
	sb.clk.add(auth.TOTPPeriod * time.Second)
	for _, s := range sb.sealers {
		s.last = sb.step()
		_, tok, err := au.LoginAPIToken(ctx, auth.LoginRequest{Login: s.login, Password: pw(s.login), Code: s.code(b, s.last), Client: "127.0.0.1"}, "bench", 0)
		if err != nil {
			b.Fatal(err)
		}
		s.token = string(tok.Bytes())
	}
	// The identities, two at a time (an RSA-3072 key generation each).
	var wg sync.WaitGroup
	errc := make(chan error, len(sb.sealers))
	sem := make(chan struct{}, 2)
	for _, s := range sb.sealers {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errc <- sb.identity(b, s)
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			b.Fatal(err)
		}
	}
	sb.clk.add(stepsPerRound * auth.TOTPPeriod * time.Second)
}

// identity creates s's identity with an active local RSA-3072 version.
func (sb *sealBench) identity(b *testing.B, s *benchSealer) error {
	ctx, actor := sb.ctx, audit.Actor{Kind: audit.ActorUser, ID: s.id}
	if _, err := sb.keys.CreateIdentity(ctx, actor, custody.IdentitySpec{ID: s.identity, Org: benchOrg, Owner: s.id, Name: s.login + ", P.E."}); err != nil {
		return err
	}
	v, _, err := sb.keys.GenerateKey(ctx, actor, s.identity, keypolicy.RSA3072, pkix.Name{CommonName: s.login})
	if err != nil {
		return err
	}
	var pub crypto.PublicKey
	err = sb.pub.View(ctx, func(tx store.ReadTx) error {
		sv, err := tx.Version(s.identity, v.Version)
		if err != nil {
			return err
		}
		pub, err = x509.ParsePKIXPublicKey(sv.PublicKey)
		return err
	})
	if err != nil {
		return err
	}
	leaf := pkitest.Issue(b, sb.ca, pkitest.LeafTemplate(s.login), pub)
	if _, err := sb.keys.UploadCertificate(ctx, actor, s.identity, v.Version, leaf.Raw, [][]byte{sb.ca.Cert.Raw}); err != nil {
		return err
	}
	_, err = sb.keys.Activate(ctx, actor, s.identity, v.Version, "first")
	return err
}

// step is the TOTP time step of the server's clock.
func (sb *sealBench) step() int64 { return sb.clk.now().Unix() / auth.TOTPPeriod }

// code is s's TOTP code for a time step.
func (s *benchSealer) code(b *testing.B, step int64) *redact.Secret {
	c, err := totp.GenerateCode(s.totp, time.Unix(step*auth.TOTPPeriod, 0))
	if err != nil {
		b.Fatal(err)
	}
	return redact.NewSecret([]byte(c))
}

// run measures b.N seals with n clients between two raw signing runs.
func (sb *sealBench) run(b *testing.B, n int) {
	b.StopTimer()
	rawCount := max(n, b.N/2)
	rawBefore, rawCPUBefore := sb.rawSign(b, n, rawCount, sb.signRaw)
	localBefore, localCPUBefore := sb.rawSign(b, n, rawCount, sb.signLocal)
	users := sb.sealers[:n]
	lat := make([][]time.Duration, n)
	idle := make([]time.Duration, n)
	var left atomic.Int64
	left.Store(int64(b.N))
	b.ResetTimer()
	cpu0 := cpuTime(b)
	b.StartTimer()
	t0 := time.Now()
	for left.Load() > 0 {
		cur := sb.step()
		var wg sync.WaitGroup
		var failed atomic.Pointer[error]
		done := make([]time.Time, n)
		for i, s := range users {
			wg.Go(func() {
				defer func() { done[i] = time.Now() }()
				for step := cur - auth.TOTPSkew; step <= cur+auth.TOTPSkew && left.Add(-1) >= 0; step++ {
					if step <= s.last {
						err := fmt.Errorf("%s: step %d is not after the last one used, %d", s.login, step, s.last)
						failed.CompareAndSwap(nil, &err)
						return
					}
					d, err := sb.seal(s, step)
					if err != nil {
						failed.CompareAndSwap(nil, &err)
						return
					}
					s.last = step
					lat[i] = append(lat[i], d)
				}
			})
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			b.Fatal(*err)
		}
		end := slices.MaxFunc(done, func(a, b time.Time) int { return a.Compare(b) })
		for i := range done {
			idle[i] += end.Sub(done[i])
		}
		sb.clk.add(stepsPerRound * auth.TOTPPeriod * time.Second)
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	localAfter, localCPUAfter := sb.rawSign(b, n, rawCount, sb.signLocal)
	rawAfter, rawCPUAfter := sb.rawSign(b, n, rawCount, sb.signRaw)

	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) != b.N {
		b.Fatalf("%d seals measured, want %d", len(all), b.N)
	}
	sb.sealed.Add(int64(b.N))
	var idleSum time.Duration
	for _, d := range idle {
		idleSum += d
	}
	rate := float64(b.N) / elapsed.Seconds()
	raw := (rawBefore + rawAfter) / 2
	rawCPU := (rawCPUBefore + rawCPUAfter) / 2
	local := (localBefore + localAfter) / 2
	localCPU := (localCPUBefore + localCPUAfter) / 2
	perSeal := cpu.Seconds() / float64(b.N)
	b.ReportMetric(rate, "seals/s")
	b.ReportMetric(ms(quantile(all, 0.50)), "p50-ms")
	b.ReportMetric(ms(quantile(all, 0.99)), "p99-ms")
	b.ReportMetric(raw, "raw-signs/s")
	b.ReportMetric(rate/raw, "x-raw")
	b.ReportMetric(perSeal*1e3, "cpu-ms/seal")
	b.ReportMetric(rawCPU*1e3, "raw-cpu-ms/sign")
	b.ReportMetric(rawCPU/perSeal, "x-raw-cpu")
	b.ReportMetric(local, "local-signs/s")
	b.ReportMetric(localCPU*1e3, "local-cpu-ms/sign")
	b.ReportMetric(local/raw, "x-raw-local")
	b.ReportMetric(rawCPU/localCPU, "x-raw-local-cpu")
	b.ReportMetric(idleSum.Seconds()/(float64(n)*elapsed.Seconds()), "idle-share")
	b.Logf("%d clients, %d seals in %s (%.1f/s, p50 %.1f ms, p99 %.1f ms, %.2f CPU ms each); raw RSA-3072 %.1f/s before, %.1f/s after (%.2f CPU ms each)",
		n, b.N, elapsed.Round(time.Millisecond), rate, ms(quantile(all, 0.5)), ms(quantile(all, 0.99)), perSeal*1e3, rawBefore, rawAfter, rawCPU*1e3)
	b.Logf("parsed for every signature (custody's local signer without store and envelope): %.1f/s before, %.1f/s after (%.2f CPU ms each)", localBefore, localAfter, localCPU*1e3)
}

// seal sends one seal request as s with the code of step, and checks
// the answer: 200, the sealed PDF (the document, then the update) in
// full, the seal entry in the headers.
func (sb *sealBench) seal(s *benchSealer, step int64) (time.Duration, error) {
	c, err := totp.GenerateCode(s.totp, time.Unix(step*auth.TOTPPeriod, 0))
	if err != nil {
		return 0, err
	}
	// The client's own work is kept small: it shares the machine.
	body := bytes.NewBuffer(make([]byte, 0, len(sb.doc)+1024))
	mw := multipart.NewWriter(body)
	fw, _ := mw.CreateFormFile("file", "drawing.pdf")
	fw.Write(sb.doc)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="options"`)
	h.Set("Content-Type", "application/json")
	pw, _ := mw.CreatePart(h)
	pw.Write([]byte(`{"reason":"Issued for construction"}`))
	mw.WriteField("code", c)
	mw.Close()
	req, err := http.NewRequest("POST", sb.url+sealPath(benchOrg, s.identity), body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set(IdempotencyKeyHeader, "bench-"+rand.Text())
	start := time.Now()
	resp, err := sb.http.Do(req)
	if err != nil {
		return 0, err
	}
	out := bytes.NewBuffer(make([]byte, 0, max(resp.ContentLength, 0)+512))
	_, err = out.ReadFrom(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	switch {
	case err != nil:
		return 0, err
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("%s: seal answered %d: %.300s", s.login, resp.StatusCode, out.Bytes())
	case !bytes.HasPrefix(out.Bytes(), sb.doc) || out.Len() <= len(sb.doc) || resp.Header.Get(SealSeqHeader) == "":
		return 0, fmt.Errorf("%s: the answer is not the sealed document (%d bytes, seq %q)", s.login, out.Len(), resp.Header.Get(SealSeqHeader))
	}
	s.sealed = out.Bytes()
	return d, nil
}

// rawSign makes count signatures with sign on n goroutines and returns
// the signatures per second and the CPU seconds per signature.
func (sb *sealBench) rawSign(b *testing.B, n, count int, sign func(digest []byte) error) (perSecond, cpuPerSign float64) {
	var left atomic.Int64
	left.Store(int64(count))
	digest := sha256.Sum256([]byte("sealkeep seal benchmark"))
	cpu0, t0 := cpuTime(b), time.Now()
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for range n {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := sign(digest[:]); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(t0), cpuTime(b)-cpu0
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	return float64(count) / elapsed.Seconds(), cpu.Seconds() / float64(count)
}

// signRaw is the baseline: crypto/rsa with the key parsed once.
func (sb *sealBench) signRaw(digest []byte) error {
	_, err := rsa.SignPKCS1v15(nil, sb.raw, crypto.SHA256, digest)
	return err
}

// signLocal is a signature as custody's local signer makes it, without
// the store and the envelope: the stored key form (PKCS #8) parsed,
// used and wiped on every signature, since no private key is cached.
// The ratio of the raw rate to this one is what that rule costs.
func (sb *sealBench) signLocal(digest []byte) error {
	_, err := sb.local.SignContext(context.Background(), digest, crypto.SHA256)
	return err
}

// check verifies every chain through custody (hash chain, Merkle tree,
// newest checkpoint), counts the org's seal entries, and verifies each
// client's last sealed PDF with its receipt.
func (sb *sealBench) check(b *testing.B) {
	b.Helper()
	sb.pub.Flush()
	chains, err := sb.keys.Chains(sb.ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range chains {
		rep, err := sb.keys.VerifyChain(sb.ctx, c, nil, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK() {
			b.Fatalf("chain %s does not verify: %v", c, rep.Error())
		}
	}
	if err := sb.keys.CheckState(sb.ctx, benchOrg); err != nil {
		b.Fatal(err)
	}
	seals := int64(0)
	err = sb.pub.View(sb.ctx, func(tx store.ReadTx) error {
		return tx.AuditEntries(benchOrg, 1, func(e audit.Entry) error {
			if e.Action == audit.ActionSeal {
				seals++
			}
			return nil
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	if want := sb.sealed.Load(); seals != want {
		b.Fatalf("the org's chain holds %d seal entries, %d seals were answered", seals, want)
	}
	roots := x509.NewCertPool()
	roots.AddCert(sb.ca.Cert)
	path := filepath.Join(b.TempDir(), "sealed.pdf")
	for _, s := range sb.sealers {
		if s.sealed == nil {
			continue
		}
		if err := os.WriteFile(path, s.sealed, 0o600); err != nil {
			b.Fatal(err)
		}
		rep, err := verify.File(sb.ctx, path, verify.Options{Roots: roots, Custody: receiptLookup{sb.keys}, Now: sb.clk.now})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Verdict != verify.Valid || len(rep.Signatures) != 1 || rep.Signatures[0].Receipt == nil || !rep.Signatures[0].Receipt.Found {
			b.Fatalf("%s's last sealed PDF: %s, %d signatures", s.login, rep.Verdict, len(rep.Signatures))
		}
	}
}

// quantile returns the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
