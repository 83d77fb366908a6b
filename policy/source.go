package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
)

// Source is where a policy set comes from. The Engine reads every policy
// file of the source on each (re)load into a snapshot, names the snapshot by
// its content hash and compiles exactly those bytes, so the revision
// recorded with a decision always names the policy that made it.
type Source interface {
	// FS returns the file system holding the policy set at its root.
	FS() (fs.FS, error)
	// Watched reports whether the source may change while the process
	// runs, in which case the Engine polls it.
	Watched() bool
	// String names the source for logs and errors.
	String() string
}

// DirSource is a directory on disk; the Engine polls it for changes.
func DirSource(dir string) Source { return dirSource(dir) }

// FSSource is a fixed file system such as the embedded default policy
// (policies.FS); it is never polled.
func FSSource(fsys fs.FS) Source { return fsSource{fsys} }

type dirSource string

func (d dirSource) FS() (fs.FS, error) {
	st, err := os.Stat(string(d))
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", string(d))
	}
	return os.DirFS(string(d)), nil
}
func (d dirSource) Watched() bool  { return true }
func (d dirSource) String() string { return "dir:" + string(d) }

type fsSource struct{ fsys fs.FS }

func (s fsSource) FS() (fs.FS, error) {
	if s.fsys == nil {
		return nil, errors.New("nil file system")
	}
	return s.fsys, nil
}
func (s fsSource) Watched() bool  { return false }
func (s fsSource) String() string { return "fs" }

// maxPolicyBytes bounds what one snapshot may read: a policy set is a few
// hundred kilobytes; anything near this is a mistake (a log file, a core
// dump) that must not be loaded into every node's memory.
const maxPolicyBytes = 64 << 20

// snapshot is the policy set as read at one moment: slash-separated file
// names relative to the source root and their contents.
type snapshot struct {
	files    map[string][]byte
	revision string
}

// policyFile reports whether name is part of a policy set: Rego modules
// (tests included) and data documents.
func policyFile(name string) bool {
	switch path.Ext(name) {
	case ".rego", ".json", ".yaml", ".yml":
		return true
	}
	return false
}

// skipName reports whether a file or directory is outside the policy set, following
// the go tool: hidden and underscore directories and testdata (fixtures
// for Rego tests that must not become data).
func skipName(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata"
}

// readSnapshot reads every policy file of fsys.
func readSnapshot(fsys fs.FS) (*snapshot, error) {
	files := map[string][]byte{}
	total := 0
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		if skipName(d.Name()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !policyFile(name) {
			return nil
		}
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		if total += len(b); total > maxPolicyBytes {
			return fmt.Errorf("policy set larger than %d bytes", maxPolicyBytes)
		}
		files[name] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &snapshot{files: files, revision: revisionOf(files)}, nil
}

// revisionOf is the short hex SHA-256 of the sorted file names and
// contents, each length-prefixed so that no two sets share an encoding.
// Modification times play no part: touching a file is not a new policy.
func revisionOf(files map[string][]byte) string {
	h := sha256.New()
	var n [8]byte
	for _, name := range slices.Sorted(maps.Keys(files)) {
		for _, part := range [][]byte{[]byte(name), files[name]} {
			binary.BigEndian.PutUint64(n[:], uint64(len(part)))
			h.Write(n[:])
			h.Write(part)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
