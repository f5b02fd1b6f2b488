package audit

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rotationChain builds entries of one org chain, hashing each so that a
// request's hash can be named.
type rotationChain struct {
	t     *testing.T
	s     State
	seq   uint64
	prev  Hash
	clock time.Time
}

const rcThumb = "1111111111111111111111111111111111111111111111111111111111111111"

func (c *rotationChain) entry(actor string, a Action, id string, n int, d map[string]string) Entry {
	c.clock = c.clock.Add(time.Second)
	e := Entry{Chain: "acme", Seq: c.seq + 1, Time: c.clock, Actor: Actor{Kind: ActorUser, ID: actor}, Action: a,
		Subject: Subject{Org: "acme", Identity: id, Version: n}, Details: d, PrevHash: c.prev}
	e.Hash = e.ComputeHash()
	return e
}

// apply applies an entry that must be accepted.
func (c *rotationChain) apply(e Entry) Entry {
	c.t.Helper()
	if err := c.s.Apply(e); err != nil {
		c.t.Fatalf("entry %d %s: %v", e.Seq, e.Action, err)
	}
	c.seq, c.prev = e.Seq, e.Hash
	return e
}

// refuse checks that an entry is refused, wrapping want, and changes nothing.
func (c *rotationChain) refuse(what string, e Entry, want error) {
	c.t.Helper()
	before := c.s.Clone()
	err := c.s.Apply(e)
	if !errors.Is(err, want) {
		c.t.Fatalf("%s: %v, want %v", what, err, want)
	}
	if c.s.Policy() != before.Policy() || len(c.s.Requests()) != len(before.Requests()) {
		c.t.Fatalf("%s: a refused entry changed the state", what)
	}
}

func stepUp(user string) map[string]string {
	return map[string]string{DetailMFAMethod: "totp", DetailMFAEvidence: `{"user":"` + user + `"}`}
}

func with(a map[string]string, kv ...string) map[string]string {
	for i := 0; i+1 < len(kv); i += 2 {
		a[kv[i]] = kv[i+1]
	}
	return a
}

// TestFoldRotationApproval: the fold enforces the rotation policy on its
// own, whatever custody or the server check first: only an owner (by the
// chain's membership entries) sets the policy, approves or declines; under
// the policy an activation must name the pending request, be made by
// another owner and carry the request's step-up and certificate; a request
// is single-use and ended by a later change of its version.
func TestFoldRotationApproval(t *testing.T) {
	c := &rotationChain{t: t, clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c.apply(c.entry("op", ActionOrgCreate, "", 0, nil))
	for _, m := range [][2]string{{"olive", RoleOwner}, {"oscar", RoleOwner}, {"jane", RoleSealer}} {
		c.apply(c.entry("op", ActionMemberAdd, "", 0, map[string]string{DetailUser: m[0], DetailRole: m[1]}))
	}
	c.apply(c.entry("jane", ActionIdentityCreate, "id", 0, map[string]string{DetailOwner: "jane"}))
	ready := func(n int) {
		c.apply(c.entry("jane", ActionKeyGenerate, "id", n, map[string]string{DetailKeyRef: KeyRefLocal}))
		c.apply(c.entry("jane", ActionCertUpload, "id", n, map[string]string{DetailThumbprint: rcThumb}))
	}
	ready(1)
	policy := func(v string) map[string]string { return with(stepUp("x"), DetailRotationApproval, v) }

	c.refuse("a request without the policy", c.entry("jane", ActionActivationRequest, "id", 1, with(stepUp("jane"), DetailThumbprint, rcThumb)), ErrTransition)
	c.refuse("the policy set by a sealer", c.entry("jane", ActionOrgPolicy, "", 0, policy(RotationApprovalRequired)), ErrInvalidEntry)
	c.refuse("the policy without a step-up", c.entry("olive", ActionOrgPolicy, "", 0, map[string]string{DetailRotationApproval: RotationApprovalRequired}), ErrInvalidEntry)
	c.refuse("a policy value unknown", c.entry("olive", ActionOrgPolicy, "", 0, policy("sometimes")), ErrInvalidEntry)
	c.apply(c.entry("olive", ActionOrgPolicy, "", 0, policy(RotationApprovalRequired)))
	if p := c.s.Policy(); !p.ApprovalRequired || p.Seq != c.seq || p.SetBy.ID != "olive" {
		t.Fatalf("policy %+v", p)
	}

	c.refuse("an activation without a request", c.entry("jane", ActionVersionActivate, "id", 1, with(stepUp("jane"), DetailThumbprint, rcThumb)), ErrTransition)
	c.refuse("a request for another certificate", c.entry("jane", ActionActivationRequest, "id", 1, with(stepUp("jane"), DetailThumbprint, strings.Repeat("2", 64))), ErrInvalidEntry)
	c.refuse("a request by another than the identity's owner", c.entry("olive", ActionActivationRequest, "id", 1, with(stepUp("olive"), DetailThumbprint, rcThumb)), ErrInvalidEntry)
	req := c.apply(c.entry("jane", ActionActivationRequest, "id", 1, with(stepUp("jane"), DetailThumbprint, rcThumb)))
	approve := func(actor string, r Entry) Entry {
		return c.entry(actor, ActionVersionActivate, "id", r.Subject.Version, with(stepUp(actor), DetailThumbprint, rcThumb,
			DetailRequestSeq, strconv.FormatUint(r.Seq, 10), DetailRequestHash, r.Hash.String(),
			DetailRequester, "jane", DetailRequestEvidence, r.Details[DetailMFAEvidence]))
	}
	c.refuse("the requester approving", approve("jane", req), ErrInvalidEntry)
	c.refuse("a sealer approving", func() Entry { e := approve("jane", req); e.Actor.ID = "sam"; e.Hash = e.ComputeHash(); return e }(), ErrInvalidEntry)
	forged := approve("olive", req)
	forged.Details[DetailRequestEvidence] = `{"user":"someone"}`
	c.refuse("an approval without the request's step-up", forged, ErrInvalidEntry)
	wrong := approve("olive", req)
	wrong.Details[DetailRequestHash] = strings.Repeat("0", 64)
	c.refuse("an approval naming another request", wrong, ErrTransition)
	c.apply(approve("olive", req))
	if n, ok := c.s.Active("id"); !ok || n != 1 || len(c.s.Requests()) != 0 {
		t.Fatalf("after the approval: active %d %v, requests %v", n, ok, c.s.Requests())
	}
	c.refuse("a second approval", approve("oscar", req), ErrTransition)

	// The requester made an owner is still the requester.
	ready(2)
	rot := func(actor string, r Entry) Entry {
		return c.entry(actor, ActionVersionRotate, "id", 2, with(stepUp(actor), DetailOldVersion, "1", DetailNewThumbprint, rcThumb, DetailReason, "r",
			DetailRequestSeq, strconv.FormatUint(r.Seq, 10), DetailRequestHash, r.Hash.String(),
			DetailRequester, "jane", DetailRequestEvidence, r.Details[DetailMFAEvidence]))
	}
	req2 := c.apply(c.entry("jane", ActionActivationRequest, "id", 2, with(stepUp("jane"), DetailThumbprint, rcThumb, DetailReason, "r")))
	c.apply(c.entry("olive", ActionMemberRole, "", 0, map[string]string{DetailUser: "jane", DetailRole: RoleOwner, DetailOldRole: RoleSealer}))
	c.refuse("the requester, now an owner, approving", rot("jane", req2), ErrInvalidEntry)
	// A decline ends it; so does a revocation of a newer request's version.
	c.refuse("a decline by nobody's owner", c.entry("sam", ActionActivationDecline, "id", 2, with(stepUp("sam"), DetailRequestSeq, strconv.FormatUint(req2.Seq, 10), DetailRequestHash, req2.Hash.String())), ErrInvalidEntry)
	c.apply(c.entry("oscar", ActionActivationDecline, "id", 2, with(stepUp("oscar"), DetailRequestSeq, strconv.FormatUint(req2.Seq, 10), DetailRequestHash, req2.Hash.String())))
	c.refuse("approving a declined request", rot("olive", req2), ErrTransition)
	req3 := c.apply(c.entry("jane", ActionActivationRequest, "id", 2, with(stepUp("jane"), DetailThumbprint, rcThumb, DetailReason, "r")))
	c.apply(c.entry("jane", ActionVersionRevoke, "id", 2, map[string]string{DetailReason: "compromise"}))
	if _, ok := c.s.Request("id", 2); ok {
		t.Fatal("a revocation left the request pending")
	}
	c.refuse("approving a revoked version's request", rot("olive", req3), ErrTransition)

	// The policy off: activations need no request again.
	c.apply(c.entry("oscar", ActionOrgPolicy, "", 0, policy(RotationApprovalNone)))
	ready(3)
	c.apply(c.entry("jane", ActionVersionRotate, "id", 3, map[string]string{DetailOldVersion: "1", DetailNewThumbprint: rcThumb, DetailReason: "r"}))
}
