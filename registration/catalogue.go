package registration

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// defaultCatalogue is catalogue/default.yaml: see the comments in it for
// which codes are real and which illustrative.
//
//go:embed catalogue/default.yaml
var defaultCatalogue []byte

// maxCatalogueSize bounds what LoadCatalogue reads.
const maxCatalogueSize = 4 << 20

// Activity is an RBAC activity (B code): something a role profile may be
// granted. Granting it also grants what it includes, transitively.
type Activity struct {
	Code     string   `yaml:"code"`
	Name     string   `yaml:"name"`
	Includes []string `yaml:"includes"`
}

// JobRole is a national job role code with its baseline activities, the
// ones an RA grants by default with the role.
type JobRole struct {
	Code       string   `yaml:"code"`
	Name       string   `yaml:"name"`
	Activities []string `yaml:"activities"`
}

// Catalogue is an RBAC catalogue: the activities and job roles a
// deployment recognises. It is immutable once loaded and safe for
// concurrent use.
type Catalogue struct {
	activities map[string]Activity
	jobRoles   map[string]JobRole
}

// catalogueFile is the YAML (or JSON) document LoadCatalogue reads.
type catalogueFile struct {
	Activities []Activity `yaml:"activities"`
	JobRoles   []JobRole  `yaml:"job_roles"`
}

// DefaultCatalogue returns the catalogue shipped in
// registration/catalogue/default.yaml. It panics if that file is invalid,
// which the package's tests rule out.
func DefaultCatalogue() *Catalogue {
	c, err := LoadCatalogue(bytes.NewReader(defaultCatalogue))
	if err != nil {
		panic("registration: embedded default catalogue: " + err.Error())
	}
	return c
}

// LoadCatalogue reads a catalogue in the format of catalogue/default.yaml
// (YAML, or the equivalent JSON). Decoding is strict: an unknown field, a
// second document or more than 4 MiB of input is an error. The result has
// passed Validate; every problem found is reported at once, each matching
// ErrInvalid.
func LoadCatalogue(r io.Reader) (*Catalogue, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxCatalogueSize+1))
	if err != nil {
		return nil, fmt.Errorf("registration: reading catalogue: %w", err)
	}
	if len(data) > maxCatalogueSize {
		return nil, invalid("catalogue", "is larger than 4 MiB")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f catalogueFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, invalid("catalogue", "is empty")
		}
		return nil, fmt.Errorf("%w: catalogue: %v", ErrInvalid, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, invalid("catalogue", "must be a single document")
	}

	c := &Catalogue{
		activities: make(map[string]Activity, len(f.Activities)),
		jobRoles:   make(map[string]JobRole, len(f.JobRoles)),
	}
	var errs []error
	for i, a := range f.Activities {
		field := "activities[" + strconv.Itoa(i) + "]"
		if err := checkActivity(field+".code", a.Code); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := c.activities[a.Code]; dup {
			errs = append(errs, invalid(field, "duplicates activity "+a.Code))
			continue
		}
		a.Includes = sortedCopy(a.Includes)
		c.activities[a.Code] = a
	}
	for i, j := range f.JobRoles {
		field := "job_roles[" + strconv.Itoa(i) + "]"
		if err := ValidateJobRole(j.Code); err != nil {
			errs = append(errs, invalid(field+".code", "must have the form S<nnnn>:G<nnnn>:R<nnnn>"))
			continue
		}
		if _, dup := c.jobRoles[j.Code]; dup {
			errs = append(errs, invalid(field, "duplicates job role "+j.Code))
			continue
		}
		j.Activities = sortedCopy(j.Activities)
		c.jobRoles[j.Code] = j
	}
	if err := errors.Join(append(errs, c.problems()...)...); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks the catalogue's consistency and reports every problem,
// each matching ErrInvalid: names, included and baseline codes that are
// malformed, duplicated or not in the catalogue, and cycles of inclusion.
// A cycle would make its activities equivalent, which is never what a
// national catalogue means, so it is refused rather than tolerated
// (Closure stays finite on one regardless).
func (c *Catalogue) Validate() error { return errors.Join(c.problems()...) }

func (c *Catalogue) problems() []error {
	var errs []error
	for _, a := range c.Activities() {
		field := "activity " + a.Code
		if err := checkName(field+" name", a.Name); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, c.checkRefs(field+" includes", a.Includes, a.Code)...)
	}
	for _, j := range c.JobRoles() {
		field := "job role " + j.Code
		if err := checkName(field+" name", j.Name); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, c.checkRefs(field+" activities", j.Activities, "")...)
	}
	return append(errs, c.cycles()...)
}

// checkRefs checks a list of activity codes that must all be in the
// catalogue, distinct, and (for includes) not self.
func (c *Catalogue) checkRefs(field string, codes []string, self string) []error {
	var errs []error
	for i, code := range codes {
		f := field + "[" + strconv.Itoa(i) + "]"
		switch {
		case checkActivity(f, code) != nil:
			errs = append(errs, checkActivity(f, code))
		case i > 0 && codes[i-1] == code:
			errs = append(errs, invalid(f, "duplicates "+code))
		case code == self:
			errs = append(errs, invalid(f, "includes itself"))
		default:
			if _, ok := c.activities[code]; !ok {
				errs = append(errs, invalid(f, "names unknown activity "+code))
			}
		}
	}
	return errs
}

// cycles reports each activity from which a chain of inclusions leads
// back to an activity already on the chain, once per cycle found.
func (c *Catalogue) cycles() []error {
	const (
		unvisited = iota
		onPath
		done
	)
	state := make(map[string]int, len(c.activities))
	var errs []error
	var visit func(code string)
	visit = func(code string) {
		state[code] = onPath
		for _, inc := range c.activities[code].Includes {
			switch state[inc] {
			case onPath:
				if inc != code { // self-inclusion is reported by checkRefs
					errs = append(errs, invalid("activity "+code+" includes", inc+" closes a cycle of inclusions"))
				}
			case unvisited:
				if _, ok := c.activities[inc]; ok {
					visit(inc)
				}
			}
		}
		state[code] = done
	}
	for _, a := range c.Activities() {
		if state[a.Code] == unvisited {
			visit(a.Code)
		}
	}
	return errs
}

// Activity returns the activity with the given code.
func (c *Catalogue) Activity(code string) (Activity, bool) {
	a, ok := c.activities[code]
	a.Includes = slices.Clone(a.Includes)
	return a, ok
}

// JobRole returns the job role with the given code.
func (c *Catalogue) JobRole(code string) (JobRole, bool) {
	j, ok := c.jobRoles[code]
	j.Activities = slices.Clone(j.Activities)
	return j, ok
}

// Activities returns every activity, sorted by code.
func (c *Catalogue) Activities() []Activity {
	out := make([]Activity, 0, len(c.activities))
	for _, code := range sortedKeys(c.activities) {
		a, _ := c.Activity(code)
		out = append(out, a)
	}
	return out
}

// JobRoles returns every job role, sorted by code.
func (c *Catalogue) JobRoles() []JobRole {
	out := make([]JobRole, 0, len(c.jobRoles))
	for _, code := range sortedKeys(c.jobRoles) {
		j, _ := c.JobRole(code)
		out = append(out, j)
	}
	return out
}

// Closure returns codes and every activity they include, transitively,
// sorted and without duplicates: the activities a role profile granted
// codes actually has. A code not in the catalogue is kept as it is (it
// grants only itself); a cycle cannot make it loop.
func (c *Catalogue) Closure(codes []string) []string {
	seen := make(map[string]bool, len(codes))
	queue := slices.Clone(codes)
	for len(queue) > 0 {
		code := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if seen[code] {
			continue
		}
		seen[code] = true
		queue = append(queue, c.activities[code].Includes...)
	}
	return sortedKeys(seen)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
