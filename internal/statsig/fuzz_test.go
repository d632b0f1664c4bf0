package statsig

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets check that no answer, however broken, panics a decoder, and that whatever a
// decoder accepts keeps the invariants its callers rely on. Run one with, for example:
//
//	go test ./internal/statsig -run '^$' -fuzz FuzzDecodeCheckGate -fuzztime 30s

func FuzzDecodeCheckGate(f *testing.F) {
	for _, s := range []string{
		`{"name":"new_user_onboarding","value":true,"rule_id":"2RamGsERWbWMIMnSfOlQuX","group_name":"Test Group"}`,
		`{"name":"g","value":false,"rule_id":null,"group_name":null}`,
		`{"feature_a":{"name":"feature_a","value":true,"rule_id":"rule_123","group_name":"Enabled"},"feature_b":{"name":"feature_b","value":false,"rule_id":null,"group_name":null}}`,
		`[{"name":"feature_a","value":true,"rule_id":"r","group_name":"g"},{"name":"feature_b","value":false,"rule_id":null,"group_name":null}]`,
		`{"value":{"name":"value","value":true}}`, `{"some_gate":{"value":"true"}}`, `[]`, `{}`, `null`, `[1]`, `{"a":1}`,
		`{"feature_a":{"name":"feature_a","value":tr`, `<html>`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := decodeCheckGate(body)
		if err != nil {
			return
		}
		for k, r := range res {
			if k == "" || r.Name != k {
				t.Fatalf("result keyed %q has name %q", k, r.Name)
			}
		}
	})
}

func FuzzDecodeConfig(f *testing.F) {
	for _, s := range []string{
		`{"name":"homepage_config","value":{"header_text":"Welcome!","show_banner":true},"group":"x","rule_id":"x","group_name":"Power Users"}`,
		`{"name":"unknown_config","value":{},"group":"","rule_id":null,"group_name":null}`,
		`{"name":"c","value":null}`, `{"name":"c","value":"s"}`, `{"name":"c"}`, `{"value":{"a":[1,2,{"b":null}]}}`,
		`null`, `[]`, `{"name":5,"value":{}}`, `{"name":"c","value":{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeConfig(body)
		if err != nil {
			return
		}
		checkObject(t, r.Value)
	})
}

func FuzzDecodeLayer(f *testing.F) {
	for _, s := range []string{
		`{"name":"product_page_layer","value":{"add_to_cart_color":"blue"},"ruleID":"rule_abc123","allocatedExperimentName":"exp"}`,
		`{"name":"l","value":{"a":1},"ruleID":"default","allocatedExperimentName":null}`,
		`{"name":"l","value":[1,2],"ruleID":5}`, `{"name":"l"}`, `{}`, `true`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeLayer(body)
		if err != nil {
			return
		}
		checkObject(t, r.Value)
	})
}

func FuzzDecodeLogResponse(f *testing.F) {
	for _, s := range []string{`{"success":true}`, `{"success":false}`, ``, `{"success":"yes"}`, `[]`, `{}`, `  `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { _ = decodeLogResponse(body) })
}

func FuzzDecodeConsoleReport(f *testing.F) {
	for _, s := range []string{
		`{"message":"Report URL generated successfully","data":[{"url":"https://dl.example/r.csv"}]}`,
		`{"message":"ok","data":{"url":"https://dl.example/r.csv"}}`,
		`{"message":"ok","data":[]}`, `{"message":"ok","data":null}`, `{"message":"ok","data":[{"url":42}]}`,
		`{"message":"ok","data":[{"url":""},{"url":"https://x/y"}]}`, `{"data":"x"}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := decodeConsoleReport(body)
		if err == nil && u == "" {
			t.Fatal("accepted an answer without a URL")
		}
	})
}

func FuzzDecodeLegacyReport(f *testing.F) {
	for _, s := range []string{
		`{"url":"https://dl.example/r.csv","date":"2026-11-01"}`, `{"url":"https://x","date":"2026-11-01T07:00:00Z"}`,
		`{"url":"https://x","date":"yesterday"}`, `{"url":42,"date":true}`, `{"url":"https://x"}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeLegacyReport(body)
		if err != nil {
			return
		}
		if r.URL == "" {
			t.Fatal("accepted an answer without a URL")
		}
		if _, err := time.Parse(time.DateOnly, r.Date); err != nil {
			t.Fatalf("accepted date %q that is not YYYY-MM-DD", r.Date)
		}
	})
}

func FuzzDecodeListPage(f *testing.F) {
	for _, s := range []string{
		`{"message":"Gates listed successfully.","data":[{"id":"a_gate","name":"A Gate","isEnabled":true,"status":"In Progress","tags":[]}],"pagination":{"itemsPerPage":100,"pageNumber":1,"nextPage":null,"previousPage":null,"totalItems":1,"all":""}}`,
		`{"message":"ok","data":[{"id":"statsig::layer"}],"pagination":{"nextPage":"/console/v1/layers?page=2&limit=3"}}`,
		`{"message":"ok","data":[],"pagination":{"nextPage":2}}`, `{"data":[{"id":12}]}`, `{"data":"x"}`,
		`{"data":[{"id":"x","tags":"t"}]}`, `{"pagination":{}}`, `{"data":[],"pagination":{"nextPage":""}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		items, _, err := decodeListPage(body)
		if err != nil {
			return
		}
		for _, e := range items {
			if e.ID == "" {
				t.Fatal("accepted an item without an id")
			}
		}
	})
}

func FuzzDecodeErrorMessage(f *testing.F) {
	for _, s := range []string{
		`{"status":401,"message":"This endpoint only accepts an active CONSOLE key, but an invalid key was sent. Key: console-xxxXXXxxxXXXxxx"}`,
		`{"error":"bad"}`, `<html>502</html>`, "\x00\xff\xfe", ``, `{"message":5}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msg := decodeErrorMessage(body)
		if !utf8.ValidString(msg) || len(msg) > 310 {
			t.Fatalf("message not bounded valid text: %q", msg)
		}
		red := Redact(msg)
		if loc := keyPattern.FindStringIndex(red); loc != nil {
			t.Fatalf("redacted message still holds a key shape: %q", red)
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "1.5", "-3", "Wed, 21 Oct 2015 07:28:00 GMT", "soon", "", "NaN", "1e400"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if ok && (d < 0 || d > 365*24*time.Hour) {
			t.Fatalf("Retry-After %q gave %v", v, d)
		}
	})
}

func checkObject(t *testing.T, v json.RawMessage) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(v, &m); err != nil || m == nil {
		t.Fatalf("value %q is not a JSON object", v)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"Key: console-xxxXXXxxxXXXxxx":             "Key: " + RedactedMarker,
		"invalid key secret-AbC123_x-y. try again": "invalid key " + RedactedMarker + " try again",
		"client-abc and SECRET-def":                RedactedMarker + " and " + RedactedMarker,
		"nothing to hide":                          "nothing to hide",
		"quoted \"secret-k3y\"":                    "quoted \"" + RedactedMarker + "\"",
		"mysecret-abcdef embedded":                 "my" + RedactedMarker + " embedded",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	// A key the client knows is removed even when it is not key-shaped, and so is its body alone.
	if got := redactKey("proxy says abcdefgh12345678 and secret-zzzzzzzzzzzz", "secret-abcdefgh12345678"); strings.Contains(got, "abcdefgh12345678") || strings.Contains(got, "zzzz") {
		t.Errorf("redactKey left a key: %q", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"120": 2 * time.Minute, " 3 ": 3 * time.Second, "0": 0, "1.5": 1500 * time.Millisecond,
		now.Add(90 * time.Second).Format(httpTimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(httpTimeFormat):       0,
	} {
		d, ok := parseRetryAfter(v, now)
		if !ok || d != want {
			t.Errorf("parseRetryAfter(%q) = %v, %t; want %v", v, d, ok, want)
		}
	}
	for _, v := range []string{"", "soon", "-1"} {
		if _, ok := parseRetryAfter(v, now); ok {
			t.Errorf("parseRetryAfter(%q) accepted", v)
		}
	}
}

const httpTimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"
