package server

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
)

// openAPIFiles are the parts of the OpenAPI document: base.json (info,
// the public routes, the shared components) and one file per route group
// (accounts.json, custody.json, ...), each a partial document holding
// only "paths" and "components". [buildOpenAPI] merges them into the one
// document served at /api/v1/openapi.json.
//
//go:embed openapi/*.json
var openAPIFiles embed.FS

// openAPIDoc is the merged document.
var openAPIDoc = mustBuildOpenAPI()

// OpenAPI returns the OpenAPI 3.1 document of the API.
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

func mustBuildOpenAPI() []byte {
	b, err := buildOpenAPI(openAPIFiles)
	if err != nil {
		panic(err)
	}
	return b
}

// buildOpenAPI merges openapi/base.json and every other openapi/*.json of
// fsys: a group may add paths and components, never replace one (two
// files defining the same path or component is an error) nor set any
// other top-level member.
func buildOpenAPI(fsys fs.FS) ([]byte, error) {
	names, err := fs.Glob(fsys, "openapi/*.json")
	if err != nil {
		return nil, err
	}
	names = slices.DeleteFunc(names, func(n string) bool { return path.Base(n) == "base.json" })
	slices.Sort(names)
	var doc map[string]any
	if err := readJSON(fsys, "openapi/base.json", &doc); err != nil {
		return nil, err
	}
	for _, name := range names {
		var part map[string]any
		if err := readJSON(fsys, name, &part); err != nil {
			return nil, err
		}
		for key, v := range part {
			if key != "paths" && key != "components" {
				return nil, fmt.Errorf("openapi: %s: only paths and components may be added, not %q", name, key)
			}
			if err := mergeInto(doc, key, v, name, 2); err != nil {
				return nil, err
			}
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// mergeInto adds v under dst[key]: objects are merged member by member
// down to depth levels (paths/PATH, components/KIND/NAME), and below
// that a member may be defined by one file only.
func mergeInto(dst map[string]any, key string, v any, file string, depth int) error {
	old, exists := dst[key]
	if !exists {
		dst[key] = v
		return nil
	}
	om, ok1 := old.(map[string]any)
	nm, ok2 := v.(map[string]any)
	if depth == 0 || !ok1 || !ok2 {
		return fmt.Errorf("openapi: %s defines %q again", file, key)
	}
	for k, nv := range nm {
		if err := mergeInto(om, k, nv, file, depth-1); err != nil {
			return err
		}
	}
	return nil
}

func readJSON(fsys fs.FS, name string, v any) error {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("openapi: %s: %w", name, err)
	}
	return nil
}
