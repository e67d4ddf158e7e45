package authapi

import (
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/schemas"
)

// schemaFields reads, for every schema under components/schemas: in the OpenAPI document, its property names and
// its required list (block style "      properties:" with one "        name:" line each, or flow style
// "      properties: {a: ..., b: ...}").
func schemaFields(t *testing.T) (props, required map[string][]string) {
	t.Helper()
	doc, err := fs.ReadFile(schemas.OpenAPI, "openapi/authapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	props, required = map[string][]string{}, map[string][]string{}
	nameLine := regexp.MustCompile(`^    ("?[A-Za-z0-9_]+"?):\s*$`)
	propLine := regexp.MustCompile(`^        ("?[A-Za-z0-9_]+"?):`)
	unquote := func(s string) string { return strings.Trim(strings.TrimSpace(s), `"`) }
	inSchemas, inProps, cur := false, false, ""
	for _, l := range strings.Split(string(doc), "\n") {
		switch {
		case l == "  schemas:":
			inSchemas = true
			continue
		case strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "    ") || !strings.HasPrefix(l, " ") && l != "":
			inSchemas = false
		}
		if !inSchemas {
			continue
		}
		if m := nameLine.FindStringSubmatch(l); m != nil {
			cur, inProps = unquote(m[1]), false
			continue
		}
		if rest, ok := strings.CutPrefix(l, "      required: ["); ok {
			for _, f := range strings.Split(strings.TrimSuffix(rest, "]"), ",") {
				required[cur] = append(required[cur], unquote(f))
			}
			continue
		}
		if l == "      properties:" {
			inProps = true
			continue
		}
		if rest, ok := strings.CutPrefix(l, "      properties: {"); ok {
			props[cur] = append(props[cur], flowKeys(rest)...)
			continue
		}
		if !strings.HasPrefix(l, "        ") {
			inProps = false
		}
		if m := propLine.FindStringSubmatch(l); m != nil && inProps {
			props[cur] = append(props[cur], unquote(m[1]))
		}
	}
	return props, required
}

// flowKeys returns the top-level keys of a flow mapping's body ("a: {...}, b: x}").
func flowKeys(body string) []string {
	var keys []string
	depth, start := 0, 0
	for i, c := range body {
		switch c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ':':
			if depth == 0 && start >= 0 {
				keys = append(keys, strings.Trim(strings.TrimSpace(body[start:i]), `"`))
				start = -1
			}
		case ',':
			if depth == 0 {
				start = i + 1
			}
		}
	}
	return keys
}

func TestSchemaFieldsParsesBothStyles(t *testing.T) {
	props, required := schemaFields(t)
	if got, want := props["Code"], []string{"code"}; !slices.Equal(got, want) {
		t.Errorf("Code properties = %q; want %q", got, want)
	}
	if !slices.Contains(props["Incident"], "evidence") || !slices.Contains(props["Me"], "2fa_required") || !slices.Contains(required["Me"], "2fa_required") {
		t.Errorf("Incident properties = %q, Me properties = %q required %q; want evidence, 2fa_required", props["Incident"], props["Me"], required["Me"])
	}
}

// Every field a response carries is a documented property of its schema, and every required property is there:
// the document describes what the API really sends (GET /v1/me's client_ip and 2fa_required were once missing).
func TestOpenAPIResponseFields(t *testing.T) {
	c := newConsole(t)
	props, required := schemaFields(t)
	if r := c.do("POST", "/v1/allowlist", myIP, c.root, map[string]string{"prefix": "203.0.113.0/24", "description": "office"}); r.code != 200 {
		t.Fatalf("add allowlist entry: %d %s", r.code, r.raw)
	}
	if r := c.do("POST", "/v1/apikeys", myIP, c.root, map[string]any{"name": "monitoring", "scopes": []string{"read"}}); r.code != 201 {
		t.Fatalf("create API key: %d %s", r.code, r.raw)
	}
	if r := c.do("POST", "/v1/trusted-networks", myIP, c.sub, map[string]any{"prefix": "198.51.100.0/24", "user": "alice@example.org", "description": "home"}); r.code != 201 {
		t.Fatalf("add trusted network: %d %s", r.code, r.raw)
	}
	incA := "/v1/incidents/" + c.incA.ID
	if r := c.do("POST", incA+"/review", myIP, c.root, map[string]any{"action": "acknowledge", "revision": 0}); r.code != 200 {
		t.Fatalf("review: %d %s", r.code, r.raw)
	}
	type field struct{ path, schema string } // path: dotted field of the body ("" the body), [] an array's items
	tests := []struct {
		route, token string
		fields       []field
	}{
		{"/v1/me", c.root, []field{{"", "Me"}}},
		{"/v1/me", c.viewer, []field{{"", "Me"}}},
		{"/v1/allowlist", c.root, []field{{"", "AllowList"}, {"entries[]", "AllowEntry"}}},
		{"/v1/apikeys", c.root, []field{{"keys[]", "APIKey"}}},
		{"/v1/accounts", c.root, []field{{"accounts[]", "Account"}}},
		{"/v1/incidents", c.root, []field{{"incidents[]", "Incident"}}},
		{incA, c.root, []field{{"incident", "Incident"}, {"review", "Review"}, {"review_history[]", "Review"}, {"logins[]", "Login"}}},
		{"/v1/users/alice@example.org/logins", c.root, []field{{"logins[]", "Login"}}},
		{"/v1/trusted-networks", c.root, []field{{"networks[]", "TrustedNetwork"}}},
	}
	for _, tt := range tests {
		r := c.do("GET", tt.route, myIP, tt.token, nil)
		if r.code != 200 {
			t.Errorf("GET %s: %d %s", tt.route, r.code, r.raw)
			continue
		}
		for _, f := range tt.fields {
			if props[f.schema] == nil {
				t.Fatalf("schema %s has no properties in the document", f.schema)
			}
			objs := objectsAt(r.body, f.path)
			if len(objs) == 0 {
				t.Errorf("GET %s: no object at %q to check against %s: %s", tt.route, f.path, f.schema, r.raw)
			}
			for _, o := range objs {
				var got []string
				for k := range o {
					got = append(got, k)
					if !slices.Contains(props[f.schema], k) {
						t.Errorf("GET %s: field %q of %q is not a property of schema %s (%q)", tt.route, k, f.path, f.schema, props[f.schema])
					}
				}
				for _, k := range required[f.schema] {
					if _, ok := o[k]; !ok {
						sort.Strings(got)
						t.Errorf("GET %s: %q lacks required field %q of schema %s (has %q)", tt.route, f.path, k, f.schema, got)
					}
				}
			}
		}
	}
}

// objectsAt returns the objects at a dotted path of a decoded body; a segment ending in [] steps into an array.
func objectsAt(body map[string]any, path string) []map[string]any {
	cur := []any{body}
	if path == "" {
		return []map[string]any{body}
	}
	for _, seg := range strings.Split(path, ".") {
		name, array := strings.CutSuffix(seg, "[]")
		var next []any
		for _, v := range cur {
			o, _ := v.(map[string]any)
			x, ok := o[name]
			if !ok {
				continue
			}
			if array {
				items, _ := x.([]any)
				next = append(next, items...)
			} else {
				next = append(next, x)
			}
		}
		cur = next
	}
	var out []map[string]any
	for _, v := range cur {
		if o, ok := v.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}
