package sapi_test

import (
	"encoding/json"
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
