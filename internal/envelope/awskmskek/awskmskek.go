// Package awskmskek is an [envelope.KEK] held in AWS KMS: each KEK version is
// a symmetric KMS key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT), and org DEKs are
// wrapped and unwrapped with KMS Encrypt and Decrypt calls. The KEK itself
// never leaves KMS.
//
// # Configuration
//
// The versions come from configuration ([Config]): the active version, the
// awskms key URI of each usable version (awskms:KEY-ARN?region=...), and the
// retired versions. [KEK.AddVersion] creates a new KMS key next to the
// active one and [KEK.Retire] schedules a version's key for deletion; both
// hand the new configuration to the caller's save hook before they take
// effect, so that configuration stays the source of truth.
//
// # Binding
//
// Every Encrypt and Decrypt carries the encryption context
//
//	sealkeep:org          the org
//	sealkeep:dek-version  the DEK version (decimal)
//	sealkeep:kek-version  the KEK version (decimal)
//
// which KMS authenticates (and writes to CloudTrail), so a wrapped DEK
// copied to another org or version fails to unwrap with
// [envelope.ErrAuthentication]. Decrypt names the version's key explicitly:
// KMS is never allowed to pick the key from the ciphertext.
//
// # Wrapped format
//
//	0x01 | KMS ciphertext blob (at most 6144 bytes)
//
// # Caching
//
// Each Unwrap is one KMS call. Callers keep unwrapped DEKs in an
// [envelope.DEKCache] (bounded lifetime, zeroed on eviction) so that sealing
// does not call KMS every time: look the DEK up in the cache, and only on a
// miss call [envelope.UnwrapDEK] with this KEK and Put the result.
//
// # Errors
//
// Refusals by the customer's KMS (access denied, key disabled or pending
// deletion) wrap [signer.ErrAccessDenied]; throttling and transient failures
// are retried within the caller's deadline and then reported as a
// [retry.UnavailableError] (503 with Retry-After).
package awskmskek

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"sealkeep/internal/envelope"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/awskms"
)

const (
	formatV1 = 0x01
	// maxBlob is KMS's limit on a ciphertext blob.
	maxBlob = 6144
	dekSize = 32
)

// Config is the KEK's configuration.
type Config struct {
	// Active is the version that wraps.
	Active uint32
	// Keys maps every usable version to the awskms URI of its symmetric KMS key.
	Keys map[uint32]string
	// Retired lists the versions whose KMS key is scheduled for deletion.
	Retired []uint32
}

func (c Config) clone() Config {
	return Config{Active: c.Active, Keys: maps.Clone(c.Keys), Retired: slices.Clone(c.Retired)}
}

// Option adjusts a KEK.
type Option func(*KEK)

// WithSave sets the hook that persists a changed configuration; without it
// the KEK cannot rotate ([envelope.ErrReadOnly]).
func WithSave(save func(context.Context, Config) error) Option {
	return func(k *KEK) { k.save = save }
}

// WithDeletionWindow sets the days KMS waits before deleting a retired
// version's key (7 to 30; default 30).
func WithDeletionWindow(days int32) Option { return func(k *KEK) { k.window = days } }

// WithClientOptions passes options to the KMS clients (tests use them).
func WithClientOptions(opts ...awskms.Option) Option {
	return func(k *KEK) { k.clientOpts = opts }
}

type version struct {
	c     *awskms.Client
	keyID string
	ref   string
}

// KEK is an [envelope.KEK] and [envelope.KEKRotator] whose versions are AWS
// KMS keys. It is safe for concurrent use.
type KEK struct {
	save       func(context.Context, Config) error
	window     int32
	clientOpts []awskms.Option

	mu   sync.RWMutex
	cfg  Config
	vers map[uint32]version
}

var (
	_ envelope.KEK        = (*KEK)(nil)
	_ envelope.KEKRotator = (*KEK)(nil)
)

// New builds the KEK from cfg and checks, with one DescribeKey call per
// version, that every key is an enabled symmetric ENCRYPT_DECRYPT key.
func New(ctx context.Context, cfg Config, opts ...Option) (*KEK, error) {
	k := &KEK{window: 30}
	for _, o := range opts {
		o(k)
	}
	if k.window < 7 || k.window > 30 {
		return nil, fmt.Errorf("%w: KMS deletion window must be 7 to 30 days", envelope.ErrInvalidInput)
	}
	if err := k.load(ctx, cfg.clone()); err != nil {
		return nil, err
	}
	return k, nil
}

// load checks cfg and opens its keys; the caller holds k.mu or owns k.
func (k *KEK) load(ctx context.Context, cfg Config) error {
	if _, ok := cfg.Keys[cfg.Active]; !ok || cfg.Active == 0 {
		return fmt.Errorf("%w: active KEK version %d has no KMS key", envelope.ErrInvalidInput, cfg.Active)
	}
	if len(cfg.Keys)+len(cfg.Retired) > envelope.MaxKEKVersions {
		return fmt.Errorf("%w: more than %d KEK versions", envelope.ErrInvalidInput, envelope.MaxKEKVersions)
	}
	vers := make(map[uint32]version, len(cfg.Keys))
	for v, raw := range cfg.Keys {
		if v == 0 || slices.Contains(cfg.Retired, v) {
			return fmt.Errorf("%w: KEK version %d is zero or both usable and retired", envelope.ErrInvalidInput, v)
		}
		ver, err := k.open(ctx, v, raw)
		if err != nil {
			return err
		}
		vers[v] = ver
	}
	k.cfg, k.vers = cfg, vers
	return nil
}

func (k *KEK) open(ctx context.Context, v uint32, raw string) (version, error) {
	u, err := signer.ParseURI(raw)
	if err != nil || u.Scheme != awskms.Scheme || u.Opaque == "" {
		return version{}, fmt.Errorf("%w: KEK version %d: want an awskms:KEY?region=... URI", envelope.ErrInvalidInput, v)
	}
	c, err := awskms.NewClient(ctx, u, k.clientOpts...)
	if err != nil {
		return version{}, fmt.Errorf("KEK version %d: %w", v, err)
	}
	ver := version{c: c, keyID: u.Opaque, ref: c.Ref(u.Opaque)}
	var out *kms.DescribeKeyOutput
	err = c.Policy.Do(ctx, awskms.Classify, func(ctx context.Context) error {
		out, err = c.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(ver.keyID)})
		return err
	})
	if err != nil {
		return version{}, fmt.Errorf("KEK version %d: %w", v, awskms.MapError("DescribeKey", ver.ref, err))
	}
	md := out.KeyMetadata
	if md.KeySpec != types.KeySpecSymmetricDefault || md.KeyUsage != types.KeyUsageTypeEncryptDecrypt {
		return version{}, fmt.Errorf("%w: KEK version %d: KMS key %s is %s/%s, want a SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key", signer.ErrUnsupported, v, ver.ref, md.KeySpec, md.KeyUsage)
	}
	if !md.Enabled {
		return version{}, fmt.Errorf("%w: the customer's AWS KMS refused: KEK version %d key %s is %s", signer.ErrAccessDenied, v, ver.ref, md.KeyState)
	}
	return ver, nil
}

// Config returns the current configuration.
func (k *KEK) Config() Config {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.cfg.clone()
}

// ActiveVersion returns the version that wraps.
func (k *KEK) ActiveVersion() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.cfg.Active
}

// Versions returns the usable versions in increasing order.
func (k *KEK) Versions() []uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return slices.Sorted(maps.Keys(k.cfg.Keys))
}

// version returns version v, or why it cannot be used.
func (k *KEK) version(v uint32) (version, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if ver, ok := k.vers[v]; ok {
		return ver, nil
	}
	if slices.Contains(k.cfg.Retired, v) {
		return version{}, fmt.Errorf("%w: version %d", envelope.ErrRetired, v)
	}
	return version{}, fmt.Errorf("%w: version %d", envelope.ErrUnknownKEKVersion, v)
}

func encryptionContext(v uint32, b envelope.DEKBinding) map[string]string {
	return map[string]string{
		"sealkeep:org":         b.Org,
		"sealkeep:dek-version": strconv.FormatUint(uint64(b.DEKVersion), 10),
		"sealkeep:kek-version": strconv.FormatUint(uint64(v), 10),
	}
}

func checkBinding(b envelope.DEKBinding) error {
	if b.Org == "" || len(b.Org) > 255 || b.DEKVersion == 0 {
		return fmt.Errorf("%w: org must be 1 to 255 bytes and the DEK version non-zero", envelope.ErrInvalidInput)
	}
	return nil
}

// Wrap encrypts dek with the KMS key of version v, which must be active.
func (k *KEK) Wrap(ctx context.Context, v uint32, b envelope.DEKBinding, dek []byte) ([]byte, error) {
	if err := checkBinding(b); err != nil {
		return nil, err
	}
	if len(dek) != dekSize {
		return nil, fmt.Errorf("%w: DEK of %d bytes, want %d", envelope.ErrInvalidInput, len(dek), dekSize)
	}
	ver, err := k.version(v)
	if err != nil {
		return nil, err
	}
	if active := k.ActiveVersion(); v != active {
		return nil, fmt.Errorf("%w: version %d (active: %d)", envelope.ErrNotActive, v, active)
	}
	var blob []byte
	err = ver.c.Policy.Do(ctx, awskms.Classify, func(ctx context.Context) error {
		out, err := ver.c.KMS.Encrypt(ctx, &kms.EncryptInput{
			KeyId: aws.String(ver.keyID), Plaintext: dek, EncryptionContext: encryptionContext(v, b),
		})
		if err == nil {
			blob = out.CiphertextBlob
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("KEK version %d: %w", v, awskms.MapError("Encrypt", ver.ref, err))
	}
	if len(blob) == 0 || len(blob) > maxBlob {
		return nil, fmt.Errorf("%w: KMS returned a ciphertext of %d bytes", envelope.ErrMalformed, len(blob))
	}
	return append([]byte{formatV1}, blob...), nil
}

// Unwrap decrypts a wrapped DEK with the KMS key of version v only.
func (k *KEK) Unwrap(ctx context.Context, v uint32, b envelope.DEKBinding, wrapped []byte) ([]byte, error) {
	if err := checkBinding(b); err != nil {
		return nil, err
	}
	if len(wrapped) < 2 || len(wrapped) > 1+maxBlob || wrapped[0] != formatV1 {
		return nil, fmt.Errorf("%w: wrapped DEK is not a format-1 KMS ciphertext of 1 to %d bytes", envelope.ErrMalformed, maxBlob)
	}
	ver, err := k.version(v)
	if err != nil {
		return nil, err
	}
	var dek []byte
	err = ver.c.Policy.Do(ctx, awskms.Classify, func(ctx context.Context) error {
		out, err := ver.c.KMS.Decrypt(ctx, &kms.DecryptInput{
			KeyId: aws.String(ver.keyID), CiphertextBlob: wrapped[1:], EncryptionContext: encryptionContext(v, b),
		})
		if err == nil {
			dek = out.Plaintext
		}
		return err
	})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "InvalidCiphertextException" || ae.ErrorCode() == "IncorrectKeyException") {
			// Wrong org, DEK or KEK version, another key, or a flipped bit:
			// deliberately not told apart.
			return nil, fmt.Errorf("%w: KEK version %d (AWS KMS %s)", envelope.ErrAuthentication, v, ae.ErrorCode())
		}
		return nil, fmt.Errorf("KEK version %d: %w", v, awskms.MapError("Decrypt", ver.ref, err))
	}
	if len(dek) != dekSize {
		clear(dek)
		return nil, fmt.Errorf("%w: KMS returned a DEK of %d bytes", envelope.ErrMalformed, len(dek))
	}
	return dek, nil
}

// AddVersion creates a new symmetric KMS key in the active version's account
// and region, saves the configuration with it as the new active version,
// and then switches to it.
func (k *KEK) AddVersion(ctx context.Context) (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.save == nil {
		return 0, fmt.Errorf("%w: the AWS KMS KEK has no configuration save hook", envelope.ErrReadOnly)
	}
	next := uint32(0)
	for v := range k.cfg.Keys {
		next = max(next, v)
	}
	for _, v := range k.cfg.Retired {
		next = max(next, v)
	}
	if next == ^uint32(0) || len(k.cfg.Keys)+len(k.cfg.Retired) >= envelope.MaxKEKVersions {
		return 0, fmt.Errorf("%w: no KEK version left", envelope.ErrInvalidInput)
	}
	next++
	active := k.vers[k.cfg.Active]
	// CreateKey is not idempotent: one call, no retry.
	out, err := active.c.KMS.CreateKey(ctx, &kms.CreateKeyInput{
		KeySpec: types.KeySpecSymmetricDefault, KeyUsage: types.KeyUsageTypeEncryptDecrypt,
		Description: aws.String(fmt.Sprintf("sealkeep KEK version %d", next)),
	})
	if err != nil {
		return 0, awskms.MapError("CreateKey", active.c.Ref(""), err)
	}
	arn := aws.ToString(out.KeyMetadata.Arn)
	cfg := k.cfg.clone()
	cfg.Keys[next] = active.c.Ref(arn)
	cfg.Active = next
	if err := k.save(ctx, cfg); err != nil {
		// The new key is not in the configuration: do not leave it behind.
		_, _ = active.c.KMS.ScheduleKeyDeletion(context.WithoutCancel(ctx), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(7)})
		return 0, fmt.Errorf("saving the KEK configuration: %w", err)
	}
	k.cfg = cfg
	k.vers[next] = version{c: active.c, keyID: arn, ref: cfg.Keys[next]}
	return next, nil
}

// Retire removes version v (not the active one) from the configuration,
// saves it, and schedules v's KMS key for deletion: once KMS deletes it,
// DEKs wrapped under v, in backups too, can no longer be unwrapped.
func (k *KEK) Retire(ctx context.Context, v uint32) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.save == nil {
		return fmt.Errorf("%w: the AWS KMS KEK has no configuration save hook", envelope.ErrReadOnly)
	}
	if v == k.cfg.Active {
		return fmt.Errorf("%w: version %d", envelope.ErrRetireActive, v)
	}
	ver, ok := k.vers[v]
	if !ok {
		if slices.Contains(k.cfg.Retired, v) {
			return fmt.Errorf("%w: version %d", envelope.ErrRetired, v)
		}
		return fmt.Errorf("%w: version %d", envelope.ErrUnknownKEKVersion, v)
	}
	cfg := k.cfg.clone()
	delete(cfg.Keys, v)
	cfg.Retired = append(cfg.Retired, v)
	slices.Sort(cfg.Retired)
	if err := k.save(ctx, cfg); err != nil {
		return fmt.Errorf("saving the KEK configuration: %w", err)
	}
	k.cfg = cfg
	delete(k.vers, v)
	err := ver.c.Policy.Do(ctx, awskms.Classify, func(ctx context.Context) error {
		_, err := ver.c.KMS.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(ver.keyID), PendingWindowInDays: aws.Int32(k.window)})
		return err
	})
	if err != nil {
		return fmt.Errorf("KEK version %d is retired, but its KMS key %s could not be scheduled for deletion; schedule it by hand: %w", v, ver.ref, awskms.MapError("ScheduleKeyDeletion", ver.ref, err))
	}
	return nil
}
