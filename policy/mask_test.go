package policy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	type subject struct {
		Type  string `json:"type"`
		Token string `json:"id"`
	}
	for _, tc := range []struct {
		name string
		in   any
		keys []string
		want any
	}{
		{"top level", map[string]any{"token": "s3cret", "a": 1}, []string{"token"},
			map[string]any{"token": Redacted, "a": 1}},
		{"case-insensitive", map[string]any{"Session_Token": "s3cret", "SESSION_TOKEN": "x"}, []string{"session_token"},
			map[string]any{"Session_Token": Redacted, "SESSION_TOKEN": Redacted}},
		{"deep in objects and arrays", map[string]any{"evaluations": []any{
			map[string]any{"subject": map[string]any{"type": "session", "id": "tok1"}},
			map[string]any{"subject": map[string]any{"type": "session", "ID": "tok2"}},
		}}, []string{"id"}, map[string]any{"evaluations": []any{
			map[string]any{"subject": map[string]any{"type": "session", "id": Redacted}},
			map[string]any{"subject": map[string]any{"type": "session", "ID": Redacted}},
		}}},
		{"object value is masked whole", map[string]any{"secret": map[string]any{"a": 1}}, []string{"secret"},
			map[string]any{"secret": Redacted}},
		{"several keys", map[string]any{"pin": "1234", "token": "t", "keep": "k"}, []string{"PIN", "Token"},
			map[string]any{"pin": Redacted, "token": Redacted, "keep": "k"}},
		{"no keys", map[string]any{"token": "t"}, nil, map[string]any{"token": "t"}},
		{"string map", map[string]string{"Authorization": "Bearer x", "accept": "json"}, []string{"authorization"},
			map[string]any{"Authorization": Redacted, "accept": "json"}},
		{"string slice", []string{"a"}, []string{"a"}, []any{"a"}},
		{"struct via JSON names", map[string]any{"subject": subject{"session", "tok"}}, []string{"id"},
			map[string]any{"subject": map[string]any{"type": "session", "id": Redacted}}},
		{"raw JSON", json.RawMessage(`{"token": "t", "n": 1.5}`), []string{"token"},
			map[string]any{"token": Redacted, "n": json.Number("1.5")}},
		{"unencodable is masked whole", map[string]any{"c": make(chan int)}, []string{"x"},
			map[string]any{"c": Redacted}},
		{"scalar", "token", []string{"token"}, "token"},
		{"nil", nil, []string{"token"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Mask(tc.in, tc.keys...); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Mask = %#v\nwant %#v", got, tc.want)
			}
		})
	}
	t.Run("original untouched", func(t *testing.T) {
		in := map[string]any{"a": map[string]any{"token": "t"}, "l": []any{map[string]any{"token": "u"}}}
		_ = Mask(in, "token")
		if in["a"].(map[string]any)["token"] != "t" || in["l"].([]any)[0].(map[string]any)["token"] != "u" {
			t.Errorf("input modified: %v", in)
		}
	})
}

// FuzzMask checks on arbitrary JSON that no value under a masked key
// survives, whatever the nesting or case.
func FuzzMask(f *testing.F) {
	f.Add([]byte(`{"subject": {"type": "session", "id": "tok"}, "ID": [1, {"Id": "x"}]}`))
	f.Add([]byte(`[{"a": {"b": {"token": "x"}}}, "id"]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		if json.Unmarshal(b, &v) != nil {
			return
		}
		checkMasked(t, Mask(v, "id", "token"))
	})
}

func checkMasked(t *testing.T, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if (strings.EqualFold(k, "id") || strings.EqualFold(k, "token")) && val != Redacted {
				t.Fatalf("%s = %v survived", k, val)
			}
			checkMasked(t, val)
		}
	case []any:
		for _, val := range x {
			checkMasked(t, val)
		}
	}
}
