//go:build unix

package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/config"
	"sealkeep/internal/custody"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
	"sealkeep/internal/translog"
)

// accountPassword is every fixture account's password.
const accountPassword = "cluster password 1"

// acme opens an initialised data directory in-process, with the same
// services `sealkeep serve` runs, and makes the operator admin, org acme
// and its owner olive: the common start of the tests that then serve the
// directory. close releases it before a server opens it.
type acme struct {
	t       *testing.T
	ctx     context.Context
	pub     *translog.Publisher
	auth    *auth.Service
	custody *custody.Service
	op      store.User
	olive   store.User
	root    *pkitest.Cert
}

func newAcme(t *testing.T, home string) *acme {
	t.Helper()
	ctx := context.Background()
	env, err := config.Open(ctx, home)
	must(t, err)
	pub, err := env.Publisher(nil)
	must(t, err)
	a := &acme{t: t, ctx: ctx, pub: pub, auth: auth.New(pub, env.KEK, auth.Options{}),
		custody: custody.New(pub, env.KEK, custody.Options{}), root: pkitest.Root(t, "cmd test CA")}
	a.op, err = a.auth.Setup(ctx, "admin", password())
	must(t, err)
	_, err = a.custody.CreateOrg(ctx, audit.Actor{Kind: audit.ActorUser, ID: a.op.ID}, "acme", "Acme")
	must(t, err)
	a.olive, err = a.auth.CreateUser(ctx, a.op.ID, "olive", password())
	must(t, err)
	must(t, a.auth.SetMember(ctx, a.op.ID, "acme", a.olive.ID, auth.RoleOwner))
	return a
}

func password() *redact.Secret { return redact.NewSecret([]byte(accountPassword)) }

// sealer adds a sealer of acme, added by olive.
func (a *acme) sealer(login string) store.User {
	a.t.Helper()
	u, err := a.auth.CreateUser(a.ctx, a.olive.ID, login, password())
	must(a.t, err)
	must(a.t, a.auth.SetMember(a.ctx, a.olive.ID, "acme", u.ID, auth.RoleSealer))
	return u
}

// beginTOTP starts u's TOTP enrolment and returns the base32 secret.
func (a *acme) beginTOTP(u store.User) string {
	a.t.Helper()
	e, err := a.auth.BeginTOTP(a.ctx, u.ID)
	must(a.t, err)
	uri, err := url.Parse(string(e.URI.Bytes()))
	must(a.t, err)
	return uri.Query().Get("secret")
}

// confirmTOTP confirms u's enrolment with the code of the previous time
// step, so that the current and the next one stay fresh for the test.
func (a *acme) confirmTOTP(u store.User, secret string) {
	a.t.Helper()
	code, err := totp.GenerateCode(secret, time.Now().Add(-30*time.Second))
	must(a.t, err)
	_, err = a.auth.ConfirmTOTP(a.ctx, u.ID, redact.NewSecret([]byte(code)), "")
	must(a.t, err)
}

// identity creates identity id of u with versions ECDSA P-256 keys
// generated in custody, each certified by a.root; version 1 is activated.
// It returns the certificates' SHA-256 (hex), by version.
func (a *acme) identity(u store.User, id string, versions int) []string {
	a.t.Helper()
	actor := audit.Actor{Kind: audit.ActorUser, ID: u.ID}
	_, err := a.custody.CreateIdentity(a.ctx, actor, custody.IdentitySpec{ID: id, Org: "acme", Owner: u.ID, Name: u.Login + ", P.E."})
	must(a.t, err)
	var thumbs []string
	for n := 1; n <= versions; n++ {
		v, _, err := a.custody.GenerateKey(a.ctx, actor, id, keypolicy.ECDSAP256, pkix.Name{CommonName: u.Login})
		must(a.t, err)
		var pubKey crypto.PublicKey
		must(a.t, a.pub.View(a.ctx, func(tx store.ReadTx) error {
			sv, err := tx.Version(id, v.Version)
			if err != nil {
				return err
			}
			pubKey, err = x509.ParsePKIXPublicKey(sv.PublicKey)
			return err
		}))
		leaf := pkitest.Issue(a.t, a.root, pkitest.LeafTemplate(u.Login), pubKey)
		ver, err := a.custody.UploadCertificate(a.ctx, actor, id, v.Version, leaf.Raw, [][]byte{a.root.Cert.Raw})
		must(a.t, err)
		thumbs = append(thumbs, ver.Thumbprint)
		if n == 1 {
			_, err = a.custody.Activate(a.ctx, actor, id, 1, "first")
			must(a.t, err)
		}
	}
	return thumbs
}

// close writes the pending checkpoints and closes the store.
func (a *acme) close() { must(a.t, a.pub.Close()) }
