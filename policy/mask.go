package policy

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Redacted replaces masked values.
const Redacted = "REDACTED"

// Mask returns a deep copy of v in which the value of every object member
// whose key equals one of keys (ignoring case), at any depth, is Redacted.
// v is not modified.
//
// JSON-shaped values (map[string]any, []any, map[string]string, []string
// and scalars) are copied directly; anything else (structs, typed maps) is
// first turned into its JSON form, so the keys matched are JSON names. A
// value that cannot be turned into JSON is replaced by Redacted as a whole:
// Mask never lets through what it could not inspect.
func Mask(v any, keys ...string) any {
	return mask(v, keys)
}

func mask(v any, keys []string) any {
	switch x := v.(type) {
	case nil, string, bool, float64, float32, int, int64, int32, uint, uint64, uint32, json.Number:
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if masked(k, keys) {
				out[k] = Redacted
			} else {
				out[k] = mask(val, keys)
			}
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if masked(k, keys) {
				out[k] = Redacted
			} else {
				out[k] = val
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = mask(val, keys)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = val
		}
		return out
	case json.RawMessage:
		return maskJSON(x, keys)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return Redacted
		}
		return maskJSON(b, keys)
	}
}

func maskJSON(b []byte, keys []string) any {
	var g any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&g); err != nil {
		return Redacted
	}
	return mask(g, keys)
}

func masked(k string, keys []string) bool {
	for _, m := range keys {
		if strings.EqualFold(k, m) {
			return true
		}
	}
	return false
}
