package policy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/carespine/spineauth/policy"
)

func ExampleEngine_Eval() {
	ctx := context.Background()
	e, err := policy.New(ctx, policy.Config{
		Source:   policy.FSSource(os.DirFS("testdata/basic")), // policies.FS in production
		Queries:  map[string]string{"access": "data.spine.access.decision"},
		RunTests: true,
	})
	if err != nil {
		fmt.Println("no policy:", err)
		return
	}
	defer e.Close()

	input := map[string]any{
		"action":   "view",
		"resource": map[string]any{"section": "scr"},
		"subject":  map[string]any{"activities": []any{"B0264"}},
	}
	res, err := e.Eval(ctx, "access", input)
	if err != nil {
		fmt.Println("deny: internal_error") // never allow on error
		return
	}
	d := res.Value.(map[string]any)
	fmt.Println(d["allow"], d["reason_codes"], e.Status().TestsPassed, "tests passed")
	// Output: false [activity_not_permitted] 2 tests passed
}

func ExampleSQLiteLog_Record() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "decisions")
	defer os.RemoveAll(dir)
	log, err := policy.OpenSQLiteLog(ctx, filepath.Join(dir, "decisions.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer log.Close()

	input := map[string]any{"subject": map[string]any{"type": "session", "id": "s3cret-token"}}
	d := policy.Decision{
		ID:       policy.NewDecisionID(time.Now()),
		Time:     time.Now(),
		Query:    "access",
		Revision: "0123456789abcdef",
		Input:    policy.Mask(input, "id"),
		Result:   map[string]any{"allow": false},
		Caller:   "scr.spine.example",
	}
	// sync: the answer carries an alert, so it must be stored first.
	if err := log.Record(ctx, d, true); err != nil {
		fmt.Println("deny: internal_error")
		return
	}
	got, _ := log.Get(ctx, d.ID)
	fmt.Println(got.Input)
	// Output: map[subject:map[id:REDACTED type:session]]
}
