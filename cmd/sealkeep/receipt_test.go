package main

import (
	"context"
	"crypto/sha256"
	"os"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"sealkeep/internal/audit"
	"sealkeep/internal/config"
	"sealkeep/internal/custody"
	"sealkeep/internal/intent"
	"sealkeep/internal/seal"
	"sealkeep/internal/store"
)

// scriptApproval stands in for the auth layer's approval (a TOTP step-up)
// in the scripts: sealkeep itself has no command that makes one.
type scriptApproval struct{ intent intent.Intent }

func (a scriptApproval) Intent() intent.Intent                   { return a.intent }
func (a scriptApproval) Method() string                          { return "totp" }
func (a scriptApproval) Evidence() map[string]string             { return map[string]string{"totp_step": "1"} }
func (a scriptApproval) Commit(store.Tx) error                   { return nil }
func (a scriptApproval) Failed(_ context.Context, e error) error { return e }

// cmdApprovedSeal: approvedseal USER IDENTITY IN OUT REQUEST seals IN into
// OUT through the seal pipeline with the active version of IDENTITY in the
// data directory $SEALKEEP_HOME, on USER's approval of exactly that seal,
// as the service will after a TOTP step-up.
func cmdApprovedSeal(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 5 {
		ts.Fatalf("usage: approvedseal USER IDENTITY IN OUT REQUEST")
	}
	ctx := context.Background()
	env, err := config.Open(ctx, ts.Getenv("SEALKEEP_HOME"))
	ts.Check(err)
	defer env.Store.Close()
	svc := custody.New(env.Store, env.KEK, custody.Options{})
	user, identity, in, out := args[0], args[1], ts.MkAbs(args[2]), ts.MkAbs(args[3])
	data, err := os.ReadFile(in)
	ts.Check(err)
	sum := sha256.Sum256(data)
	var res *seal.Result
	key, err := svc.ActiveKey(ctx, audit.Actor{Kind: audit.ActorUser, ID: user}, identity)
	if err == nil {
		var it intent.Intent
		it, err = seal.IntentFor(key, user, sum, seal.Options{}, time.Now(), time.Minute)
		var job *seal.Job
		if err == nil {
			job, err = seal.Open(in, out, seal.Output{})
		}
		if err == nil {
			a := scriptApproval{it}
			res, err = job.SealCustody(ctx, svc, seal.CustodyRequest{Identity: identity, Approval: a, RequestID: args[4]})
			job.Close()
		}
	}
	switch {
	case err != nil && !neg:
		ts.Fatalf("approvedseal: %v", err)
	case err == nil && neg:
		ts.Fatalf("approvedseal succeeded")
	case err != nil:
		ts.Logf("approvedseal: %v", err)
		return
	}
	ts.Logf("sealed: entry %s #%d", res.Receipt.Chain, res.Receipt.Seq)
}
