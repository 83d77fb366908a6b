// Package pgtest gives tests a real PostgreSQL and an isolated place in
// it. New finds a server: the DSN in $SPINEAUTH_TEST_POSTGRES if set (the
// test fails if it does not answer), else database "test" on
// 127.0.0.1:5432 as user postgres or root (trust authentication) if one
// answers, else a private server it creates with initdb in a temporary
// directory and starts on a free loopback port, stopped and removed when
// the test ends. Server.DSN then creates a fresh schema for one test and
// returns a DSN whose search_path names it; the schema is dropped when
// that test ends, so parallel tests and packages never see each other's
// rows.
//
// It is for tests only and must not be imported by production code. It
// never points at anything but the configured DSN or loopback, and it
// does not import package registration (whose own tests use it).
package pgtest
