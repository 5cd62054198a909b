package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/sluice/sluice/auth"
)

// scramCredentialsFile holds the SCRAM credentials (KIP-554), replaced
// whole like the broker's other files (writeFileAtomic). It holds what
// Kafka stores, never a password:
//
//	{"version": 1, "users": {"alice": {"SCRAM-SHA-512": {
//	    "salt": base64, "stored_key": base64, "server_key": base64, "iterations": 8192}}}}
//
// The file is the truth only for a broker without a controller; with one
// (always in sluiced) credentials are UserScramCredential records of the
// metadata log, this store holds the image's snapshot (security_cluster.go),
// and a scram-credentials.json found at the first start is imported and
// renamed scram-credentials.json.imported.
const scramCredentialsFile = "scram-credentials.json"

const scramFileVersion = 1

// errCorruptCredentials marks a credentials file that exists but cannot
// be used (kept apart from the errors of reading it).
var errCorruptCredentials = errors.New("broker: corrupt SCRAM credentials file")

type scramFile struct {
	Version int                                         `json:"version"`
	Users   map[string]map[auth.Mechanism]scramFileCred `json:"users"`
}

type scramFileCred struct {
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
	Iterations int32  `json:"iterations"`
}

// scramUsers is an immutable snapshot: user → mechanism → credential.
type scramUsers map[string]map[auth.Mechanism]auth.ScramCredential

// scramStore holds the credentials. Readers (every SCRAM authentication)
// load the snapshot without a lock; alter serializes writers with
// writeMu, which is held across the file write (nothing else takes it).
type scramStore struct {
	dir     string
	users   atomic.Pointer[scramUsers]
	writeMu sync.Mutex
}

// openScramStore loads the credentials file, or, fromFile false (a
// broker with a controller), starts empty: the credentials come from the
// metadata image (security_cluster.go).
func openScramStore(dir string, fromFile bool) (*scramStore, error) {
	s := &scramStore{dir: dir}
	users, err := readScramFile(dir) // corrupt: the start fails either way
	if err != nil {
		return nil, err
	}
	if !fromFile {
		users = scramUsers{}
	}
	s.users.Store(&users)
	return s, nil
}

func readScramFile(dir string) (scramUsers, error) {
	path := filepath.Join(dir, scramCredentialsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return scramUsers{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("broker: cannot read %q: %w", path, err)
	}
	var f scramFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w %q: %v", errCorruptCredentials, path, err)
	}
	if f.Version != scramFileVersion {
		return nil, fmt.Errorf("%w %q: version %d, want %d", errCorruptCredentials, path, f.Version, scramFileVersion)
	}
	out := scramUsers{}
	for user, creds := range f.Users {
		out[user] = map[auth.Mechanism]auth.ScramCredential{}
		for m, c := range creds {
			if !m.IsSCRAM() || c.Iterations < auth.MinIterations || len(c.Salt) == 0 || len(c.StoredKey) == 0 || len(c.ServerKey) == 0 {
				return nil, fmt.Errorf("%w %q: bad %s credential of user %q", errCorruptCredentials, path, m, user)
			}
			out[user][m] = auth.ScramCredential{Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: c.Iterations}
		}
	}
	return out, nil
}

func writeScramFile(dir string, users scramUsers) error {
	f := scramFile{Version: scramFileVersion, Users: map[string]map[auth.Mechanism]scramFileCred{}}
	for user, creds := range users {
		f.Users[user] = map[auth.Mechanism]scramFileCred{}
		for m, c := range creds {
			f.Users[user][m] = scramFileCred{Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: c.Iterations}
		}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("broker: cannot encode SCRAM credentials: %w", err)
	}
	return writeFileAtomic(dir, scramCredentialsFile, append(data, '\n'))
}

func (s *scramStore) lookup(m auth.Mechanism, user string) (auth.ScramCredential, bool) {
	c, ok := (*s.users.Load())[user][m]
	return c, ok
}

// snapshot is the current credentials (do not modify).
func (s *scramStore) snapshot() scramUsers { return *s.users.Load() }

// scramChange is one alteration: an upsertion (cred set) or a deletion.
type scramChange struct {
	user   string
	m      auth.Mechanism
	cred   auth.ScramCredential
	delete bool
}

// alter persists the changes plan returns and then publishes them. plan
// runs under the writer lock with the current credentials (so its checks
// hold when the changes apply). On a write error nothing changes.
func (s *scramStore) alter(plan func(cur scramUsers) []scramChange) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	cur := s.snapshot()
	changes := plan(cur)
	if len(changes) == 0 {
		return nil
	}
	next := make(scramUsers, len(cur))
	for u, creds := range cur {
		next[u] = maps.Clone(creds)
	}
	for _, c := range changes {
		if c.delete {
			delete(next[c.user], c.m)
			if len(next[c.user]) == 0 {
				delete(next, c.user)
			}
			continue
		}
		if next[c.user] == nil {
			next[c.user] = map[auth.Mechanism]auth.ScramCredential{}
		}
		next[c.user][c.m] = c.cred
	}
	if err := writeScramFile(s.dir, next); err != nil {
		return err
	}
	s.users.Store(&next)
	return nil
}

// sortedUsers is the users of u in name order.
func (u scramUsers) sortedUsers() []string {
	out := make([]string, 0, len(u))
	for name := range u {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
