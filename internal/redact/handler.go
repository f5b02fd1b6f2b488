package redact

import (
	"context"
	"log/slog"
	"reflect"
	"strings"
	"unicode"
)

// NewHandler returns a [log/slog.Handler] that passes records to inner
// with secrets replaced by [Redacted]:
//
//   - the value of every attribute whose key [SecretKey] reports, whatever
//     its kind (a PIN logged as an int is still a PIN); a group under such
//     a key is replaced as a whole;
//   - every attribute under a group (from [slog.Group] or
//     [slog.Logger.WithGroup]) whose name [SecretKey] reports;
//   - every []byte or byte-array value, whatever its key: raw bytes in a
//     log line are far more often key material than anything useful.
//
// Values are resolved ([slog.LogValuer]) before they are checked. Other
// values (structs, maps, errors) and the message are passed through as
// they are: give secret fields the type [Secret], which redacts itself in
// every encoding handlers use, and never build a message from secrets.
func NewHandler(inner slog.Handler) slog.Handler {
	return &handler{inner: inner}
}

type handler struct {
	inner slog.Handler
	all   bool // inside a group whose name is a secret key
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(redactAttr(a, h.all))
		return true
	})
	return h.inner.Handle(ctx, nr)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = redactAttr(a, h.all)
	}
	return &handler{inner: h.inner.WithAttrs(out), all: h.all}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{inner: h.inner.WithGroup(name), all: h.all || SecretKey(name)}
}

func redactAttr(a slog.Attr, all bool) slog.Attr {
	if a.Equal(slog.Attr{}) {
		return a
	}
	v := a.Value.Resolve()
	all = all || SecretKey(a.Key)
	switch {
	case v.Kind() == slog.KindGroup && !(all && a.Key != ""):
		as := v.Group()
		out := make([]slog.Attr, len(as))
		for i, g := range as {
			out[i] = redactAttr(g, all)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case all || isBytes(v):
		return slog.String(a.Key, Redacted)
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// isBytes reports whether v holds a []byte, a byte array, or a pointer to
// either.
func isBytes(v slog.Value) bool {
	if v.Kind() != slog.KindAny || v.Any() == nil {
		return false
	}
	t := reflect.TypeOf(v.Any())
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t.Elem().Kind() == reflect.Uint8
}

// Words that name a secret when they are a word of an attribute key.
var secretWords = map[string]bool{
	"key": true, "pin": true, "dek": true, "kek": true, "pwd": true,
	"otp": true, "totp": true, "seed": true, "session": true, "cookie": true,
	"privkey": true, "apikey": true, "authorization": true,
}

// Fragments that name a secret anywhere in an attribute key.
var secretFragments = []string{
	"passphrase", "password", "passwd", "passcode",
	"secret", "private", "token", "credential",
}

// Final words that make a key name metadata about a secret, not the secret.
var metadataWords = map[string]bool{
	"id": true, "ids": true, "version": true, "versions": true, "type": true,
	"alg": true, "algorithm": true, "size": true, "bits": true, "len": true,
	"length": true, "count": true, "fingerprint": true, "thumbprint": true,
	"label": true, "name": true, "expiry": true, "expires": true,
}

// SecretKey reports whether an attribute key names a secret. The key is
// split into lower-case words at punctuation and camel-case boundaries
// ("privateKeyPEM" is private, key, pem). It names a secret when
//
//   - one of its words is key, pin, dek, kek, pwd, otp, totp, seed,
//     session, cookie, privkey, apikey or authorization, or
//   - it contains passphrase, password, passwd, passcode, secret, private,
//     token or credential anywhere ("clientSecret", "accesstoken"),
//
// unless its last word marks metadata about a secret: id, ids, version,
// versions, type, alg, algorithm, size, bits, len, length, count,
// fingerprint, thumbprint, label, name, expiry or expires ("key_id",
// "kekVersion", "token_label" are logged as they are).
func SecretKey(key string) bool {
	ws := words(key)
	if len(ws) == 0 || metadataWords[ws[len(ws)-1]] {
		return false
	}
	for _, w := range ws {
		if secretWords[w] {
			return true
		}
	}
	joined := strings.Join(ws, "")
	for _, f := range secretFragments {
		if strings.Contains(joined, f) {
			return true
		}
	}
	return false
}

// words splits s into lower-case words at non-alphanumeric runes, at a
// lower-case or digit followed by upper-case ("dekVersion"), and at the
// last upper-case rune of an acronym followed by lower-case ("KEKVersion").
func words(s string) []string {
	rs := []rune(s)
	var ws []string
	start := -1
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			if start >= 0 {
				ws = append(ws, strings.ToLower(string(rs[start:i])))
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
			continue
		}
		p := rs[i-1]
		camel := unicode.IsUpper(r) && (unicode.IsLower(p) || unicode.IsDigit(p))
		acronym := unicode.IsUpper(r) && unicode.IsUpper(p) && i+1 < len(rs) && unicode.IsLower(rs[i+1])
		if camel || acronym {
			ws = append(ws, strings.ToLower(string(rs[start:i])))
			start = i
		}
	}
	if start >= 0 {
		ws = append(ws, strings.ToLower(string(rs[start:])))
	}
	return ws
}
