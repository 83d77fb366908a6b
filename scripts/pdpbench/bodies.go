package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
)

// The requests file holds one AuthZEN evaluation request per line (JSON
// Lines): {"subject":..., "action":..., "resource":..., "context":...}.
// Blank lines and lines starting with # are skipped. The load generator
// turns each into the body its target expects and rotates through them, so
// that consecutive requests name different sessions and patients and
// neither server is flattered by caching one answer.

const (
	modeAuthZEN = "authzen"
	modeOPA     = "opa"
)

// OPA paths of the wrapper policy (opa/authzen.rego, package spine.authzen).
const (
	opaDecisionPath    = "/v1/data/spine/authzen/decision"
	opaEvaluationsPath = "/v1/data/spine/authzen/evaluations"
	authzenSinglePath  = "/access/v1/evaluation"
	authzenBatchPath   = "/access/v1/evaluations"
)

// maxRequestLine bounds one line of the requests file.
const maxRequestLine = 1 << 20

// readRequests reads a requests file.
func readRequests(path string) ([]json.RawMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	reqs, err := parseRequests(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return reqs, nil
}

// parseRequests reads JSON Lines of objects; each line is compacted.
func parseRequests(r io.Reader) ([]json.RawMessage, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxRequestLine)
	var out []json.RawMessage
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		if text[0] != '{' {
			return nil, fmt.Errorf("line %d: not a JSON object", line)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, text); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, json.RawMessage(buf.Bytes()))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no requests")
	}
	return out, nil
}

// endpointPath is the path a mode posts to; batch 0 means one evaluation
// per request (the single endpoint), batch K >= 1 the batch endpoint with
// K evaluations per request.
func endpointPath(mode string, batch int) (string, error) {
	switch {
	case mode == modeAuthZEN && batch == 0:
		return authzenSinglePath, nil
	case mode == modeAuthZEN:
		return authzenBatchPath, nil
	case mode == modeOPA && batch == 0:
		return opaDecisionPath, nil
	case mode == modeOPA:
		return opaEvaluationsPath, nil
	}
	return "", usagef("--mode must be %s or %s", modeAuthZEN, modeOPA)
}

// buildBodies encodes every request body up front, so the workers only
// send bytes. Single: one body per request; OPA wraps it as {"input": r}.
// Batch K: consecutive groups of K requests (wrapping round at the end of
// the file), {"evaluations": [...]} for authzen and {"input":
// {"evaluations": [...]}} for OPA; the group count is ceil(len/K).
func buildBodies(reqs []json.RawMessage, mode string, batch int) ([][]byte, error) {
	if len(reqs) == 0 {
		return nil, fmt.Errorf("no requests")
	}
	if batch < 0 {
		return nil, usagef("--batch must not be negative")
	}
	if _, err := endpointPath(mode, batch); err != nil {
		return nil, err
	}
	if batch == 0 {
		out := make([][]byte, len(reqs))
		for i, r := range reqs {
			if mode == modeOPA {
				out[i] = wrapInput(r)
			} else {
				out[i] = append([]byte(nil), r...)
			}
		}
		return out, nil
	}
	groups := (len(reqs) + batch - 1) / batch
	out := make([][]byte, groups)
	for g := range groups {
		var b bytes.Buffer
		b.WriteString(`{"evaluations":[`)
		for j := range batch {
			if j > 0 {
				b.WriteByte(',')
			}
			b.Write(reqs[(g*batch+j)%len(reqs)])
		}
		b.WriteString(`]}`)
		if mode == modeOPA {
			out[g] = wrapInput(b.Bytes())
		} else {
			out[g] = b.Bytes()
		}
	}
	return out, nil
}

// wrapInput makes OPA's Data API request body {"input": v}.
func wrapInput(v []byte) []byte {
	out := make([]byte, 0, len(v)+10)
	out = append(out, `{"input":`...)
	out = append(out, v...)
	return append(out, '}')
}

// rotation hands out body indexes round-robin to any number of workers:
// every body is used in turn and, over whole rounds, equally often.
type rotation struct {
	next atomic.Uint64
	n    uint64
}

func newRotation(n int) *rotation {
	if n < 1 {
		panic("rotation over no bodies")
	}
	return &rotation{n: uint64(n)}
}

// Next returns the index of the body to send next.
func (r *rotation) Next() int { return int((r.next.Add(1) - 1) % r.n) }

// redactToken hides the session token in a request for printing.
func redactToken(req json.RawMessage) string {
	var m map[string]any
	if err := json.Unmarshal(req, &m); err != nil {
		return "(unprintable request)"
	}
	if s, ok := m["subject"].(map[string]any); ok {
		if id, ok := s["id"].(string); ok && id != "" {
			s["id"] = "REDACTED(" + fmt.Sprint(len(id)) + " chars)"
		}
	}
	b, _ := json.Marshal(m)
	return strings.TrimSpace(string(b))
}
