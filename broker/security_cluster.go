package broker

// With a controller, ACLs and SCRAM credentials are cluster metadata, as in
// KRaft (AccessControlEntryRecord, UserScramCredentialRecord and their
// removals): CreateAcls, DeleteAcls and AlterUserScramCredentials are
// decisions of the active controller, and every broker follows the image:
//
//	client ─▶ any broker: authorize, validate ─▶ leader? controller.CreateAcls
//	                                             else forward the same request
//	                                             to the leader's broker listener
//	metadata image ──▶ securityFollower (one goroutine per broker)
//	                     when an image changes ACLs or credentials:
//	                       authorizer.Set(bindings)   (atomic index swap)
//	                       scramStore.users.Store(…)  (atomic snapshot swap)
//
// Requests read those snapshots without a lock; nothing is held across the
// forwarding or the Raft commit. The answer waits (bounded by clusterWait)
// until this broker's follower has applied the change, so a client that
// asks the same broker again reads its own write; every other broker
// applies it when its metadata log does. DescribeAcls and
// DescribeUserScramCredentials answer from the follower's snapshots.
//
// # Start
//
// Until this broker has caught up with the metadata log (the reconciler's
// first pass: its own registration is in the image, so every ACL committed
// before is too) the authorizer has not seen every ACL: a request then
// waits for it up to startWait, and is denied after that unless its
// principal is a super user (Kafka's StandardAuthorizer likewise serves
// only super users before its initial load).
//
// # Takeover of acls.json and scram-credentials.json
//
// A data directory written by a release that kept ACLs and credentials per
// node has acls.json and scram-credentials.json. At the first start with a
// controller, once caught up, the active controller imports them into the
// metadata log (CreateAcls stores a binding it already has only once, and
// a credential upsert is idempotent, so a crash before the rename below
// only repeats the import) and renames them to acls.json.imported and
// scram-credentials.json.imported: kept for the operator, never read
// again. A node that is not the active controller cannot import: it logs
// an error and keeps the files (their ACLs and users are not served) until
// a start where it leads.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/metadata"
)

// importedSuffix is added to acls.json and scram-credentials.json once
// their contents are in the metadata log.
const importedSuffix = ".imported"

// securityFollower keeps the broker's authorizer and SCRAM store at the
// metadata image's ACLs and credentials.
type securityFollower struct {
	b        *Broker
	ctl      *controller.Controller
	caughtUp <-chan struct{} // the reconciler's first pass
	quit     chan struct{}
	done     chan struct{}

	ready   atomic.Bool                    // applied an image at least as new as the caught-up one
	readyCh chan struct{}                  // closed when ready is set
	applied atomic.Pointer[metadata.Image] // the last image applied

	notifyMu sync.Mutex
	notify   chan struct{} // closed after each application
}

func newSecurityFollower(b *Broker, caughtUp <-chan struct{}) *securityFollower {
	return &securityFollower{b: b, ctl: b.cfg.Controller, caughtUp: caughtUp,
		quit: make(chan struct{}), done: make(chan struct{}), readyCh: make(chan struct{}), notify: make(chan struct{})}
}

func (f *securityFollower) start() { go f.loop() }

func (f *securityFollower) stop() {
	close(f.quit)
	<-f.done
}

func (f *securityFollower) loop() {
	defer close(f.done)
	caughtUp := f.caughtUp
	for {
		up := caughtUp == nil || isClosed(caughtUp) // before loading the image: it is then at least as new
		if up {
			caughtUp = nil
		}
		ch := f.ctl.ImageChanged()
		im := f.ctl.Image()
		if prev := f.applied.Load(); !im.SameSecurity(prev) {
			f.apply(im)
		}
		f.applied.Store(im)
		if up && !f.ready.Load() {
			f.ready.Store(true)
			close(f.readyCh)
		}
		f.signal()
		select {
		case <-ch:
		case <-caughtUp: // nil once caught up (then never ready)
		case <-f.quit:
			return
		}
	}
}

// apply swaps in the authorizer's bindings and the SCRAM snapshot of im.
func (f *securityFollower) apply(im *metadata.Image) {
	if az := f.b.acls.auth; az != nil {
		entries := im.ACLs()
		bs := make([]acl.Binding, len(entries))
		for i, e := range entries {
			bs[i] = bindingOf(e)
		}
		az.Set(bs)
	}
	users := scramUsers{}
	for _, c := range im.ScramCredentials() {
		m, ok := scramMechanismTypes[c.Mechanism]
		if !ok {
			continue
		}
		if users[c.Name] == nil {
			users[c.Name] = map[auth.Mechanism]auth.ScramCredential{}
		}
		users[c.Name][m] = auth.ScramCredential{Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: c.Iterations}
	}
	f.b.scram.users.Store(&users)
}

func (f *securityFollower) signal() {
	f.notifyMu.Lock()
	close(f.notify)
	f.notify = make(chan struct{})
	f.notifyMu.Unlock()
}

func (f *securityFollower) passed() <-chan struct{} {
	f.notifyMu.Lock()
	defer f.notifyMu.Unlock()
	return f.notify
}

// await waits until ok holds for the last applied image or the deadline
// passes; it reports whether ok held.
func (f *securityFollower) await(deadline time.Time, ok func(*metadata.Image) bool) bool {
	for {
		ch := f.passed()
		if im := f.applied.Load(); im != nil && ok(im) {
			return true
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return false
		}
		timer := time.NewTimer(wait)
		select {
		case <-ch:
		case <-timer.C:
		case <-f.quit:
			timer.Stop()
			return false
		}
		timer.Stop()
	}
}

// awaitReady waits up to timeout for the first application after catching
// up; it reports whether it happened.
func (f *securityFollower) awaitReady(timeout time.Duration) bool {
	if f.ready.Load() {
		return true
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-f.readyCh:
		return true
	case <-timer.C:
		return false
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// authzStartWait bounds how long a request waits, after a start, for the
// authorizer to catch up with the metadata log (startWait; tests shorten
// it).
var authzStartWait = startWait

// securityReady reports whether principal may be authorized now: always
// without a controller; with one, once the follower is ready (waiting up
// to authzStartWait for it if wait), and for super users at once.
func (b *Broker) securityReady(az *acl.Authorizer, principal string, wait bool) bool {
	if b.cl == nil || b.cl.sec.ready.Load() || az.IsSuperUser(principal) {
		return true
	}
	return wait && b.cl.sec.awaitReady(authzStartWait)
}

func bindingOf(e metadata.AccessControlEntry) acl.Binding {
	return acl.Binding{ResourceType: acl.ResourceType(e.ResourceType), ResourceName: e.ResourceName,
		PatternType: acl.PatternType(e.PatternType), Principal: e.Principal, Host: e.Host,
		Operation: acl.Operation(e.Operation), Permission: acl.Permission(e.Permission)}
}

func entryOf(bd acl.Binding) metadata.AccessControlEntry {
	return metadata.AccessControlEntry{ResourceType: int8(bd.ResourceType), ResourceName: bd.ResourceName,
		PatternType: int8(bd.PatternType), Principal: bd.Principal, Host: bd.Host,
		Operation: int8(bd.Operation), Permission: int8(bd.Permission)}
}

// imageBindings is the set of im's ACL bindings.
func imageBindings(im *metadata.Image) map[acl.Binding]bool {
	entries := im.ACLs()
	out := make(map[acl.Binding]bool, len(entries))
	for _, e := range entries {
		out[bindingOf(e)] = true
	}
	return out
}

// ctlSecurityError maps the controller's errors for the security
// decisions onto Kafka's.
func ctlSecurityError(err error) error {
	if errors.Is(err, controller.ErrNotLeader) || errors.Is(err, controller.ErrClosed) {
		return newAPIError(kerr.NotController, "%v", err)
	}
	return err
}

// createACLsCluster is acls.create with a controller: the valid bindings
// become AccessControlEntry records through the active controller.
func (b *Broker) createACLsCluster(bs []acl.Binding) []error {
	errs := make([]error, len(bs))
	var valid []acl.Binding
	var at []int
	for i, bd := range bs {
		if errs[i] = bd.Validate(); errs[i] == nil {
			valid, at = append(valid, bd), append(at, i)
		}
	}
	if len(valid) == 0 {
		return errs
	}
	fail := func(err error) []error {
		for _, i := range at {
			errs[i] = err
		}
		return errs
	}
	if err := b.awaitReady(clusterWait); err != nil {
		return fail(err)
	}
	ctl := b.cl.ctl
	if ctl.IsLeader() {
		entries := make([]metadata.AccessControlEntry, len(valid))
		for i, bd := range valid {
			entries[i] = entryOf(bd)
		}
		if _, err := ctl.CreateAcls(entries); err != nil {
			return fail(ctlSecurityError(err))
		}
	} else {
		req := kmsg.NewPtrCreateACLsRequest()
		for _, bd := range valid {
			c := kmsg.NewCreateACLsRequestCreation()
			c.ResourceType, c.ResourceName = kmsg.ACLResourceType(bd.ResourceType), bd.ResourceName
			c.ResourcePatternType = kmsg.ACLResourcePatternType(bd.PatternType)
			c.Principal, c.Host = bd.Principal, bd.Host
			c.Operation, c.PermissionType = kmsg.ACLOperation(bd.Operation), kmsg.ACLPermissionType(bd.Permission)
			req.Creations = append(req.Creations, c)
		}
		resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
		if err := b.forward(req, resp); err != nil {
			return fail(err)
		}
		if len(resp.Results) != len(valid) {
			return fail(newAPIError(kerr.UnknownServerError, "The controller answered %d of %d creations.", len(resp.Results), len(valid)))
		}
		var made []acl.Binding
		for k, res := range resp.Results {
			if errs[at[k]] = forwardedError(res.ErrorCode, res.ErrorMessage); errs[at[k]] == nil {
				made = append(made, valid[k])
			}
		}
		valid = made
	}
	b.awaitSecurity("create acls", func(im *metadata.Image) bool {
		have := imageBindings(im)
		for _, bd := range valid {
			if !have[bd] {
				return false
			}
		}
		return true
	})
	return errs
}

// deleteACLsCluster is acls.delete with a controller.
func (b *Broker) deleteACLsCluster(fs []acl.Filter) (matched [][]acl.Binding, errs []error) {
	matched, errs = make([][]acl.Binding, len(fs)), make([]error, len(fs))
	var valid []acl.Filter
	var at []int
	for i, f := range fs {
		if errs[i] = f.Validate(); errs[i] == nil {
			valid, at = append(valid, f), append(at, i)
		}
	}
	if len(valid) == 0 {
		return matched, errs
	}
	fail := func(err error) ([][]acl.Binding, []error) {
		for _, i := range at {
			errs[i] = err
		}
		return matched, errs
	}
	if err := b.awaitReady(clusterWait); err != nil {
		return fail(err)
	}
	ctl := b.cl.ctl
	if ctl.IsLeader() {
		match := make([]func(metadata.AccessControlEntry) bool, len(valid))
		for i, f := range valid {
			match[i] = func(e metadata.AccessControlEntry) bool { return f.Matches(bindingOf(e)) }
		}
		gone, err := ctl.DeleteAcls(match)
		if err != nil {
			return fail(ctlSecurityError(err))
		}
		for k, es := range gone {
			for _, e := range es {
				matched[at[k]] = append(matched[at[k]], bindingOf(e))
			}
		}
	} else {
		req := kmsg.NewPtrDeleteACLsRequest()
		for _, f := range valid {
			rf := kmsg.NewDeleteACLsRequestFilter()
			rf.ResourceType, rf.ResourceName = kmsg.ACLResourceType(f.ResourceType), f.ResourceName
			rf.ResourcePatternType = kmsg.ACLResourcePatternType(f.PatternType)
			rf.Principal, rf.Host = f.Principal, f.Host
			rf.Operation, rf.PermissionType = kmsg.ACLOperation(f.Operation), kmsg.ACLPermissionType(f.Permission)
			req.Filters = append(req.Filters, rf)
		}
		resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
		if err := b.forward(req, resp); err != nil {
			return fail(err)
		}
		if len(resp.Results) != len(valid) {
			return fail(newAPIError(kerr.UnknownServerError, "The controller answered %d of %d filters.", len(resp.Results), len(valid)))
		}
		for k, res := range resp.Results {
			if errs[at[k]] = forwardedError(res.ErrorCode, res.ErrorMessage); errs[at[k]] != nil {
				continue
			}
			for _, m := range res.MatchingACLs {
				matched[at[k]] = append(matched[at[k]], acl.Binding{ResourceType: acl.ResourceType(m.ResourceType),
					ResourceName: m.ResourceName, PatternType: acl.PatternType(m.ResourcePatternType),
					Principal: m.Principal, Host: m.Host, Operation: acl.Operation(m.Operation), Permission: acl.Permission(m.PermissionType)})
			}
		}
	}
	b.awaitSecurity("delete acls", func(im *metadata.Image) bool {
		have := imageBindings(im)
		for _, bs := range matched {
			for _, bd := range bs {
				if have[bd] {
					return false
				}
			}
		}
		return true
	})
	return matched, errs
}

// alterScramCluster applies the users' alterations (those without an
// error in userErr) through the active controller, setting userErr for
// the users it refuses; the error is the failure of the whole request.
func (b *Broker) alterScramCluster(req *kmsg.AlterUserSCRAMCredentialsRequest, order []string,
	byUser map[string][]scramAlteration, userErr map[string]*scramAlteration) error {
	var users []string
	for _, u := range order {
		if userErr[u] == nil {
			users = append(users, u)
		}
	}
	if len(users) == 0 {
		return nil
	}
	if err := b.awaitReady(clusterWait); err != nil {
		return err
	}
	ctl := b.cl.ctl
	if ctl.IsLeader() {
		alts := make([]controller.ScramAlteration, len(users))
		for i, u := range users {
			for _, a := range byUser[u] {
				if a.change.delete {
					alts[i].Deletions = append(alts[i].Deletions, metadata.RemoveUserScramCredential{Name: u, Mechanism: a.mtype})
					continue
				}
				c := a.change.cred
				alts[i].Upserts = append(alts[i].Upserts, metadata.UserScramCredential{Name: u, Mechanism: a.mtype,
					Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: c.Iterations})
			}
		}
		missing, err := ctl.AlterScramCredentials(alts)
		if err != nil {
			return ctlSecurityError(err)
		}
		for i, u := range users {
			if missing[i] {
				userErr[u] = &scramAlteration{err: kerr.ResourceNotFound, msg: "Attempt to delete a user credential that does not exist"}
			}
		}
	} else {
		fwd := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		for _, d := range req.Deletions {
			if userErr[d.Name] == nil {
				fwd.Deletions = append(fwd.Deletions, d)
			}
		}
		for _, u := range req.Upsertions {
			if userErr[u.Name] == nil {
				fwd.Upsertions = append(fwd.Upsertions, u)
			}
		}
		resp := fwd.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
		if err := b.forward(fwd, resp); err != nil {
			return err
		}
		for _, res := range resp.Results {
			if res.ErrorCode == 0 {
				continue
			}
			k, ok := kerr.ErrorForCode(res.ErrorCode).(*kerr.Error)
			if !ok {
				k = kerr.UnknownServerError
			}
			msg := k.Message
			if res.ErrorMessage != nil {
				msg = *res.ErrorMessage
			}
			userErr[res.User] = &scramAlteration{err: k, msg: msg}
		}
	}
	b.awaitSecurity("alter scram credentials", func(*metadata.Image) bool {
		cur := b.scram.snapshot()
		for _, u := range users {
			if userErr[u] != nil {
				continue
			}
			for _, a := range byUser[u] {
				c, ok := cur[u][a.change.m]
				if a.change.delete == ok || (ok && !slices.Equal(c.StoredKey, a.change.cred.StoredKey)) {
					return false
				}
			}
		}
		return true
	})
	return nil
}

// awaitSecurity waits (up to clusterWait) until this broker's follower
// has applied a committed change; the change stands either way.
func (b *Broker) awaitSecurity(what string, ok func(*metadata.Image) bool) {
	if !b.cl.sec.await(time.Now().Add(clusterWait), ok) {
		b.log.Warn("a committed change is not applied on this broker yet", "change", what)
	}
}

// takeoverSecurity imports acls.json and scram-credentials.json into the
// metadata log (see the file comment). Run by the reconciler once caught
// up.
func (r *reconciler) takeoverSecurity() {
	b := r.b
	dir := b.store.Dir()
	_, aclErr := os.Stat(filepath.Join(dir, aclsFile))
	_, scramErr := os.Stat(filepath.Join(dir, scramCredentialsFile))
	hasACLs, hasScram := aclErr == nil, scramErr == nil
	recs, err := readACLs(dir)
	if err != nil {
		b.log.Error("cannot read the ACLs to take over; they are not enforced", "err", err)
		hasACLs = false
	}
	users, err := readScramFile(dir)
	if err != nil {
		b.log.Error("cannot read the SCRAM credentials to take over; they are not served", "err", err)
		hasScram = false
	}
	if !hasACLs && !hasScram {
		return
	}
	if !r.ctl.IsLeader() {
		b.log.Error("this data directory has ACLs or SCRAM credentials (acls.json, scram-credentials.json) the metadata log lacks, and only the active controller can import them: they are kept but not served",
			"acls", len(recs), "users", len(users))
		return
	}
	if hasACLs {
		entries := make([]metadata.AccessControlEntry, len(recs))
		for i, rec := range recs {
			entries[i] = entryOf(rec.Binding)
		}
		if _, err := r.ctl.CreateAcls(entries); err != nil {
			b.log.Error("cannot import acls.json into the metadata log; it is kept", "err", err)
		} else if err := renameImported(dir, aclsFile); err != nil {
			b.log.Error("cannot rename the imported acls.json", "err", err)
		} else {
			b.log.Info("took over acls.json into the metadata log", "acls", len(entries), "kept_as", aclsFile+importedSuffix)
		}
	}
	if hasScram {
		if err := r.importScram(users); err != nil {
			b.log.Error("cannot import scram-credentials.json into the metadata log; it is kept", "err", err)
		} else if err := renameImported(dir, scramCredentialsFile); err != nil {
			b.log.Error("cannot rename the imported scram-credentials.json", "err", err)
		} else {
			b.log.Info("took over scram-credentials.json into the metadata log", "users", len(users), "kept_as", scramCredentialsFile+importedSuffix)
		}
	}
}

func (r *reconciler) importScram(users scramUsers) error {
	var alts []controller.ScramAlteration
	for _, u := range users.sortedUsers() {
		var a controller.ScramAlteration
		for _, m := range []auth.Mechanism{auth.ScramSHA256, auth.ScramSHA512} {
			if c, ok := users[u][m]; ok {
				a.Upserts = append(a.Upserts, metadata.UserScramCredential{Name: u, Mechanism: scramMechanismType(m),
					Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: c.Iterations})
			}
		}
		alts = append(alts, a)
	}
	_, err := r.ctl.AlterScramCredentials(alts)
	return err
}

// renameImported renames dir/name to name.imported and syncs dir.
func renameImported(dir, name string) error {
	from := filepath.Join(dir, name)
	if err := os.Rename(from, from+importedSuffix); err != nil {
		return fmt.Errorf("broker: cannot rename %q: %w", from, err)
	}
	return syncDir(dir)
}
