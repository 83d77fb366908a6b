// Package pcsctest starts a private pcscd with the vpcd (virtual smartcard
// reader) driver for one test, so that tests of different packages, and
// other people's pcscd on the same machine, never meet.
//
// # What a test gets
//
//	d := pcsctest.Start(t)            // killed at test end
//	d.Socket                          // value of PCSCLITE_CSOCK_NAME
//	d.Env()                           // os.Environ() plus PCSCLITE_CSOCK_NAME, for child processes
//	d.Readers[0].Addr, d.Readers[1]   // vpcd TCP address of reader 0 and 1
//	d.Readers[0].Name                 // PC/SC reader name, "Virtual PCD 00 00"
//	d.Restart(ctx)                    // same socket and ports, new process
//
// A virtual card (package testkeys/vcard) connects to a reader's Addr as a
// TCP client to be "inserted" and closes the connection to be "removed".
//
// # How it stays private
//
// pcscd 1.9.9 (Debian bookworm) always creates its socket and pid file in
// /run/pcscd: unlike the client library it does not read
// PCSCLITE_CSOCK_NAME, and it has no option for another path. Two pcscd on
// one machine would fight over that directory. So Start runs pcscd in its own
// mount namespace (unshare(1)) with a private directory bind-mounted on
// /run/pcscd. The socket is then <dir>/pcscd.comm on the real file system,
// and clients reach it by setting PCSCLITE_CSOCK_NAME to that path; the
// system socket is never touched. Running as root, this needs nothing else;
// as another user Start adds a user namespace (--map-root-user). A container
// that allows neither (no CAP_SYS_ADMIN, user namespaces off) cannot run
// it: Start then fails with unshare's "Operation not permitted" from the log.
//
// The readers come from a reader.conf.d directory of our own (pcscd -c DIR)
// with one vpcd entry: DEVICENAME /dev/null:<port> makes the driver listen
// on <port> for reader 0 and <port>+1 for reader 1. The driver binds every
// interface (it has no option for loopback only). Ports are picked free at
// start; if another process takes one first, pcscd says so in its log and
// Start retries on another pair.
//
// pcscd runs in the foreground (-f) with its log in the test's temporary
// directory (Daemon.Log, printed when the test fails). This Debian build is
// linked without polkit, so no polkit rule or flag is needed; a client
// running as any user on the socket is served.
//
// # PC/SC from Go (github.com/ebfe/scard)
//
// The client library libpcsclite reads PCSCLITE_CSOCK_NAME from the C
// environment once, at the first SCardEstablishContext of the process, and
// keeps it. A Go test must therefore set it before its first scard call,
// and every scard call in that test binary then talks to that one pcscd:
//
//	var rig *pcsctest.Daemon // shared by the package's tests
//
//	func TestMain(m *testing.M) {
//		d, err := pcsctest.New(context.Background(), "")
//		if err != nil { fmt.Fprintln(os.Stderr, err); os.Exit(1) }
//		d.Setenv() // PCSCLITE_CSOCK_NAME (and OPENSC_CONF); cgo: reaches C's environ
//		rig = d
//		code := m.Run()
//		d.Close()
//		os.RemoveAll(d.Dir)
//		os.Exit(code)
//	}
//
// (t.Setenv works too when the test is the first in its binary to call
// scard, but TestMain makes the order explicit.) This was checked with a
// cgo client of libpcsclite: after os.Setenv it lists the private readers;
// with a wrong path SCardEstablishContext fails with SCARD_E_NO_SERVICE.
// Because the path is read once, a test binary that uses scard in-process
// should share one Daemon across its tests (Restart keeps the socket). Child processes (pcsc_scan,
// opensc-tool, pkcs11-tool) take d.Env() and can use a different pcscd per
// test.
//
// This package is test tooling: never import it from production code.
package pcsctest
