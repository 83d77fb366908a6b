package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// compare sends every request of the file once to authd and once to OPA
// and checks that they decide alike (allow, reason codes and obligation
// types), so that a throughput comparison is between two servers doing
// the same work. It also reports the decision mix of the file.

// verdict is the comparable part of a decision.
type verdict struct {
	Allow       bool     `json:"allow"`
	ReasonCodes []string `json:"reason_codes"`
	Alerts      []string `json:"alerts"`
}

func (v verdict) key() string {
	if v.Allow {
		return "allow " + strings.Join(v.Alerts, ",")
	}
	return "deny " + strings.Join(v.ReasonCodes, ",")
}

func (v verdict) equal(w verdict) bool {
	return v.Allow == w.Allow && slices.Equal(v.ReasonCodes, w.ReasonCodes) && slices.Equal(v.Alerts, w.Alerts)
}

// parseAuthZEN reads authd's answer.
func parseAuthZEN(b []byte) (verdict, error) {
	var r struct {
		Decision *bool `json:"decision"`
		Context  struct {
			ReasonCodes []string `json:"reason_codes"`
			Obligations []struct {
				Type      string `json:"type"`
				AlertType string `json:"alert_type"`
			} `json:"obligations"`
		} `json:"context"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Decision == nil {
		return verdict{}, fmt.Errorf("not an AuthZEN decision: %.200s", b)
	}
	v := verdict{Allow: *r.Decision, ReasonCodes: sortedNonNil(r.Context.ReasonCodes), Alerts: []string{}}
	for _, o := range r.Context.Obligations {
		v.Alerts = append(v.Alerts, o.Type+":"+o.AlertType)
	}
	sort.Strings(v.Alerts)
	return v, nil
}

// parseOPA reads OPA's answer for the wrapper's decision.
func parseOPA(b []byte) (verdict, error) {
	var r struct {
		Result *struct {
			Allow       *bool    `json:"allow"`
			ReasonCodes []string `json:"reason_codes"`
			Obligations []struct {
				Type      string `json:"type"`
				AlertType string `json:"alert_type"`
			} `json:"obligations"`
		} `json:"result"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Result == nil || r.Result.Allow == nil {
		return verdict{}, fmt.Errorf("not a decision (undefined?): %.200s", b)
	}
	v := verdict{Allow: *r.Result.Allow, ReasonCodes: sortedNonNil(r.Result.ReasonCodes), Alerts: []string{}}
	for _, o := range r.Result.Obligations {
		v.Alerts = append(v.Alerts, o.Type+":"+o.AlertType)
	}
	sort.Strings(v.Alerts)
	return v, nil
}

func sortedNonNil(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("compare", stderr)
	var files tlsFiles
	files.register(fs)
	authdURL := fs.String("authd", "", "authd base URL")
	opaURL := fs.String("opa", "", "OPA base URL")
	reqFile := fs.String("requests-file", "", "JSON Lines of AuthZEN evaluation requests")
	limit := fs.Int("limit", 0, "compare only the first N requests (0: all)")
	workers := fs.Int("concurrency", 4, "requests in flight")
	showMix := fs.Bool("mix", true, "print the decision mix")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *authdURL == "" || *opaURL == "" || *reqFile == "" {
		return usagef("compare: --authd, --opa and --requests-file are required")
	}
	au, err := checkLoopback(*authdURL)
	if err != nil {
		return err
	}
	ou, err := checkLoopback(*opaURL)
	if err != nil {
		return err
	}
	reqs, err := readRequests(*reqFile)
	if err != nil {
		return err
	}
	if *limit > 0 && *limit < len(reqs) {
		reqs = reqs[:*limit]
	}
	tc, err := files.config()
	if err != nil {
		return err
	}
	client := newClient(tc, *workers*2, 30*time.Second)
	defer client.CloseIdleConnections()
	authdEP := strings.TrimSuffix(au.String(), "/") + authzenSinglePath
	opaEP := strings.TrimSuffix(ou.String(), "/") + opaDecisionPath

	type outcome struct {
		a, o verdict
		err  error
	}
	out := make([]outcome, len(reqs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, *workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				var oc outcome
				st, err := send(ctx, client, authdEP, reqs[i], &buf)
				if err == nil && st != 200 {
					err = fmt.Errorf("authd: status %d: %.200s", st, buf.Bytes())
				}
				if err == nil {
					oc.a, err = parseAuthZEN(buf.Bytes())
				}
				if err == nil {
					st, err = send(ctx, client, opaEP, wrapInput(reqs[i]), &buf)
					if err == nil && st != 200 {
						err = fmt.Errorf("opa: status %d: %.200s", st, buf.Bytes())
					}
				}
				if err == nil {
					oc.o, err = parseOPA(buf.Bytes())
				}
				oc.err = err
				out[i] = oc
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}

	mix := map[string]int{}
	allowed, mismatches, failures := 0, 0, 0
	for i, oc := range out {
		if oc.err != nil {
			failures++
			if failures <= 3 {
				fmt.Fprintf(stdout, "compare: request %d: %v\n", i+1, oc.err)
			}
			continue
		}
		mix[oc.a.key()]++
		if oc.a.Allow {
			allowed++
		}
		if !oc.a.equal(oc.o) {
			mismatches++
			if mismatches <= 5 {
				fmt.Fprintf(stdout, "compare: request %d differs: authd %s, opa %s\n  %s\n",
					i+1, oc.a.key(), oc.o.key(), redactToken(reqs[i]))
			}
		}
	}
	fmt.Fprintf(stdout, "compare: %d requests: %d allowed (%.0f%%), %d denied; %d differ; %d failed\n",
		len(reqs), allowed, 100*float64(allowed)/float64(max(1, len(reqs))), len(reqs)-allowed-failures, mismatches, failures)
	if *showMix {
		keys := make([]string, 0, len(mix))
		for k := range mix {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			return mix[keys[i]] > mix[keys[j]] || mix[keys[i]] == mix[keys[j]] && keys[i] < keys[j]
		})
		for _, k := range keys {
			fmt.Fprintf(stdout, "  %6d  %s\n", mix[k], k)
		}
	}
	if mismatches > 0 || failures > 0 {
		return fmt.Errorf("compare: authd and OPA disagree on %d and failed on %d of %d requests", mismatches, failures, len(reqs))
	}
	return nil
}
