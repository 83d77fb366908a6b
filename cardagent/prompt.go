package cardagent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/term"

	"github.com/carespine/spineauth/pkcs11"
)

// Prompter is how the daemon talks to the person at the workstation.
// Calls may come from several readers at once; implementations ask one
// question at a time.
type Prompter interface {
	// PIN asks for the PIN of the card in reader; note, when not empty,
	// is said first (such as how many tries remain).
	PIN(ctx context.Context, reader, note string) (pkcs11.PIN, error)
	// ChooseRole asks which role profile to use and returns its ID, or ""
	// to choose later.
	ChooseRole(ctx context.Context, reader string, profiles []RoleProfile) (string, error)
	// Tell says something to the user.
	Tell(reader, msg string)
}

// errNoAnswer: the prompt has no more input (its file was closed).
var errNoAnswer = errors.New("no answer: the prompt's input is closed")

// LinePrompter reads one answer per line from r: for a PIN the PIN, for a
// role the profile's 12-digit ID or its number in the list (1, 2, ...) or
// an empty line to choose later. Messages go to w. It serves scripts and
// tests through a file descriptor (`cardagent watch --pin-fd N`), never
// argv or the environment.
type LinePrompter struct {
	w     io.Writer
	mu    sync.Mutex // one question at a time; guards w
	lines chan string
}

// NewLinePrompter starts reading lines from r.
func NewLinePrompter(r io.Reader, w io.Writer) *LinePrompter {
	p := &LinePrompter{w: w, lines: make(chan string)}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 256), 256)
		for sc.Scan() {
			p.lines <- strings.TrimRight(sc.Text(), "\r")
		}
	}()
	return p
}

func (p *LinePrompter) ask(ctx context.Context, question string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, question)
	select {
	case l, ok := <-p.lines:
		if !ok {
			return "", errNoAnswer
		}
		return l, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// PIN implements Prompter.
func (p *LinePrompter) PIN(ctx context.Context, reader, note string) (pkcs11.PIN, error) {
	q := fmt.Sprintf("[%s] PIN:", reader)
	if note != "" {
		q = fmt.Sprintf("[%s] %s\n[%s] PIN:", reader, note, reader)
	}
	l, err := p.ask(ctx, q)
	if err != nil {
		return pkcs11.PIN{}, err
	}
	return pkcs11.NewPIN(l)
}

// ChooseRole implements Prompter.
func (p *LinePrompter) ChooseRole(ctx context.Context, reader string, profiles []RoleProfile) (string, error) {
	l, err := p.ask(ctx, rolesQuestion(reader, profiles))
	if err != nil {
		return "", err
	}
	return pickRole(l, profiles)
}

// Tell implements Prompter.
func (p *LinePrompter) Tell(reader, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%s] %s\n", reader, msg)
}

func rolesQuestion(reader string, profiles []RoleProfile) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] choose a role profile:\n", reader)
	for i, rp := range profiles {
		fmt.Fprintf(&b, "  %d) %s %s %s at %s\n", i+1, rp.ID, rp.JobRole, rp.JobRoleName, rp.Org)
	}
	fmt.Fprintf(&b, "[%s] role (number or ID, empty to choose later):", reader)
	return b.String()
}

// pickRole reads an answer to rolesQuestion.
func pickRole(answer string, profiles []RoleProfile) (string, error) {
	answer = strings.TrimSpace(answer)
	if answer == "" {
		return "", nil
	}
	for _, rp := range profiles {
		if rp.ID == answer {
			return rp.ID, nil
		}
	}
	if n, err := strconv.Atoi(answer); err == nil && n >= 1 && n <= len(profiles) {
		return profiles[n-1].ID, nil
	}
	return "", fmt.Errorf("%q is not one of the role profiles offered", answer)
}

// TerminalPrompter asks on the controlling terminal without echoing the
// PIN.
type TerminalPrompter struct {
	tty *os.File
	mu  sync.Mutex // one question at a time
}

// NewTerminalPrompter opens /dev/tty.
func NewTerminalPrompter() (*TerminalPrompter, error) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("no terminal to ask for the PIN (use --pin-fd): %w", err)
	}
	if !term.IsTerminal(int(f.Fd())) {
		f.Close()
		return nil, errors.New("/dev/tty is not a terminal (use --pin-fd)")
	}
	return &TerminalPrompter{tty: f}, nil
}

// read runs fn (a blocking terminal read) and gives up waiting when ctx
// ends; the read then finishes in the background and its answer is
// dropped.
func (p *TerminalPrompter) read(ctx context.Context, fn func() (string, error)) (string, error) {
	type answer struct {
		s   string
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		s, err := fn()
		ch <- answer{s, err}
	}()
	select {
	case a := <-ch:
		return a.s, a.err
	case <-ctx.Done():
		fmt.Fprintln(p.tty)
		return "", ctx.Err()
	}
}

// PIN implements Prompter.
func (p *TerminalPrompter) PIN(ctx context.Context, reader, note string) (pkcs11.PIN, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if note != "" {
		fmt.Fprintf(p.tty, "%s\n", note)
	}
	fmt.Fprintf(p.tty, "Smartcard PIN (%s): ", reader)
	s, err := p.read(ctx, func() (string, error) {
		b, err := term.ReadPassword(int(p.tty.Fd()))
		fmt.Fprintln(p.tty)
		return string(b), err
	})
	if err != nil {
		return pkcs11.PIN{}, err
	}
	return pkcs11.NewPIN(s)
}

// ChooseRole implements Prompter.
func (p *TerminalPrompter) ChooseRole(ctx context.Context, reader string, profiles []RoleProfile) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.tty, rolesQuestion(reader, profiles)+" ")
	s, err := p.read(ctx, func() (string, error) {
		return bufio.NewReader(p.tty).ReadString('\n')
	})
	if err != nil {
		return "", err
	}
	return pickRole(s, profiles)
}

// Tell implements Prompter.
func (p *TerminalPrompter) Tell(reader, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.tty, "[%s] %s\n", reader, msg)
}

var (
	_ Prompter = (*LinePrompter)(nil)
	_ Prompter = (*TerminalPrompter)(nil)
)
