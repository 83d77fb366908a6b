package registration_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/carespine/spineauth/registration"
)

func ExampleCatalogue_Closure() {
	cat := registration.DefaultCatalogue()
	// A profile granted "Amend patient demographics" may also view them.
	fmt.Println(cat.Closure([]string{"B0825"}))
	// Output: [B0820 B0825]
}

func ExampleValidNHSNumber() {
	fmt.Println(registration.ValidNHSNumber("9990001235"))
	fmt.Println(registration.ValidNHSNumber("9990001234")) // wrong check digit
	// Output:
	// true
	// false
}

func ExampleOpenSQLite() {
	dir, err := os.MkdirTemp("", "registration-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	s, err := registration.OpenSQLite(ctx, filepath.Join(dir, "registration.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	now := time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
	if err := registration.SeedDemo(ctx, s, now, nil); err != nil {
		log.Fatal(err)
	}
	profiles, err := s.RoleProfilesOf(ctx, "555000000011")
	if err != nil {
		log.Fatal(err)
	}
	for _, rp := range profiles {
		fmt.Println(rp.ID, rp.ODS, rp.JobRole, rp.Current(now))
	}
	_, err = s.Person(ctx, "not-a-uid")
	fmt.Println(errors.Is(err, registration.ErrInvalid), err)
	// Output:
	// 555000001101 Y12345 S8000:G8000:R8000 true
	// 555000001102 RZZ S8000:G8000:R8000 true
	// true registration: invalid uid: must be 12 digits
}
