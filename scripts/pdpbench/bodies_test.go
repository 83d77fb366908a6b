package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestRotationRoundRobin(t *testing.T) {
	r := newRotation(3)
	var got []int
	for range 7 {
		got = append(got, r.Next())
	}
	if want := []int{0, 1, 2, 0, 1, 2, 0}; !slices.Equal(got, want) {
		t.Fatalf("rotation = %v, want %v", got, want)
	}
}

// TestRotationConcurrentEven: however the workers interleave, whole
// rounds hand out every body equally often and none twice in a row of n.
func TestRotationConcurrentEven(t *testing.T) {
	const n, workers, perWorker = 7, 8, 7 * 125
	r := newRotation(n)
	counts := make([][n]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				counts[w][r.Next()]++
			}
		}()
	}
	wg.Wait()
	var total [n]int
	for _, c := range counts {
		for i, v := range c {
			total[i] += v
		}
	}
	for i, v := range total {
		if v != workers*perWorker/n {
			t.Fatalf("body %d used %d times, want %d (totals %v)", i, v, workers*perWorker/n, total)
		}
	}
}

func TestRotationSingleBody(t *testing.T) {
	r := newRotation(1)
	for range 5 {
		if i := r.Next(); i != 0 {
			t.Fatalf("Next = %d", i)
		}
	}
}

func testRequests(n int) []json.RawMessage {
	out := make([]json.RawMessage, n)
	for i := range out {
		out[i] = json.RawMessage(fmt.Sprintf(`{"subject":{"type":"session","id":"s%d"}}`, i))
	}
	return out
}

func TestBuildBodies(t *testing.T) {
	reqs := testRequests(5)
	cases := []struct {
		name  string
		mode  string
		batch int
		want  []string
	}{
		{"authzen single: the requests as they are", modeAuthZEN, 0, []string{
			string(reqs[0]), string(reqs[1]), string(reqs[2]), string(reqs[3]), string(reqs[4])}},
		{"opa single: wrapped as input", modeOPA, 0, []string{
			`{"input":` + string(reqs[0]) + `}`, `{"input":` + string(reqs[1]) + `}`, `{"input":` + string(reqs[2]) + `}`,
			`{"input":` + string(reqs[3]) + `}`, `{"input":` + string(reqs[4]) + `}`}},
		{"authzen batch of 2: consecutive groups, wrapping round", modeAuthZEN, 2, []string{
			`{"evaluations":[` + string(reqs[0]) + `,` + string(reqs[1]) + `]}`,
			`{"evaluations":[` + string(reqs[2]) + `,` + string(reqs[3]) + `]}`,
			`{"evaluations":[` + string(reqs[4]) + `,` + string(reqs[0]) + `]}`}},
		{"opa batch of 5: one group, as input.evaluations", modeOPA, 5, []string{
			`{"input":{"evaluations":[` + string(reqs[0]) + `,` + string(reqs[1]) + `,` + string(reqs[2]) + `,` +
				string(reqs[3]) + `,` + string(reqs[4]) + `]}}`}},
		{"batch larger than the file repeats requests", modeAuthZEN, 7, []string{
			`{"evaluations":[` + strings.Join([]string{string(reqs[0]), string(reqs[1]), string(reqs[2]), string(reqs[3]),
				string(reqs[4]), string(reqs[0]), string(reqs[1])}, ",") + `]}`}},
		{"batch of 1 uses the batch shape", modeAuthZEN, 1, []string{
			`{"evaluations":[` + string(reqs[0]) + `]}`, `{"evaluations":[` + string(reqs[1]) + `]}`,
			`{"evaluations":[` + string(reqs[2]) + `]}`, `{"evaluations":[` + string(reqs[3]) + `]}`,
			`{"evaluations":[` + string(reqs[4]) + `]}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bodies, err := buildBodies(reqs, c.mode, c.batch)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(bodies))
			for i, b := range bodies {
				got[i] = string(b)
				if !json.Valid(b) {
					t.Fatalf("body %d is not JSON: %s", i, b)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("bodies:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestRotationCoversEveryRequest: sending through the rotation reaches
// every request of the file, in single and batch mode alike, before any
// request is sent a second time.
func TestRotationCoversEveryRequest(t *testing.T) {
	reqs := testRequests(23)
	for _, batch := range []int{0, 1, 10} {
		bodies, err := buildBodies(reqs, modeAuthZEN, batch)
		if err != nil {
			t.Fatal(err)
		}
		r := newRotation(len(bodies))
		seen := map[string]int{}
		for range len(bodies) {
			b := bodies[r.Next()]
			var items []json.RawMessage
			if batch == 0 {
				items = []json.RawMessage{b}
			} else {
				var env struct{ Evaluations []json.RawMessage }
				if err := json.Unmarshal(b, &env); err != nil {
					t.Fatal(err)
				}
				items = env.Evaluations
			}
			for _, it := range items {
				seen[string(it)]++
			}
		}
		for i, req := range reqs {
			if seen[string(req)] == 0 {
				t.Fatalf("batch %d: request %d never sent in one round", batch, i)
			}
		}
	}
}

func TestBuildBodiesRefuses(t *testing.T) {
	if _, err := buildBodies(nil, modeAuthZEN, 0); err == nil {
		t.Error("no requests accepted")
	}
	if _, err := buildBodies(testRequests(1), "grpc", 0); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := buildBodies(testRequests(1), modeOPA, -1); err == nil {
		t.Error("negative batch accepted")
	}
}

func TestEndpointPath(t *testing.T) {
	cases := []struct {
		mode  string
		batch int
		want  string
	}{
		{modeAuthZEN, 0, "/access/v1/evaluation"},
		{modeAuthZEN, 10, "/access/v1/evaluations"},
		{modeOPA, 0, "/v1/data/spine/authzen/decision"},
		{modeOPA, 10, "/v1/data/spine/authzen/evaluations"},
	}
	for _, c := range cases {
		got, err := endpointPath(c.mode, c.batch)
		if err != nil || got != c.want {
			t.Errorf("endpointPath(%s, %d) = %q, %v; want %q", c.mode, c.batch, got, err, c.want)
		}
	}
}

func TestParseRequests(t *testing.T) {
	in := "# a comment\n\n{\"a\": 1}\n  {\"b\":\n" // second object spans lines: refused
	if _, err := parseRequests(strings.NewReader(in)); err == nil {
		t.Fatal("a truncated line was accepted")
	}
	got, err := parseRequests(strings.NewReader("# header\n{\"a\": 1}\n\n  {\"b\": [1, 2]}  \n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0]) != `{"a":1}` || string(got[1]) != `{"b":[1,2]}` {
		t.Fatalf("parseRequests = %q", got)
	}
	if _, err := parseRequests(strings.NewReader("[1]\n")); err == nil {
		t.Fatal("a non-object line was accepted")
	}
	if _, err := parseRequests(strings.NewReader("\n# nothing\n")); err == nil {
		t.Fatal("an empty file was accepted")
	}
}

func TestRedactToken(t *testing.T) {
	got := redactToken(json.RawMessage(`{"subject":{"type":"session","id":"secret-token-value"},"action":{"name":"view"}}`))
	if strings.Contains(got, "secret") {
		t.Fatalf("token printed: %s", got)
	}
}
