package auth

import (
	"sealkeep/internal/intent"
	"sealkeep/internal/store"
)

// CheckIntent refuses, in tx, a seal intent its user may not approve,
// with the rules of the TOTP step-up ([Service.CheckIntentCode]): the
// identity must be in the intent's org and the user's own, the user's
// role there must allow sealing ([OpSeal]), and the version's certificate
// must have the intent's thumbprint. Another step-up (package passkey)
// calls it when it approves an intent and again in the seal entry's
// transaction.
func CheckIntent(tx store.ReadTx, in intent.Intent) error { return checkIntent(tx, in) }
