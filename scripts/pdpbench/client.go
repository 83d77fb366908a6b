package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// tlsFiles are the --cert, --key and --ca flags every client command has.
type tlsFiles struct {
	cert, key, ca string
}

func (f *tlsFiles) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cert, "cert", "", "client certificate (PEM) for mutual TLS")
	fs.StringVar(&f.key, "key", "", "private key (PEM) of --cert")
	fs.StringVar(&f.ca, "ca", "", "CA certificate (PEM) that issued the server's certificate")
}

// config builds the client TLS configuration. Without --ca the system
// roots apply; a certificate and its key go together.
func (f tlsFiles) config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if (f.cert == "") != (f.key == "") {
		return nil, usagef("--cert and --key go together")
	}
	if f.cert != "" {
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", f.ca)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// newTransport is an HTTP/1.1 keep-alive transport sized for conns
// concurrent callers. http.DefaultTransport keeps only 2 idle connections
// per host, so 32 closed-loop workers would keep closing and re-dialling
// (and re-handshaking TLS) and the run would measure that instead of the
// servers. HTTP/2 is switched off: every worker gets its own connection,
// the way separate spine service instances would call.
func newTransport(tc *tls.Config, conns int) *http.Transport {
	if conns < 1 {
		conns = 1
	}
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tc = tc.Clone()
	tc.NextProtos = []string{"http/1.1"}
	return &http.Transport{
		Proxy: nil, // loopback only: never a proxy from the environment
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   5 * time.Second,
		ForceAttemptHTTP2:     false,
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 30 * time.Second,
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        16 << 10,
	}
}

// newClient is an *http.Client on newTransport.
func newClient(tc *tls.Config, conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: newTransport(tc, conns),
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// checkLoopback refuses a URL whose host is not a loopback address: the
// harness never sends anything off the machine.
func checkLoopback(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, usagef("url %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, usagef("url %q: scheme must be http or https", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return u, nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, usagef("url %q: only loopback addresses are allowed", raw)
	}
	return u, nil
}

// runWait polls a URL until it answers 200 or the timeout passes.
func runWait(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("wait", stderr)
	var files tlsFiles
	files.register(fs)
	rawURL := fs.String("url", "", "URL to poll (GET) until it answers 200")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	u, err := checkLoopback(*rawURL)
	if err != nil {
		return err
	}
	tc, err := files.config()
	if err != nil {
		return err
	}
	client := newClient(tc, 1, 2*time.Second)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Fprintf(stdout, "%s is up\n", u.Redacted())
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("%s did not come up within %s", u.Redacted(), *timeout), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
