package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

// The spec checker: every answer the tests get is checked against
// docs/openapi.yaml: the path and method are documented, the status is
// listed, the Content-Type is one the response declares (or none when it
// declares no content), and a JSON body has the schema's required members
// with the right JSON types, recursively ($ref, allOf, items,
// additionalProperties). NDJSON bodies are checked line by line against the
// response's x-item-schema.

var (
	specOnce sync.Once
	spec     map[string]any
	specErr  error
)

func loadSpec(t testing.TB) map[string]any {
	t.Helper()
	specOnce.Do(func() {
		b, err := os.ReadFile("../docs/openapi.yaml")
		if err != nil {
			specErr = err
			return
		}
		specErr = yaml.Unmarshal(b, &spec)
	})
	if specErr != nil {
		t.Fatalf("docs/openapi.yaml: %v", specErr)
	}
	return spec
}

// specPath returns the documented path template that matches path,
// preferring literal segments over parameters.
func specPath(paths map[string]any, path string) (string, bool) {
	segs := strings.Split(path, "/")
	best, bestLit := "", -1
	for tmpl := range paths {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		lit, ok := 0, true
		for i := range ts {
			if strings.HasPrefix(ts[i], "{") {
				continue
			}
			if ts[i] != segs[i] {
				ok = false
				break
			}
			lit++
		}
		if ok && lit > bestLit {
			best, bestLit = tmpl, lit
		}
	}
	return best, bestLit >= 0
}

func (c *schemaChecker) resolve(v any) map[string]any {
	m, _ := v.(map[string]any)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		m = c.lookup(ref)
	}
	return m
}

type schemaChecker struct {
	root map[string]any
	errs []string
}

func (c *schemaChecker) lookup(ref string) map[string]any {
	var cur any = c.root
	for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, _ := cur.(map[string]any)
		cur = m[p]
	}
	m, _ := cur.(map[string]any)
	if m == nil {
		c.errs = append(c.errs, "unresolvable $ref "+ref)
	}
	return m
}

// check validates a decoded JSON value against a schema (the subset the
// spec uses).
func (c *schemaChecker) check(where string, schema any, v any) {
	s := c.resolve(schema)
	if s == nil {
		return
	}
	for _, sub := range asList(s["allOf"]) {
		c.check(where, sub, v)
	}
	if one := asList(s["oneOf"]); len(one) > 0 {
		ok := false
		for _, sub := range one {
			cc := &schemaChecker{root: c.root}
			cc.check(where, sub, v)
			if len(cc.errs) == 0 {
				ok = true
			}
		}
		if !ok {
			c.errs = append(c.errs, where+": matches no oneOf alternative")
		}
	}
	typ, _ := s["type"].(string)
	switch typ {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			c.errs = append(c.errs, fmt.Sprintf("%s: %T, want object", where, v))
			return
		}
		for _, r := range asList(s["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				c.errs = append(c.errs, fmt.Sprintf("%s: required member %q missing", where, r))
			}
		}
		props, _ := s["properties"].(map[string]any)
		for k, val := range obj {
			if ps, ok := props[k]; ok {
				c.check(where+"."+k, ps, val)
			} else if ap, ok := s["additionalProperties"].(map[string]any); ok {
				c.check(where+"."+k, ap, val)
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			c.errs = append(c.errs, fmt.Sprintf("%s: %T, want array", where, v))
			return
		}
		for i, e := range arr {
			c.check(fmt.Sprintf("%s[%d]", where, i), s["items"], e)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			c.errs = append(c.errs, fmt.Sprintf("%s: %T, want string", where, v))
			return
		}
		if enum := asList(s["enum"]); len(enum) > 0 && !slices.Contains(enum, any(str)) {
			c.errs = append(c.errs, fmt.Sprintf("%s: %q not in %v", where, str, enum))
		}
	case "integer":
		n, ok := v.(json.Number)
		if _, err := n.Int64(); !ok || err != nil {
			if _, err := strconv.ParseUint(string(n), 10, 64); !ok || err != nil {
				c.errs = append(c.errs, fmt.Sprintf("%s: %v, want integer", where, v))
			}
		}
	case "number":
		if _, ok := v.(json.Number); !ok {
			c.errs = append(c.errs, fmt.Sprintf("%s: %T, want number", where, v))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			c.errs = append(c.errs, fmt.Sprintf("%s: %T, want boolean", where, v))
		}
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

// checkSpec checks one answer against the spec.
func checkSpec(t testing.TB, method, path string, status int, h http.Header, body []byte) {
	t.Helper()
	root := loadSpec(t)
	paths := root["paths"].(map[string]any)
	tmpl, ok := specPath(paths, path)
	if !ok {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return // the answer for an undocumented path
		}
		t.Errorf("spec: %s %s answered %d but is not documented", method, path, status)
		return
	}
	c := &schemaChecker{root: root}
	op := c.resolve(c.resolve(paths[tmpl])[strings.ToLower(method)])
	if op == nil {
		if status != http.StatusMethodNotAllowed {
			t.Errorf("spec: %s %s answered %d but %s is not documented for %s", method, path, status, method, tmpl)
		}
		return
	}
	resps := c.resolve(op["responses"])
	resp := c.resolve(resps[strconv.Itoa(status)])
	if resp == nil {
		resp = c.resolve(resps["default"])
	}
	if resp == nil {
		t.Errorf("spec: %s %s answered %d, not listed for %s %s (body %.200s)", method, path, status, method, tmpl, body)
		return
	}
	content := c.resolve(resp["content"])
	ct := h.Get("Content-Type")
	if len(content) == 0 {
		if len(body) > 0 && method != http.MethodHead {
			t.Errorf("spec: %s %s %d: body %.100q but the spec declares none", method, path, status, body)
		}
		return
	}
	if method == http.MethodHead {
		return
	}
	mt, _, _ := mime.ParseMediaType(ct)
	media := c.resolve(content[mt])
	if media == nil {
		t.Errorf("spec: %s %s %d: Content-Type %q not among %v", method, path, status, ct, keys(content))
		return
	}
	var errs []string
	switch {
	case mt == "application/json" || mt == "application/problem+json":
		v, err := decodeNumbers(body)
		if err != nil {
			t.Errorf("spec: %s %s %d: body is not JSON: %v", method, path, status, err)
			return
		}
		c.check("body", media["schema"], v)
		errs = c.errs
		if mt == "application/problem+json" {
			if code := v.(map[string]any)["code"]; code != nil && StatusOf(code.(string)) != status {
				errs = append(errs, fmt.Sprintf("problem code %v has status %d, answered %d", code, StatusOf(code.(string)), status))
			}
		}
	case mt == "application/x-ndjson":
		for i, line := range lines(body) {
			v, err := decodeNumbers(line)
			if err != nil {
				errs = append(errs, fmt.Sprintf("line %d is not JSON: %v", i, err))
				continue
			}
			c.check(fmt.Sprintf("line %d", i), media["x-item-schema"], v)
		}
		errs = append(errs, c.errs...)
	}
	for _, e := range errs {
		t.Errorf("spec: %s %s %d: %s", method, path, status, e)
	}
}

func decodeNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestRoutesDocumented: every endpoint the server registers is in the
// spec with the same roles, and every documented operation is served.
func TestRoutesDocumented(t *testing.T) {
	f := newFixture(t)
	root := loadSpec(t)
	paths := root["paths"].(map[string]any)
	c := &schemaChecker{root: root}
	served := map[string]bool{}
	for _, rt := range f.srv.routes {
		method, path, _ := strings.Cut(rt.pattern, " ")
		served[method+" "+path] = true
		op := c.resolve(c.resolve(paths[path])[strings.ToLower(method)])
		if op == nil {
			t.Errorf("%s is served but not documented", rt.pattern)
			continue
		}
		var roles []string
		for _, r := range asList(op["x-roles"]) {
			roles = append(roles, r.(string))
		}
		want := strings.Split(rt.allow.String(), "|")
		slices.Sort(roles)
		slices.Sort(want)
		if !slices.Equal(roles, want) {
			t.Errorf("%s: x-roles %v, served for %v", rt.pattern, roles, want)
		}
	}
	for path, item := range paths {
		for method := range c.resolve(item) {
			if method == "parameters" {
				continue
			}
			if k := strings.ToUpper(method) + " " + path; !served[k] {
				t.Errorf("%s is documented but not served", k)
			}
		}
	}
}

// errRecorder is a testing.TB that collects errors instead of failing.
type errRecorder struct {
	testing.TB
	errs []string
}

func (e *errRecorder) Errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}
func (e *errRecorder) Helper() {}

// TestSpecCheckerCatches: the checker itself fails answers that break the
// spec, so that a passing suite means something.
func TestSpecCheckerCatches(t *testing.T) {
	json := http.Header{"Content-Type": {"application/json"}}
	for _, tt := range []struct {
		name, method, path string
		status             int
		h                  http.Header
		body               string
	}{
		{"undocumented status", "GET", "/v1/status", 418, json, `{}`},
		{"missing required member", "GET", "/v1/status", 200, json, `{"size":1,"root":"x","projections":{}}`},
		{"wrong type", "GET", "/v1/status", 200, json, `{"size":"1","root":"x","checkpoint":"c","projections":{}}`},
		{"wrong content type", "GET", "/v1/status", 200, http.Header{"Content-Type": {"text/html"}}, `x`},
		{"bad enum in nested array", "POST", "/v1/events", 200, json, `{"results":[{"index":0,"status":"maybe"}]}`},
		{"problem code and status disagree", "GET", "/v1/status", 403, http.Header{"Content-Type": {"application/problem+json"}},
			`{"type":"t","title":"t","status":403,"code":"not_found"}`},
		{"undocumented path", "GET", "/v1/secret", 200, json, `{}`},
		{"NDJSON line missing members", "GET", "/v1/events", 200, http.Header{"Content-Type": {"application/x-ndjson"}}, "{\"v\":1}\n"},
	} {
		rec := &errRecorder{TB: t}
		checkSpec(rec, tt.method, tt.path, tt.status, tt.h, []byte(tt.body))
		if len(rec.errs) == 0 {
			t.Errorf("%s: the checker found nothing wrong", tt.name)
		}
	}
}
