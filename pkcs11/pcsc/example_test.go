package pcsc_test

import (
	"context"
	"fmt"

	"github.com/carespine/spineauth/pkcs11/pcsc"
)

// Watch reports the cards already in readers, then every change, until
// the context ends.
func ExampleWatch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := pcsc.Watch(ctx, pcsc.Options{})
	if err != nil {
		fmt.Println(err) // another Watch runs in this process
		return
	}
	for e := range events {
		switch e.Kind {
		case pcsc.CardInserted:
			fmt.Printf("card in %s (ATR % X)\n", e.Reader, e.ATR)
		case pcsc.CardRemoved:
			fmt.Printf("card out of %s: end its session now\n", e.Reader)
		case pcsc.ServiceDown:
			fmt.Println("pcscd is gone; every card was reported removed:", e.Err)
		}
	}
}
