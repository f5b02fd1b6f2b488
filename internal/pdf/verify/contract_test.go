package verify

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestJSONContract checks docs/verify-json.md against the JSON of a real
// report: every field the tables document is present at its level, and
// every field the JSON has is documented.
func TestJSONContract(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/verify-json.md")
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string][]string{}
	section := ""
	row := regexp.MustCompile("^\\| ((?:`[a-z_0-9]+`(?:, )?)+) \\|")
	name := regexp.MustCompile("`([a-z_0-9]+)`")
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "## ") {
			section = strings.TrimPrefix(line, "## ")
			continue
		}
		if m := row.FindStringSubmatch(line); m != nil {
			for _, n := range name.FindAllStringSubmatch(m[1], -1) {
				tables[section] = append(tables[section], n[1])
			}
		}
	}
	b := sealedBase(t)
	// A later update, so that "updates" has an element.
	b = appendRevision(t, b, map[int]string{nextNum(t, b): "<< /Unused true >>"}, nil)
	rep := mustVerify(t, b, Options{Custody: &fakeCustody{status: CustodyStatus{Status: "active"}, found: true}})
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	var sigs []map[string]json.RawMessage
	if err := json.Unmarshal(top["signatures"], &sigs); err != nil {
		t.Fatal(err)
	}
	var updates []map[string]json.RawMessage
	if err := json.Unmarshal(sigs[0]["updates"], &updates); err != nil || len(updates) == 0 {
		t.Fatalf("updates: %v %s", err, sigs[0]["updates"])
	}
	for section, obj := range map[string]map[string]json.RawMessage{"Top level": top, "Per signature": sigs[0], "Updates": updates[0]} {
		if len(tables[section]) < 3 {
			t.Fatalf("section %q: %d documented fields parsed", section, len(tables[section]))
		}
		documented := map[string]bool{}
		for _, k := range tables[section] {
			documented[k] = true
			if _, ok := obj[k]; !ok {
				t.Errorf("%s: documented field %q missing from the JSON", section, k)
			}
		}
		var extra []string
		for k := range obj {
			if !documented[k] {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
		if len(extra) > 0 {
			t.Errorf("%s: fields not documented in docs/verify-json.md: %v", section, extra)
		}
	}
}
