package ractl

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/carespine/spineauth/authd/ra"
	"github.com/carespine/spineauth/registration"
)

func personCmd(ctx context.Context, c *client, args []string) error {
	if len(args) == 0 {
		return usagef("person: register, find, show, update or history")
	}
	switch args[0] {
	case "register":
		return personRegister(ctx, c, args[1:])
	case "find":
		return personFind(ctx, c, args[1:])
	case "show":
		return personShow(ctx, c, args[1:])
	case "update":
		return personUpdate(ctx, c, args[1:])
	case "history":
		return personHistory(ctx, c, args[1:])
	}
	return usagef("person: unknown subcommand %q", args[0])
}

func personRegister(ctx context.Context, c *client, args []string) error {
	fs := flag.NewFlagSet("person register", flag.ContinueOnError)
	var req ra.RegisterRequest
	var docType string
	fs.StringVar(&req.UID, "uid", "", "user ID (default: a new one)")
	fs.StringVar(&req.Name, "name", "", "the person's name")
	fs.StringVar(&req.ODS, "org", "", "the organisation (ODS code) they are registered for")
	fs.StringVar(&docType, "doc-type", "", "identity document checked (passport, driving_licence, ...)")
	fs.StringVar(&req.Evidence.DocumentRef, "doc-ref", "", "its number or reference")
	fs.StringVar(&req.Reason, "reason", "", "why")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	for _, f := range [][2]string{{"name", req.Name}, {"org", req.ODS}, {"doc-type", docType}, {"doc-ref", req.Evidence.DocumentRef}} {
		if err := required(f[0], f[1]); err != nil {
			return err
		}
	}
	req.Evidence.DocumentType = registrationDoc(docType)
	var p ra.PersonView
	raw, err := c.do(ctx, "POST", "/v1/ra/people", req, &p)
	if err != nil {
		return err
	}
	c.show(raw, func(w io.Writer) { printPerson(w, p) })
	return nil
}

func personFind(ctx context.Context, c *client, args []string) error {
	fs := flag.NewFlagSet("person find", flag.ContinueOnError)
	name := fs.String("name", "", "part of the name")
	limit := fs.Int("limit", 50, "at most this many")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if *name != "" {
		q.Set("name", *name)
	}
	var out struct {
		People []ra.PersonView `json:"people"`
	}
	raw, err := c.do(ctx, "GET", "/v1/ra/people?"+q.Encode(), nil, &out)
	if err != nil {
		return err
	}
	c.show(raw, func(w io.Writer) {
		for _, p := range out.People {
			fmt.Fprintf(w, "%s  %-30s %s v%d\n", p.UID, p.Name, p.Status, p.Version)
		}
	})
	return nil
}

func personShow(ctx context.Context, c *client, args []string) error {
	fs := flag.NewFlagSet("person show", flag.ContinueOnError)
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	var p ra.PersonView
	raw, err := c.do(ctx, "GET", "/v1/ra/people/"+pathArg(pos[0]), nil, &p)
	if err != nil {
		return err
	}
	c.show(raw, func(w io.Writer) { printPerson(w, p) })
	return nil
}

func personUpdate(ctx context.Context, c *client, args []string) error {
	fs := flag.NewFlagSet("person update", flag.ContinueOnError)
	var req ra.UpdateRequest
	var status string
	fs.IntVar(&req.Version, "version", 0, "the version you read (person show)")
	fs.StringVar(&req.Name, "name", "", "new name")
	fs.StringVar(&status, "status", "", "new status: active, suspended or closed")
	fs.StringVar(&req.Reason, "reason", "", "why")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if req.Version < 1 {
		return usagef("--version (the version you read) is required")
	}
	if err := required("reason", req.Reason); err != nil {
		return err
	}
	req.Status = personStatus(status)
	var p ra.PersonView
	raw, err := c.do(ctx, "PATCH", "/v1/ra/people/"+pathArg(pos[0]), req, &p)
	if err != nil {
		return err
	}
	c.show(raw, func(w io.Writer) { printPerson(w, p) })
	return nil
}

func personHistory(ctx context.Context, c *client, args []string) error {
	fs := flag.NewFlagSet("person history", flag.ContinueOnError)
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	var out struct {
		Person ra.PersonView       `json:"person"`
		Events []ra.AuditEntryView `json:"events"`
	}
	raw, err := c.do(ctx, "GET", "/v1/ra/people/"+pathArg(pos[0])+"/history", nil, &out)
	if err != nil {
		return err
	}
	c.show(raw, func(w io.Writer) {
		printPerson(w, out.Person)
		fmt.Fprintln(w, "history:")
		for _, e := range out.Events {
			printEvent(w, e)
		}
	})
	return nil
}

func printPerson(w io.Writer, p ra.PersonView) {
	fmt.Fprintf(w, "person %s %s (%s, version %d)\n", p.UID, p.Name, p.Status, p.Version)
	if len(p.Organisations) > 0 {
		fmt.Fprintf(w, "  organisations: %s\n", strings.Join(p.Organisations, ", "))
	}
	for _, c := range p.IdentityChecks {
		fmt.Fprintf(w, "  identity: %s %s checked by %s at %s for %s\n", c.DocumentType, c.DocumentRef, c.CheckedBy,
			c.CheckedAt.Format("2006-01-02T15:04:05Z"), c.ODS)
	}
	for _, rp := range p.RoleProfiles {
		printProfile(w, "  role profile", rp)
	}
	for _, c := range p.Cards {
		fmt.Fprintf(w, "  card %s %s serial %s until %s\n", c.ID, c.Status, c.CertSerial, c.CertNotAfter.Format("2006-01-02"))
	}
}

func printProfile(w io.Writer, prefix string, rp ra.RoleProfileView) {
	fmt.Fprintf(w, "%s %s %s %s at %s [%s]", prefix, rp.ID, rp.Status, rp.JobRole, rp.ODS, strings.Join(rp.Activities, " "))
	if rp.RequestedBy != "" {
		fmt.Fprintf(w, " requested by %s", rp.RequestedBy)
	}
	if rp.ApprovedBy != "" {
		fmt.Fprintf(w, " approved by %s", rp.ApprovedBy)
	}
	fmt.Fprintln(w)
}

func printEvent(w io.Writer, e ra.AuditEntryView) {
	fmt.Fprintf(w, "  #%d %s %s %s by %s", e.Seq, e.Entry().At.Format("2006-01-02T15:04:05Z"), e.Action, e.Outcome, e.ActorUID)
	if e.Target != "" {
		fmt.Fprintf(w, " on %s", e.Target)
	}
	if e.Reason != "" {
		fmt.Fprintf(w, ": %s", e.Reason)
	}
	fmt.Fprintln(w)
}

func roleCmd(ctx context.Context, c *client, args []string) error {
	if len(args) == 0 {
		return usagef("role: request, approve, end or pending")
	}
	switch args[0] {
	case "request":
		fs := flag.NewFlagSet("role request", flag.ContinueOnError)
		var req ra.RoleProfileRequestBody
		var acts, wgs string
		fs.StringVar(&req.ODS, "org", "", "organisation (ODS code)")
		fs.StringVar(&req.JobRole, "job-role", "", "job role code S<nnnn>:G<nnnn>:R<nnnn>")
		fs.StringVar(&acts, "activities", "", "activity codes, comma-separated (default: the job role's baseline)")
		fs.StringVar(&wgs, "workgroups", "", "workgroups, comma-separated")
		fs.StringVar(&req.Reason, "reason", "", "why")
		pos, err := parse(fs, args[1:], 1)
		if err != nil {
			return err
		}
		for _, f := range [][2]string{{"org", req.ODS}, {"job-role", req.JobRole}, {"reason", req.Reason}} {
			if err := required(f[0], f[1]); err != nil {
				return err
			}
		}
		req.Activities, req.Workgroups = splitList(acts), splitList(wgs)
		return c.profileCall(ctx, "POST", "/v1/ra/people/"+pathArg(pos[0])+"/role-profiles", req)
	case "approve", "end":
		fs := flag.NewFlagSet("role "+args[0], flag.ContinueOnError)
		var req ra.ReasonBody
		fs.StringVar(&req.Reason, "reason", "", "why")
		pos, err := parse(fs, args[1:], 1)
		if err != nil {
			return err
		}
		if args[0] == "end" {
			if err := required("reason", req.Reason); err != nil {
				return err
			}
		}
		return c.profileCall(ctx, "POST", "/v1/ra/role-profiles/"+pathArg(pos[0])+"/"+args[0], req)
	case "pending":
		fs := flag.NewFlagSet("role pending", flag.ContinueOnError)
		if _, err := parse(fs, args[1:], 0); err != nil {
			return err
		}
		var out struct {
			RoleProfiles []ra.RoleProfileView `json:"role_profiles"`
		}
		raw, err := c.do(ctx, "GET", "/v1/ra/role-profiles/pending", nil, &out)
		if err != nil {
			return err
		}
		c.show(raw, func(w io.Writer) {
			for _, rp := range out.RoleProfiles {
				printProfile(w, "pending for "+rp.UID+":", rp)
			}
		})
		return nil
	}
	return usagef("role: unknown subcommand %q", args[0])
}

func (c *client) profileCall(ctx context.Context, method, path string, body any) error {
	var rp ra.RoleProfileView
	raw, err := c.do(ctx, method, path, body, &rp)
	if err != nil {
		return err
	}
	c.show(raw, func(w io.Writer) { printProfile(w, "role profile", rp) })
	return nil
}

func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func registrationDoc(s string) registration.DocumentType { return registration.DocumentType(s) }

func personStatus(s string) registration.PersonStatus { return registration.PersonStatus(s) }
