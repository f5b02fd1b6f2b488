package redact_test

import (
	"fmt"
	"log/slog"
	"os"

	"sealkeep/internal/redact"
)

func ExampleSecret() {
	pin := redact.NewSecret([]byte("123456"))
	defer pin.Zero()
	fmt.Printf("%v %q %x %#v\n", pin, pin, pin, struct{ PIN *redact.Secret }{pin})
	fmt.Println(pin.Len(), string(pin.Bytes()))
	// Output:
	// [REDACTED] [REDACTED] [REDACTED] struct { PIN *redact.Secret }{PIN:[REDACTED]}
	// 6 123456
}

func ExampleNewHandler() {
	noTime := func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{}
		}
		return a
	}
	log := slog.New(redact.NewHandler(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: noTime})))
	log.Info("unlock", "org", "acme", "passphrase", "hunter2", "kek_version", 2, "blob", []byte{1, 2, 3},
		slog.Group("kms", "region", "eu-west-1", "secret_access_key", "AKIA..."))
	// Output:
	// {"level":"INFO","msg":"unlock","org":"acme","passphrase":"[REDACTED]","kek_version":2,"blob":"[REDACTED]","kms":{"region":"eu-west-1","secret_access_key":"[REDACTED]"}}
}

func ExampleScanForSecret() {
	key := []byte("0123456789abcdef0123456789abcdef")
	logLine := fmt.Sprintf("level=DEBUG msg=%x", key)
	form, found := redact.ScanForSecret([]byte(logLine), key)
	fmt.Println(form, found)
	// Output: hex true
}
