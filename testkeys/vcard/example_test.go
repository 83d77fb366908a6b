package vcard_test

import (
	"fmt"

	"github.com/carespine/spineauth/testkeys/vcard"
)

// A card in memory answering APDUs: SELECT of the PIV application, the
// PIN's status, a wrong PIN, and a malformed command.
func ExampleCard_Transmit() {
	st, err := vcard.NewState(nil, vcard.Secret("123456"), vcard.Secret("12345678"))
	if err != nil {
		fmt.Println(err)
		return
	}
	card, err := vcard.New(st, vcard.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, apdu := range [][]byte{
		{0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08},             // SELECT PIV (RID only)
		{0x00, 0x20, 0x00, 0x80},                                                 // VERIFY, no data: tries left
		{0x00, 0x20, 0x00, 0x80, 0x08, '6', '5', '4', '3', '2', '1', 0xFF, 0xFF}, // wrong PIN
		{0x00, 0xCB, 0x3F, 0xFF, 0x05, 0x5C},                                     // Lc says 5, one byte follows
	} {
		r := card.Transmit(apdu)
		fmt.Printf("%X\n", r[len(r)-2:])
	}
	// Output:
	// 9000
	// 63C3
	// 63C2
	// 6700
}
