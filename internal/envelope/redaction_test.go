package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
)

// formatAll renders each value in every way a value reaches output: fmt
// verbs, inside structs, slices, maps and errors, JSON, text and slog.
func formatAll(t *testing.T, values ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%t", "%p", "%T"}
	for _, v := range values {
		for _, verb := range verbs {
			fmt.Fprintf(&buf, verb+"\n", v)
			fmt.Fprintf(&buf, verb+"\n", []any{v})
			fmt.Fprintf(&buf, verb+"\n", map[string]any{"v": v})
			fmt.Fprintf(&buf, verb+"\n", struct{ V, w any }{v, v})
			fmt.Fprintf(&buf, "%v\n", fmt.Errorf("wrap: %w", fmt.Errorf(verb, v)))
		}
		j, err := json.Marshal(map[string]any{"v": v})
		if err != nil {
			t.Fatalf("JSON of %T: %v", v, err)
		}
		buf.Write(j)
		l := slog.New(slog.NewJSONHandler(&buf, nil))
		l.Info("value", "v", v, slog.Group("g", "v", v))
		slog.New(slog.NewTextHandler(&buf, nil)).Info("value", "v", v)
	}
	return buf.Bytes()
}
