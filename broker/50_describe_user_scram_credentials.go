package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/netio"
)

// DescribeUserSCRAMCredentials: v0 (KIP-554)
//
// Behavior:
// * Users null or empty: every user with a SCRAM credential, in name
//   order, each with its mechanisms and iteration counts (never salts or
//   keys).
// * Named users: one result each, in request order; a user without
//   credentials gets RESOURCE_NOT_FOUND, a user named twice
//   DUPLICATE_RESOURCE (one result), with Kafka's messages.
// * Answered from this broker's snapshot of the credentials: with a
//   controller the metadata image's, the same on every broker
//   (security_cluster.go); without one scram-credentials.json
//   (scram_credentials.go).

func init() { register(50, 0, 0, handleDescribeUserSCRAMCredentials) }

// scramMechanismTypes are KIP-554's mechanism numbers.
var scramMechanismTypes = map[int8]auth.Mechanism{1: auth.ScramSHA256, 2: auth.ScramSHA512}

func scramMechanismType(m auth.Mechanism) int8 {
	for k, v := range scramMechanismTypes {
		if v == m {
			return k
		}
	}
	return 0
}

func handleDescribeUserSCRAMCredentials(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if resp.ErrorCode = b.denied(r, &chkDescScram, ""); resp.ErrorCode != 0 {
		return r.respond(resp), nil
	}
	users := b.scram.snapshot()
	if len(req.Users) == 0 {
		for _, name := range users.sortedUsers() {
			resp.Results = append(resp.Results, describeScramUser(name, users[name]))
		}
		return r.respond(resp), nil
	}
	count := map[string]int{}
	for _, u := range req.Users {
		count[u.Name]++
	}
	done := map[string]bool{}
	for _, u := range req.Users {
		if done[u.Name] {
			continue
		}
		done[u.Name] = true
		res := describeScramUser(u.Name, users[u.Name])
		switch {
		case count[u.Name] > 1:
			res = scramUserError(u.Name, kerr.DuplicateResource, "Cannot describe SCRAM credentials for the same user twice in a single request")
		case len(users[u.Name]) == 0:
			res = scramUserError(u.Name, kerr.ResourceNotFound, "Attempt to describe a user credential that does not exist")
		}
		resp.Results = append(resp.Results, res)
	}
	return r.respond(resp), nil
}

func describeScramUser(name string, creds map[auth.Mechanism]auth.ScramCredential) kmsg.DescribeUserSCRAMCredentialsResponseResult {
	res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
	res.User = name
	for _, m := range []auth.Mechanism{auth.ScramSHA256, auth.ScramSHA512} {
		if c, ok := creds[m]; ok {
			info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			info.Mechanism, info.Iterations = scramMechanismType(m), c.Iterations
			res.CredentialInfos = append(res.CredentialInfos, info)
		}
	}
	return res
}

func scramUserError(name string, e *kerr.Error, msg string) kmsg.DescribeUserSCRAMCredentialsResponseResult {
	res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
	res.User, res.ErrorCode, res.ErrorMessage = name, e.Code, &msg
	return res
}
