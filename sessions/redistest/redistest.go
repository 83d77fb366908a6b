package redistest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultAddr is the address probed when REDIS_ADDR is not set.
const DefaultAddr = "127.0.0.1:6379"

// Addr returns the address of a Redis server for t: REDIS_ADDR if set (the
// test fails if it does not answer), else DefaultAddr if it answers PING,
// else a redis-server started for t and killed when t ends. If none can be
// had (no redis-server installed), t is skipped.
func Addr(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv("REDIS_ADDR"); addr != "" {
		if err := ping(addr); err != nil {
			t.Fatalf("redistest: REDIS_ADDR=%s: %v", addr, err)
		}
		return addr
	}
	if ping(DefaultAddr) == nil {
		return DefaultAddr
	}
	return Start(t)
}

// Start starts a redis-server for t on a free loopback port, without
// persistence, and returns its address; t's cleanup kills it. Extra
// arguments are passed to redis-server.
func Start(t testing.TB, extra ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redistest: no Redis: set REDIS_ADDR, run one on 127.0.0.1:6379 or install redis-server")
	}
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		addr, err := startServer(t, bin, port, extra)
		if err == nil {
			return addr
		}
		last = err // most likely someone took the port meanwhile
	}
	t.Fatalf("redistest: starting redis-server: %v", last)
	return ""
}

func startServer(t testing.TB, bin string, port int, extra []string) (string, error) {
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := append([]string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", dir,
	}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(addr) == nil {
			t.Cleanup(stop)
			return addr, nil
		}
		select {
		case err := <-exited:
			exited <- err
			return "", fmt.Errorf("redis-server exited (%v): %s", err, lastLines(out.String(), 5))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("redis-server on %s did not answer PING within 10s: %s", addr, lastLines(out.String(), 5))
		}
	}
}

// ClusterAddrs returns the seed addresses of a Redis Cluster for t: those in
// REDIS_CLUSTER_ADDRS (comma-separated) if set, else a cluster of three
// masters started on loopback for t (redis-server with cluster-enabled and
// redis-cli --cluster create). t is skipped if that cannot be done here.
func ClusterAddrs(t testing.TB) []string {
	t.Helper()
	if s := os.Getenv("REDIS_CLUSTER_ADDRS"); s != "" {
		return strings.Split(s, ",")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redistest: no redis-cli to create a cluster; set REDIS_CLUSTER_ADDRS")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redistest: no redis-server to start a cluster; set REDIS_CLUSTER_ADDRS")
	}
	addrs := make([]string, 3)
	for i := range addrs {
		busPort, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		addrs[i] = Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(busPort), "--cluster-node-timeout", "5000")
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v: %s", err, lastLines(string(out), 5))
	}
	waitClusterOK(t, addrs)
	return addrs
}

// waitClusterOK waits until every node reports cluster_state:ok.
func waitClusterOK(t testing.TB, addrs []string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				_ = c.Close()
				t.Fatalf("redistest: cluster node %s not ok after 30s: %v %q", addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = c.Close()
	}
}

// Prefix returns a key prefix unique to t (letters, digits, '-', '_' and
// ':', no glob or hash-tag characters) and, when t ends, deletes every key
// under it through c (on every master of a Cluster).
func Prefix(t testing.TB, c redis.UniversalClient) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	prefix := "spineauth-test:" + name + ":" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, err := Keys(ctx, c, prefix+"*")
		if err == nil {
			for _, k := range keys {
				if err = c.Del(ctx, k).Err(); err != nil {
					break
				}
			}
		}
		if err != nil {
			t.Errorf("redistest: deleting keys under %s: %v", prefix, err)
		}
	})
	return prefix
}

// Keys lists the keys matching a SCAN pattern, on every master of a Cluster.
func Keys(ctx context.Context, c redis.UniversalClient, pattern string) ([]string, error) {
	scan := func(ctx context.Context, c redis.Cmdable) ([]string, error) {
		var keys []string
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		return keys, iter.Err()
	}
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		return scan(ctx, c)
	}
	var (
		all  []string
		errs []error
		mu   sync.Mutex
	)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		keys, err := scan(ctx, node)
		mu.Lock()
		all, errs = append(all, keys...), append(errs, err)
		mu.Unlock()
		return err
	})
	return all, errors.Join(append(errs, err)...)
}

// ping checks that a Redis server answers PING at addr.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
