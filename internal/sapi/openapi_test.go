package sapi_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// Every route the API serves is in the OpenAPI document, and every
// operation of the document is a route the API serves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	r := e.want(e.do("GET", "/sapi/openapi.json", "", nil), 200)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r.json(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, p := range e.srv.API.Patterns() {
		served[p] = true
	}
	var missing, extra []string
	for p := range served {
		if !documented[p] {
			missing = append(missing, p)
		}
	}
	for p := range documented {
		if !served[p] {
			extra = append(extra, p)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("routes not in openapi.yaml: %v\noperations in openapi.yaml the API does not serve: %v", missing, extra)
	}
	if len(served) < 30 {
		t.Fatalf("only %d routes: the comparison is not seeing the API", len(served))
	}
}

// schemaKeywords are the JSON Schema keywords the document uses; a key
// that is not one is a typo or YAML read otherwise than meant (an unquoted
// comma in a flow mapping made "when one was" a keyword).
var schemaKeywords = map[string]bool{
	"type": true, "properties": true, "items": true, "required": true, "description": true, "enum": true,
	"const": true, "pattern": true, "minimum": true, "maximum": true, "additionalProperties": true,
	"oneOf": true, "anyOf": true, "allOf": true, "$ref": true, "format": true, "default": true, "maxLength": true,
}

// checkSchema reports keys of a schema object that are not keywords.
func checkSchema(t *testing.T, where string, v any) {
	t.Helper()
	s, ok := v.(map[string]any)
	if !ok {
		if v != true && v != false {
			t.Errorf("%s: a schema must be an object, not %v", where, v)
		}
		return
	}
	for k, sub := range s {
		switch {
		case !schemaKeywords[k]:
			t.Errorf("%s: %q is not a JSON Schema keyword", where, k)
		case k == "properties":
			props, _ := sub.(map[string]any)
			for name, p := range props {
				checkSchema(t, where+".properties."+name, p)
			}
		case k == "items" || k == "additionalProperties":
			checkSchema(t, where+"."+k, sub)
		case k == "oneOf" || k == "anyOf" || k == "allOf":
			list, _ := sub.([]any)
			for i, p := range list {
				checkSchema(t, fmt.Sprintf("%s.%s[%d]", where, k, i), p)
			}
		}
	}
}

// The document served is one a client generator takes: its schemas hold
// only JSON Schema keywords, and every operation has a unique operationId,
// tags the document defines, and its 4xx responses (401 wherever a token
// is needed). CI also lints it with Redocly's linter (.ci/openapi.sh).
func TestOpenAPIDocumentIsComplete(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	r := e.want(e.do("GET", "/sapi/openapi.json", "", nil), 200)
	var doc struct {
		Tags       []struct{ Name string } `json:"tags"`
		Security   []map[string]any        `json:"security"`
		Components struct {
			Schemas   map[string]any `json:"schemas"`
			Responses map[string]struct {
				Content map[string]struct {
					Schema any `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"components"`
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	r.json(t, &doc)
	for name, s := range doc.Components.Schemas {
		checkSchema(t, "components.schemas."+name, s)
	}
	tags := map[string]bool{}
	for _, tag := range doc.Tags {
		tags[tag.Name] = true
	}
	ids := map[string]string{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			where := strings.ToUpper(method) + " " + path
			var op struct {
				OperationID string                     `json:"operationId"`
				Tags        []string                   `json:"tags"`
				Security    *[]map[string]any          `json:"security"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", where)
			} else if other, dup := ids[op.OperationID]; dup {
				t.Errorf("%s and %s share the operationId %s", where, other, op.OperationID)
			}
			ids[op.OperationID] = where
			if len(op.Tags) == 0 {
				t.Errorf("%s has no tags", where)
			}
			for _, tag := range op.Tags {
				if !tags[tag] {
					t.Errorf("%s: tag %q is not defined in the document's tags", where, tag)
				}
			}
			has4xx := false
			for code := range op.Responses {
				has4xx = has4xx || strings.HasPrefix(code, "4")
			}
			if !has4xx {
				t.Errorf("%s documents no 4xx response", where)
			}
			needsToken := op.Security == nil || len(*op.Security) > 0
			if _, ok := op.Responses["401"]; needsToken && !ok {
				t.Errorf("%s needs a token but documents no 401", where)
			}
		}
	}
}
