package cardagent

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/carespine/spineauth/pkcs11"
)

// TestCardErrorMessages: what the user reads for each card failure, with
// the cause still matchable. SoftHSM never locks a PIN, so the locked case
// is shown here from the error the pkcs11 package returns for
// CKR_PIN_LOCKED.
func TestCardErrorMessages(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
		is   error
	}{
		{"wrong PIN with retries", &pkcs11.PINError{RetriesLeft: 2, Err: pkcs11.ErrPINIncorrect}, "wrong PIN: 2 tries left before the card locks", pkcs11.ErrPINIncorrect},
		{"wrong PIN, final try", &pkcs11.PINError{RetriesLeft: 1, Err: pkcs11.ErrPINIncorrect}, "wrong PIN: 1 try left before the card locks", pkcs11.ErrPINIncorrect},
		{"wrong PIN, retries unknown", &pkcs11.PINError{RetriesLeft: -1, Err: pkcs11.ErrPINIncorrect}, "wrong PIN", pkcs11.ErrPINIncorrect},
		{"locked", fmt.Errorf("login: %w", pkcs11.ErrPINLocked), "the card is locked after too many wrong PINs; see your registration authority to unlock it", pkcs11.ErrPINLocked},
		{"last try used", &pkcs11.PINError{RetriesLeft: 0, Err: pkcs11.ErrPINIncorrect}, "the card is locked after too many wrong PINs; see your registration authority to unlock it", pkcs11.ErrPINLocked},
		{"removed", fmt.Errorf("sign: %w", pkcs11.ErrTokenRemoved), "no card found (or it was removed); insert your smartcard and try again", pkcs11.ErrTokenRemoved},
		{"no certificate", pkcs11.ErrNoCertificate, "the card has no login certificate and key", pkcs11.ErrNoCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := cardError(tt.err)
			if err.Error() != tt.want {
				t.Errorf("message %q, want %q", err, tt.want)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("%v does not match %v", err, tt.is)
			}
			if strings.Contains(err.Error(), "CKR_") {
				t.Errorf("message leaks a PKCS#11 code: %q", err)
			}
		})
	}
}
