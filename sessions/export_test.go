package sessions

// Test-only hooks into the backends, visible to the sessions_test package.

import (
	"context"
	"fmt"

	"github.com/carespine/spineauth/sessions/redistest"
)

// DumpStored implements sessionstest.Dumper: every map key and value the
// Memory store holds, as bytes.
func (m *Memory) DumpStored(context.Context) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out [][]byte
	for h, e := range m.sessions {
		out = append(out, append([]byte(nil), h[:]...), fmt.Appendf(nil, "%+v %d %d %d", e.s, e.expMS, e.seenMS, e.idleMS))
	}
	for _, index := range []map[string]map[hashKey]struct{}{m.byUser, m.byCard} {
		for k, set := range index {
			out = append(out, []byte(k))
			for h := range set {
				out = append(out, append([]byte(nil), h[:]...))
			}
		}
	}
	for id, c := range m.challenges {
		out = append(out, []byte(id), fmt.Appendf(nil, "%+v", c))
	}
	return out, nil
}

// DumpStored implements sessionstest.Dumper: every key under the store's
// prefix and its value.
func (r *Redis) DumpStored(ctx context.Context) ([][]byte, error) {
	keys, err := redistest.Keys(ctx, r.client, r.prefix+"*")
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, k := range keys {
		out = append(out, []byte(k))
		typ, err := r.client.Type(ctx, k).Result()
		if err != nil {
			return nil, err
		}
		var vals []string
		switch typ {
		case "string":
			v, err := r.client.Get(ctx, k).Result()
			if err != nil {
				return nil, err
			}
			vals = []string{v}
		case "hash":
			m, err := r.client.HGetAll(ctx, k).Result()
			if err != nil {
				return nil, err
			}
			for f, v := range m {
				vals = append(vals, f, v)
			}
		case "set":
			if vals, err = r.client.SMembers(ctx, k).Result(); err != nil {
				return nil, err
			}
		case "none": // expired meanwhile
		default:
			return nil, fmt.Errorf("unexpected %s at %s", typ, k)
		}
		for _, v := range vals {
			out = append(out, []byte(v))
		}
	}
	return out, nil
}

// CreateWithToken is Create with a chosen token, to stage races.
func (r *Redis) CreateWithToken(ctx context.Context, tok Token, s Session) (*Session, error) {
	return r.create(ctx, tok, s)
}

// Prefix returns the store's key prefix.
func (r *Redis) Prefix() string { return r.prefix }
