package ractl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"

	"github.com/carespine/spineauth/authd/ra"
	"github.com/carespine/spineauth/registration"
)

// ErrAuditBroken is returned (wrapping an *registration.AuditChainError)
// when the audit chain does not verify.
var ErrAuditBroken = errors.New("the audit chain does not verify")

func auditCmd(ctx context.Context, c *client, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return usagef("audit: verify")
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	if _, err := parse(fs, args[1:], 0); err != nil {
		return err
	}
	return c.auditVerify(ctx)
}

// auditVerify reads the whole chain page by page and checks it here,
// recomputing every hash: authd's answer is not taken on trust.
func (c *client) auditVerify(ctx context.Context) error {
	v := registration.NewAuditVerifier()
	var head *ra.AuditHeadView
	after := int64(0)
	for {
		var page ra.AuditPage
		q := url.Values{"after": {strconv.FormatInt(after, 10)}, "limit": {"1000"}}
		if _, err := c.do(ctx, "GET", "/v1/ra/audit?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		if head == nil {
			head = &page.Head // the chain as it stood when verification began
		}
		done := len(page.Entries) == 0
		for _, e := range page.Entries {
			if e.Seq > head.Seq {
				done = true
				break
			}
			if err := v.Add(e.Entry()); err != nil {
				return fmt.Errorf("%w: %w", ErrAuditBroken, err)
			}
			after = e.Seq
		}
		if done || after >= head.Seq {
			break
		}
	}
	if err := v.Finish(head.Seq, head.Hash); err != nil {
		return fmt.Errorf("%w: %w", ErrAuditBroken, err)
	}
	fmt.Fprintf(c.out, "audit chain verified: %d entries, head %s\n", v.Entries, head.Hash)
	return nil
}
