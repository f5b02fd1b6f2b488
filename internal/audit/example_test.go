package audit_test

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"sealkeep/internal/audit"
)

// appendTo links e to chain as the store's AppendAudit does.
func appendTo(chain []audit.Entry, e audit.Entry) []audit.Entry {
	if n := len(chain); n > 0 {
		e.Seq, e.PrevHash = chain[n-1].Seq+1, chain[n-1].Hash
	} else {
		e.Seq = 1
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.Hash = e.ComputeHash()
	return append(chain, e)
}

func exampleChain() []audit.Entry {
	var chain []audit.Entry
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for i, a := range []audit.Action{audit.ActionCertImport, audit.ActionVersionActivate, audit.ActionSeal, audit.ActionSeal} {
		var details map[string]string
		if a == audit.ActionSeal { // a seal entry records what was sealed and how it was approved
			h := strings.Repeat(strconv.Itoa(i), 64)
			details = map[string]string{
				audit.DetailDocumentSHA256: h, audit.DetailSealedSHA256: h, audit.DetailSignatureSHA256: h,
				audit.DetailThumbprint: h, audit.DetailIntentSHA256: h,
				audit.DetailField: "Signature1", audit.DetailPAdESLevel: audit.LevelBB, audit.DetailMFAMethod: "totp",
			}
		}
		chain = appendTo(chain, audit.Entry{
			Chain: "org-1", Time: at.Add(time.Duration(i) * time.Minute),
			Actor: audit.Actor{Kind: "user", ID: "jane"}, Action: a,
			Subject: audit.Subject{Org: "org-1", Identity: "jane-pe-tx", Version: 1},
			Details: details,
		})
	}
	return chain
}

func ExampleVerify() {
	chain := exampleChain()
	fmt.Println(audit.Verify(audit.Slice(chain)).OK())

	chain[2].Actor.ID = "mallory" // edited in the database
	r := audit.Verify(audit.Slice(chain))
	fmt.Println(r.Break.Problem, r.Break.Seq, r.Head.Seq)
	// Output:
	// true
	// edited 3 2
}

func ExampleVerifyAgainstCheckpoint() {
	chain := exampleChain()
	key, _ := audit.GenerateCheckpointKey()
	cp, _ := key.SignCheckpoint(chain[len(chain)-1], time.Now())
	text, _ := audit.MarshalCheckpoint(cp) // kept outside the database

	stored, _ := audit.ParseCheckpoint(text)
	r := audit.VerifyAgainstCheckpoint(audit.Slice(chain[:2]), stored, key.Public())
	fmt.Println(r.Break.Problem, r.Break.Seq)
	// Output: truncated 3
}

func ExampleNext() {
	to, _ := audit.Next(audit.StatusReady, audit.ActionVersionActivate)
	fmt.Println(to)
	_, err := audit.Next(audit.StatusActive, audit.ActionVersionDestroy)
	fmt.Println(err)
	// Output:
	// active
	// audit: version.destroy not allowed from active: revoke it or rotate to another version first
}

func ExampleStatusAt() {
	chain := exampleChain()
	signedAt := time.Date(2026, 11, 26, 9, 0, 30, 0, time.UTC) // before activation
	st, _ := audit.StatusAt(audit.Slice(chain), "jane-pe-tx", 1, signedAt)
	fmt.Println(st.Status)
	// Output: ready
}
