// Package auth is sealkeep's accounts, roles and MFA layer, on top of
// package store and with no HTTP in it: the server translates requests to
// these calls and their errors to responses, and nothing else.
//
// # Accounts and roles
//
// [Service.Setup] creates the platform operator on first run. The
// operator creates organizations and each one's first owner and nothing
// else ([RoleOperator] in the [Allowed] table); it is never a member of an
// org. Owners add, re-role and remove members ([Service.SetMember],
// [Service.RemoveMember]); an org always keeps one owner. [Allowed] is the
// one table of who may do what: owner (members, rotation approval),
// sealer (own identities, sealing with them only), preparer (staging,
// never sealing), auditor (reading and verifying the trail).
// [Service.Authorize] reads the caller's role from the store for one
// decision.
//
// Accounts made through the service ([Service.AddMember]: the operator
// making an org's first owner, an owner adding a member) get a password
// nobody knows and a one-time invitation token (256 bits, stored as
// SHA-256, 7 days by default) that the creator hands to the person, who
// redeems it for the first password ([Service.Activate]). So no creator
// ever knows a member's password; a token redeemed by someone else leaves
// the person unable to activate, which they notice. A never-activated
// account stays in its one org, and only there can its invitation be
// renewed ([Service.Reinvite]); the operator may renew its first owner's
// only while no owner of the org is active.
//
// Every account change is an audit entry committed in the same
// transaction as the change: users, passwords, MFA and API tokens in the
// system chain, memberships in the org's chain (after checking that the
// chain exists, so that no entry restarts a deleted chain). Refused TOTP
// replays and lockouts are recorded as security events. The stored users
// and memberships are a cache of the trail: [Service.CheckAccounts] proves
// they equal its fold and names a row written outside sealkeep.
//
// # Passwords
//
// Passwords are hashed with argon2id (golang.org/x/crypto/argon2) and
// stored as PHC strings. [DefaultPasswordParams] is RFC 9106's second
// recommended option (t=3, m=64 MiB, p=4, 128-bit salt, 256-bit tag): the
// first (t=1, 2 GiB per hash) does not fit a server that verifies logins
// concurrently on a small machine; [Options.MaxConcurrentHashes] bounds
// how many run at once. Tags are compared in constant time; a hash with
// other parameters is replaced at the next successful login; a login for
// an unknown account does the same work against a dummy hash.
//
// # TOTP and recovery codes
//
// TOTP follows RFC 6238 through github.com/pquerna/otp: SHA-1, 6 digits,
// 30 s, 160-bit secrets, enrolled with an otpauth URI and a QR code
// ([Service.BeginTOTP]) and confirmed with a first code
// ([Service.ConfirmTOTP]), which also issues [RecoveryCodes] single-use
// recovery codes, stored as SHA-256 only. A code is accepted within one
// step of the current one, and its step must be later than every step
// accepted before for the user; the (user, step) row is unique in the
// store, so a code is never accepted twice, by this or another server
// instance. A refused replay is audited.
//
// TOTP secrets are sealed at rest under the system data key (see
// syskey.go): a DEK of the reserved org store.SystemDEKOrg, wrapped by the
// KEK and listed with the org DEKs, so that KEK rotation re-wraps it.
//
// # Step-up
//
// [Service.ApproveIntent] accepts a fresh TOTP code as the approval of
// exactly one [intent.Intent] of the user: the step is recorded with the
// intent's SHA-256, and the returned [Approval] is the evidence the seal's
// audit entry carries. The intent must name an identity the user owns in
// the intent's org, a role there that may seal, and the version's
// certificate thumbprint, so the step-up itself refuses sealing with
// another user's identity. A seal pipeline that wants one write per seal
// calls [Service.CheckIntentCode] before signing and
// [Service.CommitApproval] in the transaction that appends the seal's
// entry: of two requests with one code, one commits, the other rolls back
// (and [Service.ApprovalFailed] audits it); nothing signed under the loser
// may be released.
//
// Operations other than seals that need the user's step-up (activating a
// certificate version) name an [Action]: a name and the fields that bind
// it (org, identity, version, certificate thumbprint).
// [Service.CheckStepUp] checks a fresh code for it without accepting it,
// [Service.CommitStepUp] accepts the step in the transaction that records
// the operation, with the action's digest as the used step's purpose, and
// [StepUp.Details] is the evidence its audit entry carries;
// [Service.ApproveAction] does both in a transaction of its own. The same
// single-use rule holds across seals and actions: a code accepted for
// either is a replay for any other.
//
// # Sessions and API tokens
//
// Browser sessions ([Service.Login]) and API tokens
// ([Service.LoginAPIToken]) are 256-bit random tokens of which the store
// keeps only SHA-256; [Service.Authenticate] finds either by its hash,
// compares it in constant time and checks expiry, revocation and the
// account. A session carries a CSRF secret ([CSRFToken], [CheckCSRF]).
//
// # Lockout
//
// Failed passwords and codes are counted in the store per account and per
// client address ([Limits]), in one atomic statement per counter, so that
// all instances share them; a counter over its limit refuses further
// attempts with a [*LockedError] until its lock ends. Lockouts are
// audited once.
//
// # Secrets
//
// Passwords, codes, TOTP secrets, otpauth URIs, QR codes and tokens pass
// through this package as [redact.Secret] values; no error, log line or
// audit entry holds one.
package auth
