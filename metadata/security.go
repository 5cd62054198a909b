package metadata

import (
	"maps"
	"reflect"
	"slices"
)

// AccessControlEntry is KRaft's AccessControlEntryRecord: one ACL binding,
// named by ID. Enum fields carry Kafka's codes (AclResourceType,
// PatternType, AclOperation, AclPermissionType).
type AccessControlEntry struct {
	ID           UUID
	ResourceType int8
	ResourceName string
	PatternType  int8
	Principal    string
	Host         string
	Operation    int8
	Permission   int8
}

// RemoveAccessControlEntry removes the ACL binding ID.
type RemoveAccessControlEntry struct {
	ID UUID
}

// ScramKey names a SCRAM credential: a user and a mechanism (Kafka's
// ScramMechanism code: 1 SHA-256, 2 SHA-512).
type ScramKey struct {
	Name      string
	Mechanism int8
}

// UserScramCredential is KRaft's UserScramCredentialRecord: it sets (or
// replaces) one user's credential for one mechanism.
type UserScramCredential struct {
	Name       string
	Mechanism  int8
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int32
}

// RemoveUserScramCredential removes one user's credential for a mechanism.
type RemoveUserScramCredential struct {
	Name      string
	Mechanism int8
}

func (AccessControlEntry) Type() Type            { return TypeAccessControl }
func (RemoveAccessControlEntry) Type() Type      { return TypeRemoveAccessCtl }
func (UserScramCredential) Type() Type           { return TypeScramCredential }
func (RemoveUserScramCredential) Type() Type     { return TypeRemoveScram }
func (AccessControlEntry) Version() uint8        { return 0 }
func (RemoveAccessControlEntry) Version() uint8  { return 0 }
func (UserScramCredential) Version() uint8       { return 0 }
func (RemoveUserScramCredential) Version() uint8 { return 0 }

func (rec AccessControlEntry) encodeFields(w *writer) {
	w.uuid(rec.ID)
	w.int8(rec.ResourceType)
	w.string(rec.ResourceName)
	w.int8(rec.PatternType)
	w.string(rec.Principal)
	w.string(rec.Host)
	w.int8(rec.Operation)
	w.int8(rec.Permission)
}

func (rec *AccessControlEntry) decodeFields(r *reader) {
	rec.ID = r.uuid()
	rec.ResourceType = r.int8()
	rec.ResourceName = r.string()
	rec.PatternType = r.int8()
	rec.Principal = r.string()
	rec.Host = r.string()
	rec.Operation = r.int8()
	rec.Permission = r.int8()
}

func (rec RemoveAccessControlEntry) encodeFields(w *writer)  { w.uuid(rec.ID) }
func (rec *RemoveAccessControlEntry) decodeFields(r *reader) { rec.ID = r.uuid() }

func (rec UserScramCredential) encodeFields(w *writer) {
	w.string(rec.Name)
	w.int8(rec.Mechanism)
	w.string(string(rec.Salt))
	w.string(string(rec.StoredKey))
	w.string(string(rec.ServerKey))
	w.int32(rec.Iterations)
}

func (rec *UserScramCredential) decodeFields(r *reader) {
	rec.Name = r.string()
	rec.Mechanism = r.int8()
	rec.Salt = []byte(r.string())
	rec.StoredKey = []byte(r.string())
	rec.ServerKey = []byte(r.string())
	rec.Iterations = r.int32()
}

func (rec RemoveUserScramCredential) encodeFields(w *writer) {
	w.string(rec.Name)
	w.int8(rec.Mechanism)
}

func (rec *RemoveUserScramCredential) decodeFields(r *reader) {
	rec.Name = r.string()
	rec.Mechanism = r.int8()
}

// ACLs returns every ACL binding, by id.
func (im *Image) ACLs() []AccessControlEntry {
	out := make([]AccessControlEntry, 0, len(im.acls))
	for _, id := range slices.SortedFunc(maps.Keys(im.acls), compareUUID) {
		out = append(out, im.acls[id])
	}
	return out
}

// SameSecurity reports whether im and o share their ACLs and SCRAM
// credentials: true when no record between them changed either (Apply
// keeps the maps it did not write to), so a reader that rebuilds from
// them (a broker's authorizer) can skip the images that leave them alone.
// False may also mean equal contents reached another way (a snapshot
// restored).
func (im *Image) SameSecurity(o *Image) bool {
	return o != nil && sameMap(im.acls, o.acls) && sameMap(im.scram, o.scram)
}

func sameMap[K comparable, V any](a, b map[K]V) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// ScramCredentials returns every SCRAM credential, by user then mechanism.
func (im *Image) ScramCredentials() []UserScramCredential {
	keys := slices.SortedFunc(maps.Keys(im.scram), func(a, b ScramKey) int {
		if c := compareStrings(a.Name, b.Name); c != 0 {
			return c
		}
		return int(a.Mechanism) - int(b.Mechanism)
	})
	out := make([]UserScramCredential, 0, len(keys))
	for _, k := range keys {
		out = append(out, im.scram[k])
	}
	return out
}

func compareUUID(a, b UUID) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

func (b *builder) acl(r AccessControlEntry) error {
	if r.ID.IsZero() {
		return invalid("acl with a zero id")
	}
	if _, ok := b.acls[r.ID]; ok {
		return invalid("acl %s exists", r.ID)
	}
	if !b.aclsOwned {
		b.acls = maps.Clone(b.acls)
		if b.acls == nil {
			b.acls = map[UUID]AccessControlEntry{}
		}
		b.aclsOwned = true
	}
	b.acls[r.ID] = r
	return nil
}

func (b *builder) removeACL(r RemoveAccessControlEntry) error {
	if _, ok := b.acls[r.ID]; !ok {
		return invalid("no acl %s", r.ID)
	}
	if !b.aclsOwned {
		b.acls = maps.Clone(b.acls)
		b.aclsOwned = true
	}
	delete(b.acls, r.ID)
	return nil
}

func (b *builder) ownScram() {
	if !b.scramOwned {
		b.scram = maps.Clone(b.scram)
		if b.scram == nil {
			b.scram = map[ScramKey]UserScramCredential{}
		}
		b.scramOwned = true
	}
}

func (b *builder) scramCredential(r UserScramCredential) error {
	if r.Name == "" || r.Iterations <= 0 {
		return invalid("scram credential %q with %d iterations", r.Name, r.Iterations)
	}
	b.ownScram()
	r.Salt, r.StoredKey, r.ServerKey = slices.Clone(r.Salt), slices.Clone(r.StoredKey), slices.Clone(r.ServerKey)
	b.scram[ScramKey{r.Name, r.Mechanism}] = r
	return nil
}

func (b *builder) removeScram(r RemoveUserScramCredential) error {
	k := ScramKey(r)
	if _, ok := b.scram[k]; !ok {
		return invalid("no scram credential %q/%d", r.Name, r.Mechanism)
	}
	b.ownScram()
	delete(b.scram, k)
	return nil
}

// securityRecords restates the ACLs and SCRAM credentials for a snapshot.
func (im *Image) securityRecords(recs []Record) []Record {
	for _, a := range im.ACLs() {
		recs = append(recs, a)
	}
	for _, c := range im.ScramCredentials() {
		recs = append(recs, c)
	}
	return recs
}
