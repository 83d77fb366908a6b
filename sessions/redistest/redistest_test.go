package redistest_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/carespine/spineauth/sessions/redistest"
)

// TestStart exercises the path taken on a machine with no Redis running:
// a private redis-server on a free loopback port.
func TestStart(t *testing.T) {
	addr := redistest.Start(t)
	t.Setenv("REDIS_ADDR", addr)
	if got := redistest.Addr(t); got != addr {
		t.Fatalf("Addr = %s with REDIS_ADDR=%s", got, addr)
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx := context.Background()
	if cfg, err := c.ConfigGet(ctx, "save").Result(); err != nil || cfg["save"] != "" {
		t.Fatalf("persistence is on: save=%q (%v)", cfg["save"], err)
	}

	var prefix string
	t.Run("Prefix", func(t *testing.T) {
		prefix = redistest.Prefix(t, c)
		if err := c.Set(ctx, prefix+"k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	})
	if keys, err := redistest.Keys(ctx, c, prefix+"*"); err != nil || len(keys) != 0 {
		t.Fatalf("keys left under %s after the subtest: %v (%v)", prefix, keys, err)
	}
}
