package event

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vigil-ids/vigil/schemas"
)

func compileSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	raw, err := fs.ReadFile(schemas.Events, "events/v1/event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("event.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("event.schema.json")
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return s, m
}

// TestSchemaAgreesWithGo runs every validation case through the JSON Schema and the Go parser: both must accept or
// both must reject, except for rules a schema cannot state (the clock).
func TestSchemaAgreesWithGo(t *testing.T) {
	s, _ := compileSchema(t)
	for _, tt := range cases {
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		schemaOK := s.Validate(doc) == nil
		_, goErr := Parse([]byte(tt.in), now)
		goOK := goErr == nil
		if tt.goOnly {
			if !schemaOK || goOK {
				t.Errorf("%s: schema ok=%v, Go ok=%v; want schema to accept and Go to reject", tt.name, schemaOK, goOK)
			}
			continue
		}
		if schemaOK != goOK {
			t.Errorf("%s: schema ok=%v (%v), Go ok=%v (%v); want agreement", tt.name, schemaOK, s.Validate(doc), goOK, goErr)
		}
	}
}

// TestSchemaFieldsMatchStruct keeps the schema's properties, enums and limits equal to the Go definitions.
func TestSchemaFieldsMatchStruct(t *testing.T) {
	_, m := compileSchema(t)
	props := m["properties"].(map[string]any)
	var schemaFields, goFields []string
	for k := range props {
		schemaFields = append(schemaFields, k)
	}
	rt := reflect.TypeFor[Event]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		goFields = append(goFields, name)
	}
	slices.Sort(schemaFields)
	slices.Sort(goFields)
	if !slices.Equal(schemaFields, goFields) {
		t.Errorf("schema properties %v; Go fields %v", schemaFields, goFields)
	}
	var services []string
	for _, v := range props["service"].(map[string]any)["enum"].([]any) {
		services = append(services, v.(string))
	}
	if !slices.Equal(services, Services) {
		t.Errorf("schema services %v; Go %v", services, Services)
	}
	limits := map[string]int{"id": MaxIDLen, "user": MaxUserLen, "domain": MaxDomainLen, "message_id": MaxMessageIDLen,
		"source": MaxSourceLen, "session": MaxSessionLen, "pwhash": MaxPWHashLen}
	for f, want := range limits {
		if got := int(props[f].(map[string]any)["maxLength"].(float64)); got != want {
			t.Errorf("schema %s maxLength = %d; Go limit %d", f, got, want)
		}
	}
	if got := int(props["recipients"].(map[string]any)["maximum"].(float64)); got != MaxRecipients {
		t.Errorf("schema recipients maximum = %d; Go %d", got, MaxRecipients)
	}
}

func TestExamplesAreValid(t *testing.T) {
	s, _ := compileSchema(t)
	for _, name := range []string{"login.example.json", "send.example.json"} {
		raw, err := fs.ReadFile(schemas.Events, "events/v1/"+name)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err := s.Validate(doc); err != nil {
			t.Errorf("schema rejects %s: %v", name, err)
		}
		if _, err := Parse(bytes.TrimSpace(raw), now); err != nil {
			t.Errorf("Parse rejects %s: %v", name, err)
		}
	}
}
