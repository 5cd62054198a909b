package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/netio"
)

// AlterUserSCRAMCredentials: v0 (KIP-554)
//
// Behavior:
// * Upsertions carry the client-salted password (RFC 5802 Hi); the broker
//   stores salt, StoredKey, ServerKey and iterations (auth.NewScramCredential),
//   never the password. Deletions
//   remove one mechanism of a user.
// * One result per user, in order of first appearance. A user whose
//   alterations include an error gets that error and none of them is
//   applied: an unknown mechanism UNSUPPORTED_SASL_MECHANISM, iterations
//   outside 4096-16384 or an empty name, salt or salted password
//   UNACCEPTABLE_CREDENTIAL, the same user and mechanism twice
//   DUPLICATE_RESOURCE, deleting a missing credential RESOURCE_NOT_FOUND
//   (Kafka's messages).
// * With a controller (always in sluiced) the alterations are a decision
//   of the active controller: UserScramCredential and
//   RemoveUserScramCredential records in the metadata log, forwarded to
//   the controller's broker from any other (security_cluster.go), so every
//   broker authenticates with them; the answer waits until this broker
//   applied them. A controller that cannot be reached answers
//   NOT_CONTROLLER.
// * Without one (a broker embedded without a quorum) they are in
//   scram-credentials.json, fsync'd before the response; a failed write
//   answers every user KAFKA_STORAGE_ERROR and changes nothing.
// * Connections already authenticated stay so; new authentications use
//   the new credentials at once.

func init() { register(51, 0, 0, handleAlterUserSCRAMCredentials) }

// scramAlteration is one deletion or upsertion of a request.
type scramAlteration struct {
	change scramChange
	mtype  int8
	err    *kerr.Error
	msg    string
}

func handleAlterUserSCRAMCredentials(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	var order []string
	byUser := map[string][]scramAlteration{}
	add := func(a scramAlteration) {
		if _, seen := byUser[a.change.user]; !seen {
			order = append(order, a.change.user)
		}
		byUser[a.change.user] = append(byUser[a.change.user], a)
	}
	for _, d := range req.Deletions {
		add(checkScramAlteration(d.Name, d.Mechanism, scramChange{user: d.Name, delete: true}, 0, nil, nil))
	}
	for _, u := range req.Upsertions {
		add(checkScramAlteration(u.Name, u.Mechanism, scramChange{user: u.Name}, u.Iterations, u.Salt, u.SaltedPassword))
	}
	userErr := map[string]*scramAlteration{}
	denied := b.denied(r, &chkAlterScram, "") != 0
	for _, user := range order {
		if denied {
			userErr[user] = &scramAlteration{err: kerr.ClusterAuthorizationFailed, msg: kerr.ClusterAuthorizationFailed.Message}
		} else if e := firstScramError(byUser[user]); e != nil {
			userErr[user] = e
		}
	}
	var err error
	if b.cl != nil {
		err = b.alterScramCluster(req, order, byUser, userErr)
	} else {
		err = b.alterScramFile(order, byUser, userErr)
	}
	for _, user := range order {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = user
		switch e := userErr[user]; {
		case e != nil:
			msg := e.msg
			res.ErrorCode, res.ErrorMessage = e.err.Code, &msg
		case b.cl != nil && err != nil:
			res.ErrorCode, res.ErrorMessage = b.errorResult(err, "alter scram credentials")
		case err != nil:
			msg := "cannot store the credentials: " + err.Error()
			res.ErrorCode, res.ErrorMessage = kerr.KafkaStorageError.Code, &msg
		}
		resp.Results = append(resp.Results, res)
	}
	if err != nil && b.cl == nil {
		b.log.Error("cannot store SCRAM credentials", "err", err)
	}
	return r.respond(resp), nil
}

// alterScramFile applies the users' alterations (those without an error
// in userErr) to scram-credentials.json, setting userErr for the users
// whose deletion names a missing credential.
func (b *Broker) alterScramFile(order []string, byUser map[string][]scramAlteration, userErr map[string]*scramAlteration) error {
	return b.scram.alter(func(cur scramUsers) []scramChange {
		var changes []scramChange
		for _, user := range order {
			if userErr[user] != nil {
				continue
			}
			if missingCred(cur, byUser[user]) {
				userErr[user] = &scramAlteration{err: kerr.ResourceNotFound, msg: "Attempt to delete a user credential that does not exist"}
				continue
			}
			for _, a := range byUser[user] {
				changes = append(changes, a.change)
			}
		}
		return changes
	})
}

// missingCred reports whether one of as deletes a credential cur lacks.
func missingCred(cur scramUsers, as []scramAlteration) bool {
	for _, a := range as {
		if _, ok := cur[a.change.user][a.change.m]; a.change.delete && !ok {
			return true
		}
	}
	return false
}

// checkScramAlteration validates one alteration and, for an upsertion,
// derives the credential to store.
func checkScramAlteration(name string, mtype int8, c scramChange, iters int32, salt, salted []byte) scramAlteration {
	a := scramAlteration{change: c, mtype: mtype}
	m, ok := scramMechanismTypes[mtype]
	a.change.m = m
	switch {
	case name == "":
		a.err, a.msg = kerr.UnacceptableCredential, "Username must not be empty"
	case !ok:
		a.err, a.msg = kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism"
	case c.delete:
	case iters < auth.MinIterations:
		a.err, a.msg = kerr.UnacceptableCredential, "Too few iterations"
	case iters > auth.MaxIterations:
		a.err, a.msg = kerr.UnacceptableCredential, "Too many iterations"
	case len(salt) == 0:
		a.err, a.msg = kerr.UnacceptableCredential, "Salt must not be empty"
	case len(salted) == 0:
		a.err, a.msg = kerr.UnacceptableCredential, "Salted password must not be empty"
	default:
		a.change.cred = auth.NewScramCredential(m, salt, salted, iters)
	}
	return a
}

// firstScramError is the error of a user's alterations, if any: one of
// them failed its checks, or two share a mechanism.
func firstScramError(as []scramAlteration) *scramAlteration {
	seen := map[int8]bool{}
	for i := range as {
		if as[i].err != nil {
			return &as[i]
		}
		if seen[as[i].mtype] {
			return &scramAlteration{err: kerr.DuplicateResource, msg: "A user credential cannot be altered twice in the same request"}
		}
		seen[as[i].mtype] = true
	}
	return nil
}
