package registration_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/carespine/spineauth/registration"
)

func TestDefaultCatalogue(t *testing.T) {
	t.Parallel()
	c := registration.DefaultCatalogue()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"B0015", "B0016", "B0820", "B0825", "B1300", "B0168", "B0370"} {
		if _, ok := c.Activity(code); !ok {
			t.Errorf("default catalogue lacks activity %s", code)
		}
	}
	for _, code := range []string{"S8000:G8000:R8000", "S8000:G8000:R8001", "S8002:G8002:R0001", "S8002:G8002:R5105"} {
		if _, ok := c.JobRole(code); !ok {
			t.Errorf("default catalogue lacks job role %s", code)
		}
	}
	a, _ := c.Activity("B0825")
	if a.Name != "Amend patient demographics" {
		t.Errorf("B0825 is %q", a.Name)
	}
	if len(c.Activities()) < 10 || len(c.JobRoles()) < 8 {
		t.Errorf("catalogue too small: %d activities, %d job roles", len(c.Activities()), len(c.JobRoles()))
	}
}

func TestClosure(t *testing.T) {
	t.Parallel()
	c := registration.DefaultCatalogue()
	cases := []struct {
		name string
		in   []string
		want string
	}{
		{"Empty", nil, ""},
		{"Leaf", []string{"B0820"}, "B0820"},
		{"Includes", []string{"B0825"}, "B0820 B0825"},
		{"Transitive", []string{"B8028"}, "B0370 B0820 B8028"},
		{"Several", []string{"B1610", "B1300"}, "B1300 B1610 B1611 B1612 B1614"},
		{"Duplicates", []string{"B0825", "B0820", "B0825"}, "B0820 B0825"},
		{"UnknownKept", []string{"B9999", "B0825"}, "B0820 B0825 B9999"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := c.Closure(tc.in)
			if got == nil || strings.Join(got, " ") != tc.want {
				t.Fatalf("Closure(%v) = %#v, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCatalogueAccessorsCopy(t *testing.T) {
	t.Parallel()
	c := registration.DefaultCatalogue()
	a, _ := c.Activity("B0825")
	a.Includes[0] = "B9999"
	if got := c.Closure([]string{"B0825"}); strings.Join(got, " ") != "B0820 B0825" {
		t.Fatalf("changing a returned Activity changed the catalogue: %v", got)
	}
}

func TestLoadCatalogue(t *testing.T) {
	t.Parallel()
	const good = `
activities:
  - {code: B0001, name: One, includes: [B0002]}
  - {code: B0002, name: Two}
job_roles:
  - {code: S0001:G0001:R0001, name: Role, activities: [B0001]}
`
	c, err := registration.LoadCatalogue(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Closure([]string{"B0001"}), " "); got != "B0001 B0002" {
		t.Errorf("closure %q", got)
	}
	json := `{"activities": [{"code": "B0001", "name": "One"}], "job_roles": []}`
	if _, err := registration.LoadCatalogue(strings.NewReader(json)); err != nil {
		t.Errorf("JSON: %v", err)
	}

	bad := []struct {
		name, doc string
		problems  int // how many errors are reported together
	}{
		{"Empty", ``, 1},
		{"UnknownField", "activities:\n  - {code: B0001, name: One, colour: red}\n", 1},
		{"TwoDocuments", "activities: []\n---\nactivities: []\n", 1},
		{"BadActivityCode", "activities:\n  - {code: b0001, name: One}\n", 1},
		{"DuplicateActivity", "activities:\n  - {code: B0001, name: One}\n  - {code: B0001, name: Again}\n", 1},
		{"UnknownInclude", "activities:\n  - {code: B0001, name: One, includes: [B0002]}\n", 1},
		{"SelfInclude", "activities:\n  - {code: B0001, name: One, includes: [B0001]}\n", 1},
		{"Cycle", "activities:\n  - {code: B0001, name: One, includes: [B0002]}\n  - {code: B0002, name: Two, includes: [B0003]}\n  - {code: B0003, name: Three, includes: [B0001]}\n", 1},
		{"BadName", "activities:\n  - {code: B0001, name: \"\"}\n", 1},
		{"BadJobRole", "job_roles:\n  - {code: R8000, name: Role}\n", 1},
		{"DuplicateJobRole", "job_roles:\n  - {code: S0001:G0001:R0001, name: A}\n  - {code: S0001:G0001:R0001, name: B}\n", 1},
		{"UnknownBaseline", "job_roles:\n  - {code: S0001:G0001:R0001, name: A, activities: [B0404]}\n", 1},
		{"AllAtOnce", "activities:\n  - {code: B0001, name: \"\", includes: [B0009, B0001]}\njob_roles:\n  - {code: S0001:G0001:R0001, name: A, activities: [B0404]}\n", 4},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := registration.LoadCatalogue(strings.NewReader(tc.doc))
			if !errors.Is(err, registration.ErrInvalid) {
				t.Fatalf("LoadCatalogue: %v, want ErrInvalid", err)
			}
			n := 1
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				n = len(j.Unwrap())
			}
			if n != tc.problems {
				t.Fatalf("reported %d problems, want %d: %v", n, tc.problems, err)
			}
		})
	}
	t.Run("TooLarge", func(t *testing.T) {
		doc := "# " + strings.Repeat("x", 5<<20) + "\nactivities: []\n"
		if _, err := registration.LoadCatalogue(strings.NewReader(doc)); !errors.Is(err, registration.ErrInvalid) {
			t.Fatalf("LoadCatalogue: %v, want ErrInvalid", err)
		}
	})
}
