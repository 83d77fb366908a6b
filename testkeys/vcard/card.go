package vcard

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// maxChain bounds the data one chain of commands may carry.
const maxChain = 16 << 10

// pivAID is the full PIV application identifier (SP 800-73-4 part 1, 2.2).
var pivAID = []byte{0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00}

// Options are a card's dependencies.
type Options struct {
	Logger *slog.Logger // nil: discard
	Rand   io.Reader    // nil: crypto/rand
	// StatePath, when set, is where every change of state is saved before
	// the card answers.
	StatePath string
	// GenerateRSA, when set, makes the RSA-2048 keys of GENERATE
	// ASYMMETRIC KEY PAIR instead of rsa.GenerateKey: fuzzing uses a
	// fixed key, because generating one can outlast a short fuzz run.
	GenerateRSA func() (*rsa.PrivateKey, error)
}

// Card is a virtual PIV card. Its methods are safe for concurrent use.
type Card struct {
	log         *slog.Logger
	rand        io.Reader
	path        string
	generateRSA func() (*rsa.PrivateKey, error)

	mu  sync.Mutex
	st  *State   // guarded by mu
	vol volatile // guarded by mu

	conn connState // insertion into a vpcd reader; see vpcd.go
}

// volatile is what a card forgets at power off or reset.
type volatile struct {
	selected bool
	pinOK    bool // PIV PIN verified
	mgmtOK   bool // card management key authenticated
	// chain accumulates a command chain: INS/P1/P2 of its first part.
	chain    []byte
	chainHdr [3]byte
	inChain  bool
	pending  []byte // response bytes GET RESPONSE still has to send
	// management key authentication in progress
	mgmtStep      byte // 0 none, 0x80 witness sent (mutual), 0x81 challenge sent (external)
	mgmtChallenge []byte
}

// New returns a card holding st (which it validates and then owns).
func New(st *State, opts Options) (*Card, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	c := &Card{log: opts.Logger, rand: opts.Rand, path: opts.StatePath, generateRSA: opts.GenerateRSA, st: st}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.generateRSA == nil {
		c.generateRSA = func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(c.rand, 2048) }
	}
	return c, nil
}

// Open loads the card whose state is in path; changes are saved there.
func Open(path string, opts Options) (*Card, error) {
	st, err := LoadState(path)
	if err != nil {
		return nil, err
	}
	opts.StatePath = path
	return New(st, opts)
}

// ATR is the card's answer to reset: T=1, historical bytes "spine-vcard".
func (c *Card) ATR() []byte { return atr }

var atr = func() []byte {
	hist := []byte("spine-vcard")
	b := []byte{0x3B, 0x80 | byte(len(hist)), 0x80, 0x01}
	b = append(b, hist...)
	var tck byte
	for _, x := range b[1:] {
		tck ^= x
	}
	return append(b, tck)
}()

// PowerOff, PowerOn and Reset clear the security status, the selected
// application and any chain or pending response.
func (c *Card) Reset() {
	c.mu.Lock()
	c.vol = volatile{}
	c.mu.Unlock()
}

// Transmit processes one command APDU and returns the response APDU (data
// and status word). It never panics: a malformed command gets its status
// word, and an internal failure 6F00.
func (c *Card) Transmit(apdu []byte) (resp []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("vcard: internal error", "panic", fmt.Sprint(r))
			c.vol = volatile{selected: c.vol.selected}
			resp = []byte{0x6F, 0x00}
		}
	}()
	return c.transmit(apdu)
}

// transmit is Transmit without the lock and the panic guard (the fuzz test
// calls it so that a panic is found, not hidden).
func (c *Card) transmit(apdu []byte) []byte {
	cmd, err := ParseCommand(apdu)
	if err != nil {
		c.vol.pending, c.vol.inChain, c.vol.chain = nil, false, nil
		return sw(swOf(err))
	}
	data, err := c.dispatch(cmd)
	code := uint16(swOK)
	if err != nil {
		code = swOf(err)
		data = nil
	}
	c.log.Debug("vcard: apdu", "ins", fmt.Sprintf("%02X", cmd.INS), "p1", fmt.Sprintf("%02X", cmd.P1),
		"p2", fmt.Sprintf("%02X", cmd.P2), "lc", len(cmd.Data), "sw", fmt.Sprintf("%04X", code), "reason", reason(err))
	if err != nil {
		return sw(code)
	}
	return c.respond(data, cmd.Ne)
}

func reason(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func sw(code uint16) []byte { return []byte{byte(code >> 8), byte(code)} }

// respond sends at most ne bytes of data; the rest waits for GET RESPONSE.
func (c *Card) respond(data []byte, ne int) []byte {
	c.vol.pending = nil
	if len(data) == 0 {
		return sw(swOK)
	}
	if ne == 0 {
		// The command had no Le: the terminal expects no data. Keep it for
		// GET RESPONSE, as cards do when a case 3 command produces data.
		c.vol.pending = data
		return sw(swMoreData | uint16(min(len(data), 256)&0xFF))
	}
	if len(data) <= ne {
		return append(append([]byte{}, data...), 0x90, 0x00)
	}
	c.vol.pending = data[ne:]
	out := append([]byte{}, data[:ne]...)
	return append(out, sw(swMoreData|uint16(min(len(c.vol.pending), 256)&0xFF))...)
}

// dispatch handles one parsed command: CLA checks, chaining, GET RESPONSE,
// then the instruction.
func (c *Card) dispatch(cmd Command) ([]byte, error) {
	if cmd.CLA&^0x10 != 0x00 {
		c.vol.pending, c.vol.inChain, c.vol.chain = nil, false, nil
		return nil, swErr(swCLANotSupported, "class %02X", cmd.CLA)
	}
	if cmd.INS == 0xC0 { // GET RESPONSE
		if cmd.Chained() || cmd.P1 != 0 || cmd.P2 != 0 || len(cmd.Data) != 0 {
			c.vol.pending = nil
			return nil, swErr(swIncorrectP1P2, "GET RESPONSE parameters")
		}
		if c.vol.pending == nil {
			return nil, swErr(swConditionsNotMet, "no response data waiting")
		}
		data := c.vol.pending
		return data, nil
	}
	c.vol.pending = nil
	hdr := [3]byte{cmd.INS, cmd.P1, cmd.P2}
	if c.vol.inChain && hdr != c.vol.chainHdr {
		c.vol.inChain, c.vol.chain = false, nil
		return nil, swErr(swLastCmdExpected, "chain interrupted by another command")
	}
	if cmd.Chained() {
		switch cmd.INS {
		case 0x87, 0xDB, 0x24, 0x2C, 0x20, 0x47:
		default:
			return nil, swErr(swChainingNotSupp, "no chaining for INS %02X", cmd.INS)
		}
		if len(c.vol.chain)+len(cmd.Data) > maxChain {
			c.vol.inChain, c.vol.chain = false, nil
			return nil, swErr(swWrongLength, "chained data over %d bytes", maxChain)
		}
		c.vol.inChain, c.vol.chainHdr = true, hdr
		c.vol.chain = append(c.vol.chain, cmd.Data...)
		return nil, nil
	}
	if c.vol.inChain {
		if len(c.vol.chain)+len(cmd.Data) > maxChain {
			c.vol.inChain, c.vol.chain = false, nil
			return nil, swErr(swWrongLength, "chained data over %d bytes", maxChain)
		}
		cmd.Data = append(c.vol.chain, cmd.Data...)
		c.vol.inChain, c.vol.chain = false, nil
	}
	if cmd.INS == 0xA4 {
		return c.selectApp(cmd)
	}
	if !c.vol.selected {
		switch cmd.INS {
		case 0xCB, 0x20, 0x24, 0x2C, 0x87, 0x47, 0xDB:
			return nil, swErr(swConditionsNotMet, "PIV application not selected")
		}
		return nil, swErr(swINSNotSupported, "instruction %02X", cmd.INS)
	}
	switch cmd.INS {
	case 0xCB:
		return c.getData(cmd)
	case 0x20:
		return c.verify(cmd)
	case 0x24:
		return c.changeReference(cmd)
	case 0x2C:
		return c.resetRetryCounter(cmd)
	case 0x87:
		return c.generalAuthenticate(cmd)
	case 0x47:
		return c.generate(cmd)
	case 0xDB:
		return c.putData(cmd)
	}
	return nil, swErr(swINSNotSupported, "instruction %02X", cmd.INS)
}

// commit applies change to a copy of the state, saves it (when the card has
// a state file) and only then makes it current: the card never acts on a
// state it could not persist.
func (c *Card) commit(change func(st *State)) error {
	next := c.st.clone()
	change(next)
	if c.path != "" {
		if err := next.Save(c.path); err != nil {
			c.log.Error("vcard: state not saved", "err", err)
			return swErr(swMemoryFailure, "state not saved")
		}
	}
	c.st = next
	return nil
}

// Snapshot returns a copy of the card's current state.
func (c *Card) Snapshot() *State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.clone()
}
