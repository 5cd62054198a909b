package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// InitProducerID: v0-5
//
// Behavior:
// * With an authorizer: a transactional id needs WRITE on it, else
//   TRANSACTIONAL_ID_AUTHORIZATION_FAILED; an idempotent producer needs
//   IDEMPOTENT_WRITE on the cluster or WRITE on some topic (Kafka 3.x,
//   KIP-679), else CLUSTER_AUTHORIZATION_FAILED.
// * Without a TransactionalID (idempotent producer): a new producer id
//   with epoch 0, every time — also when (v3+) the producer sends its
//   current id and epoch to bump after an error, as Kafka does for
//   non-transactional producers. Ids are never reused, even across
//   restarts (files.go: producer-id-block).
// * v3+: ProducerID and ProducerEpoch must both be -1 or both be set, else
//   INVALID_REQUEST, as in Kafka.
// * With a TransactionalID: UNSUPPORTED_VERSION (35) until the
//   transaction coordinator exists, which Java and franz-go treat as fatal,
//   so a transactional producer fails at once instead of retrying to its
//   timeout (librdkafka stops earlier, at FindCoordinator: see
//   txnUnsupportedCode). An empty TransactionalID is INVALID_REQUEST.

func init() { register(22, 0, 5, handleInitProducerID) }

func handleInitProducerID(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = b.denied(r, &chkInitPIDTxn, *req.TransactionalID)
	} else {
		resp.ErrorCode = b.denied(r, &chkInitPIDIdem, "")
	}
	switch {
	case resp.ErrorCode != 0:
	case r.version >= 3 && (req.ProducerID == -1) != (req.ProducerEpoch == -1):
		resp.ErrorCode = kerr.InvalidRequest.Code
	case req.TransactionalID != nil && *req.TransactionalID == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
	case req.TransactionalID != nil:
		resp.ErrorCode = kerr.UnsupportedVersion.Code
	default:
		id, err := b.producerIDs.next()
		if err != nil {
			b.log.Error("cannot allocate producer id", "err", err)
			resp.ErrorCode = kerr.KafkaStorageError.Code // no Kafka code fits better
			break
		}
		resp.ProducerID, resp.ProducerEpoch = id, 0
	}
	return r.respond(resp), nil
}
