package broker

import (
	"context"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/txn"
)

// ListTransactions: v0-2
//
// Behavior:
// * Every transactional id, filtered by state names (an unknown name is
//   listed in UnknownStateFilters and matches nothing), by producer ids,
//   (v1+) by a transaction running at least DurationFilterMillis (0 or
//   less: no filter), and (v2+) by TransactionalIDPattern, a regular
//   expression (Go's RE2 syntax; one that does not compile is
//   INVALID_REQUEST).
// * With an authorizer (authz.go): only the ids the principal may
//   DESCRIBE are listed, as Kafka.

func init() { register(66, 0, 2, handleListTransactions) }

func handleListTransactions(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	tc := b.txnCoordinatorOr()
	if tc == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return r.respond(resp), nil
	}
	var states []txn.State
	for _, name := range req.StateFilters {
		s, ok := txn.ParseState(name)
		if !ok {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
			continue
		}
		states = append(states, s)
	}
	if len(req.StateFilters) > 0 && len(states) == 0 {
		return r.respond(resp), nil // only unknown states: nothing matches
	}
	var re *regexp.Regexp
	if r.version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		var err error
		if re, err = regexp.Compile(*req.TransactionalIDPattern); err != nil {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return r.respond(resp), nil
		}
	}
	var minDur time.Duration
	if r.version >= 1 && req.DurationFilterMillis > 0 {
		minDur = time.Duration(req.DurationFilterMillis) * time.Millisecond
	}
	for _, l := range tc.List(states, req.ProducerIDFilters, minDur) {
		if re != nil && !re.MatchString(l.TransactionalID) || !b.allowed(r, &chkListTxn, l.TransactionalID) {
			continue
		}
		s := kmsg.NewListTransactionsResponseTransactionState()
		s.TransactionalID, s.ProducerID, s.TransactionState = l.TransactionalID, l.ProducerID, l.State.String()
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return r.respond(resp), nil
}
