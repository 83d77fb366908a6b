// Package redistest gives tests a real Redis: the one named by REDIS_ADDR,
// else one answering on 127.0.0.1:6379, else a throw-away redis-server it
// starts on a free loopback port. It can also start a small local Cluster.
// Tests share a server safely by working under a Prefix of their own.
//
// It is for tests only and must not be imported by production code. It
// never points at anything but the configured address or loopback.
package redistest
