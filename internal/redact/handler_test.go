package redact_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"testing/slogtest"

	"sealkeep/internal/redact"
)

func TestSecretKey(t *testing.T) {
	for key, want := range map[string]bool{
		"passphrase": true, "password": true, "db_password": true, "Passwd": true,
		"pin": true, "user_pin": true, "pinCode": true, "secret": true,
		"clientSecret": true, "key": true, "private_key": true, "privateKeyPEM": true,
		"PrivateKey": true, "token": true, "accessToken": true, "dek": true,
		"kek": true, "KEK": true, "wrapped-dek": true, "apiKey": true, "api_key": true,
		"credentials": true, "Authorization": true, "totp": true, "session": true,
		"x-api-key": true, "seed": true,

		"key_id": false, "keyID": false, "kek_version": false, "KEKVersion": false,
		"dekVersion": false, "token_label": false, "key_algorithm": false,
		"org": false, "identity": false, "version": false, "monkey": false,
		"keyring_path": false, "spinner": false, "": false, "msg": false,
		"thumbprint": false, "key.fingerprint": false, "request_id": false,
	} {
		if got := redact.SecretKey(key); got != want {
			t.Errorf("SecretKey(%q) = %v, want %v", key, got, want)
		}
	}
}

type lazy struct{ v any }

func (l lazy) LogValue() slog.Value { return slog.AnyValue(l.v) }

func TestHandler(t *testing.T) {
	pass := "correct horse battery staple"
	keyBytes := testSecret("handler key")
	var arr [32]byte
	copy(arr[:], testSecret("handler array"))
	tok := "tok-" + string(testSecret("token")[:8])

	var buf bytes.Buffer
	l := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil)))
	l.With("token", tok, "org", "acme").Info("seal",
		"passphrase", pass,
		slog.Int("pin", 123456),
		"kek_version", 2,
		"blob", keyBytes,
		"array", arr,
		"array_ptr", &arr,
		"lazy_bytes", lazy{keyBytes},
		"private_key", lazy{"pem text " + pass},
		slog.Group("kms", slog.String("secret_access_key", pass), slog.String("region", "eu-west-1"),
			slog.Group("deeper", slog.Any("raw", keyBytes), slog.String("note", "ok"))),
		slog.Group("credentials", slog.String("user", "u"), slog.String("anything", pass)),
	)
	l.WithGroup("secrets").Info("grouped", "anything", pass, slog.Group("g", "x", pass))
	l.WithGroup("outer").With("dek", keyBytes[:16]).Info("outer", "fine", "yes")

	out := buf.Bytes()
	for _, s := range [][]byte{[]byte(pass), keyBytes, keyBytes[:16], arr[:], []byte(tok)} {
		assertNoLeak(t, "handler output", out, s)
	}

	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	if len(lines) != 3 {
		t.Fatalf("got %d log lines, want 3:\n%s", len(lines), out)
	}
	var rec []map[string]any
	for _, ln := range lines {
		var m map[string]any
		if err := json.Unmarshal(ln, &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, ln)
		}
		rec = append(rec, m)
	}
	r := redact.Redacted
	first := rec[0]
	for _, k := range []string{"token", "passphrase", "pin", "blob", "array", "array_ptr", "lazy_bytes", "private_key", "credentials"} {
		if first[k] != r {
			t.Errorf("%s = %v, want %s", k, first[k], r)
		}
	}
	if first["org"] != "acme" || first["kek_version"] != float64(2) || first["msg"] != "seal" {
		t.Errorf("non-secret attributes changed: org=%v kek_version=%v msg=%v", first["org"], first["kek_version"], first["msg"])
	}
	kms := first["kms"].(map[string]any)
	deeper := kms["deeper"].(map[string]any)
	if kms["secret_access_key"] != r || kms["region"] != "eu-west-1" || deeper["raw"] != r || deeper["note"] != "ok" {
		t.Errorf("group kms = %v", kms)
	}
	secrets := rec[1]["secrets"].(map[string]any)
	if secrets["anything"] != r || secrets["g"] != r {
		t.Errorf("WithGroup(secrets) = %v", secrets)
	}
	outer := rec[2]["outer"].(map[string]any)
	if outer["dek"] != r || outer["fine"] != "yes" {
		t.Errorf("WithGroup(outer).With(dek) = %v", outer)
	}
}

func TestHandlerEnabled(t *testing.T) {
	inner := slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn})
	h := redact.NewHandler(inner)
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelError) {
		t.Errorf("Enabled does not follow the inner handler's level")
	}
}

// TestHandlerConformance runs the standard library's handler test suite
// (testing/slogtest) over the redacting handler: redaction must not break
// slog's rules for groups, empty attributes and LogValuers.
func TestHandlerConformance(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t, func(*testing.T) slog.Handler {
		buf.Reset()
		return redact.NewHandler(slog.NewJSONHandler(&buf, nil))
	}, func(t *testing.T) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		return m
	})
}
