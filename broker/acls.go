package broker

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/sluice/sluice/acl"
)

// aclsFile holds the ACLs (written whole, like the broker's other files):
//
//	{"version": 1, "acls": [{"id": "<base64url uuid>", "resourceType": 2,
//	  "resourceName": "orders", "patternType": 3, "principal": "User:ann",
//	  "host": "*", "operation": 3, "permissionType": 3}, …]}
//
// Each element has the fields of KRaft's AccessControlEntryRecord (Kafka's
// enum codes). The file is the truth only for a broker without a
// controller; with one (always in sluiced) ACLs are metadata records, and
// an acls.json found at the first start is imported into the metadata log
// and renamed acls.json.imported (security_cluster.go).
const (
	aclsFile        = "acls.json"
	aclsFileVersion = 1
)

// ErrACLsCorrupt marks an acls.json that cannot be parsed (as opposed to
// one that cannot be read).
var ErrACLsCorrupt = errors.New("broker: acls.json is corrupt")

// aclRecord is one stored ACL: AccessControlEntryRecord.
type aclRecord struct {
	ID string `json:"id"`
	acl.Binding
}

type aclFileContents struct {
	Version int         `json:"version"`
	ACLs    []aclRecord `json:"acls"`
}

// acls is the authorizer and its stored bindings. Authorize reads the
// authorizer's atomic snapshot; mu only serializes writers, whose file
// write must land before the snapshot changes (so no request is allowed by
// an ACL that a crash would forget), and is never taken by requests that
// do not change ACLs.
type acls struct {
	dir  string
	auth *acl.Authorizer // nil: authorization is off
	mu   struct {
		sync.Mutex
		records []aclRecord
	}
}

// openACLs loads acls.json (a missing file is no ACLs). cfg nil: no
// authorizer, every request is allowed, the ACL APIs answer
// SECURITY_DISABLED; stored ACLs are still loaded and kept.
//
// fromFile false (a broker with a controller): acls.json is only checked
// (it is imported later), the ACLs come from the metadata image
// (security_cluster.go).
func openACLs(dir string, cfg *acl.Config, fromFile bool) (*acls, error) {
	a := &acls{dir: dir}
	// A corrupt file stops the start either way: its ACLs (a DENY among
	// them) must not be silently dropped, from this node or from the
	// metadata log it would be imported into.
	recs, err := readACLs(dir)
	if err != nil {
		return nil, err
	}
	if !fromFile {
		recs = nil
	}
	a.mu.records = recs
	if cfg != nil {
		a.auth = acl.New(*cfg)
		a.auth.Set(bindingsOf(recs))
	}
	return a, nil
}

func readACLs(dir string) ([]aclRecord, error) {
	path := filepath.Join(dir, aclsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("broker: cannot read %q: %w", path, err)
	}
	var c aclFileContents
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrACLsCorrupt, path, err)
	}
	if c.Version != aclsFileVersion {
		return nil, fmt.Errorf("%w: %q: version %d, want %d", ErrACLsCorrupt, path, c.Version, aclsFileVersion)
	}
	for _, r := range c.ACLs {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %q: ACL %s: %v", ErrACLsCorrupt, path, r.ID, err)
		}
	}
	return c.ACLs, nil
}

func bindingsOf(recs []aclRecord) []acl.Binding {
	out := make([]acl.Binding, len(recs))
	for i, r := range recs {
		out[i] = r.Binding
	}
	return out
}

// newACLID is a random id in Kafka's Uuid text form.
func newACLID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// commitLocked writes recs to acls.json, then makes them current.
func (a *acls) commitLocked(recs []aclRecord) error {
	data, err := json.MarshalIndent(aclFileContents{Version: aclsFileVersion, ACLs: recs}, "", "  ")
	if err != nil {
		return fmt.Errorf("broker: cannot encode ACLs: %w", err)
	}
	if err := writeFileAtomic(a.dir, aclsFile, append(data, '\n')); err != nil {
		return err
	}
	a.mu.records = recs
	a.auth.Set(bindingsOf(recs))
	return nil
}

// create adds the valid bindings not yet present; errs[i] is nil, or the
// validation error of bs[i], or the write error shared by all.
func (a *acls) create(bs []acl.Binding) []error {
	errs := make([]error, len(bs))
	a.mu.Lock()
	defer a.mu.Unlock()
	have := map[acl.Binding]bool{}
	for _, r := range a.mu.records {
		have[r.Binding] = true
	}
	recs := append([]aclRecord(nil), a.mu.records...)
	for i, b := range bs {
		if errs[i] = b.Validate(); errs[i] != nil || have[b] {
			continue
		}
		have[b] = true
		recs = append(recs, aclRecord{ID: newACLID(), Binding: b})
	}
	if len(recs) == len(a.mu.records) {
		return errs
	}
	if err := a.commitLocked(recs); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs
}

// delete removes every binding some valid filter matches. matched[i] lists
// what filter i matched; errs[i] is its validation error or the write error.
func (a *acls) delete(fs []acl.Filter) (matched [][]acl.Binding, errs []error) {
	matched, errs = make([][]acl.Binding, len(fs)), make([]error, len(fs))
	a.mu.Lock()
	defer a.mu.Unlock()
	gone := make([]bool, len(a.mu.records))
	for i, f := range fs {
		if errs[i] = f.Validate(); errs[i] != nil {
			continue
		}
		for k, r := range a.mu.records {
			if f.Matches(r.Binding) {
				matched[i] = append(matched[i], r.Binding)
				gone[k] = true
			}
		}
	}
	var keep []aclRecord
	for k, r := range a.mu.records {
		if !gone[k] {
			keep = append(keep, r)
		}
	}
	if len(keep) == len(a.mu.records) {
		return matched, errs
	}
	if err := a.commitLocked(keep); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i], matched[i] = err, nil
			}
		}
	}
	return matched, errs
}

// describe returns the bindings f matches, sorted.
func (a *acls) describe(f acl.Filter) []acl.Binding {
	var out []acl.Binding
	for _, b := range a.auth.Bindings() {
		if f.Matches(b) {
			out = append(out, b)
		}
	}
	return out
}
