package broker

import (
	"context"
	"errors"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/partition"
)

// errorCode maps an error from partition (or the broker's own sentinels) to
// a Kafka error code; nil is 0. Anything unrecognised becomes
// UNKNOWN_SERVER_ERROR (-1), worth a log line by the caller.
//
// Storage errors are KAFKA_STORAGE_ERROR (56), as Kafka answers for a log
// on an offline or failing disk: partition.ErrStorage, and the I/O errnos
// of a full, failing or read-only disk wherever they come from (the
// broker's own files too). Corruption found on disk (partition.ErrCorruption
// under ErrStorage) is a storage error as well; a corrupt batch sent by a
// client is ErrCorruptMessage (CORRUPT_MESSAGE, 2), matched first.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	for _, m := range errorCodes {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	return kerr.UnknownServerError.Code
}

var errorCodes = []struct {
	err  error
	code int16
}{
	{partition.ErrOffsetOutOfRange, kerr.OffsetOutOfRange.Code},
	{partition.ErrCorruptMessage, kerr.CorruptMessage.Code},
	{partition.ErrMessageTooLarge, kerr.MessageTooLarge.Code},
	{partition.ErrInvalidRecord, kerr.InvalidRecord.Code},
	{partition.ErrInvalidTimestamp, kerr.InvalidTimestamp.Code},
	{partition.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber.Code},
	{partition.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch.Code},
	{partition.ErrUnknownProducerID, kerr.UnknownProducerID.Code},
	{partition.ErrStorage, kerr.KafkaStorageError.Code},
	{syscall.ENOSPC, kerr.KafkaStorageError.Code},
	{syscall.EDQUOT, kerr.KafkaStorageError.Code},
	{syscall.EIO, kerr.KafkaStorageError.Code},
	{syscall.EROFS, kerr.KafkaStorageError.Code},
	{syscall.EFBIG, kerr.KafkaStorageError.Code},
	{partition.ErrClosed, kerr.NotLeaderForPartition.Code},
	{partition.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch.Code},
	{partition.ErrNotLeaderEpoch, kerr.NotLeaderForPartition.Code},
	{partition.ErrUnknownLeaderEpoch, kerr.UnknownLeaderEpoch.Code},
	{partition.ErrPolicyViolation, kerr.PolicyViolation.Code},
	{partition.ErrInvalidConfig, kerr.InvalidConfig.Code},
	{partition.ErrInvalidTxnState, kerr.InvalidTxnState.Code},
	{partition.ErrTransactionCoordinatorFenced, kerr.TransactionCoordinatorFenced.Code},
	{errInvalidTopic, kerr.InvalidTopicException.Code},
	{errTopicExists, kerr.TopicAlreadyExists.Code},
	{errUnknownTopic, kerr.UnknownTopicOrPartition.Code},
	{errInvalidPartitions, kerr.InvalidPartitions.Code},
	{errInvalidConfig, kerr.InvalidConfig.Code},
	{context.Canceled, kerr.RequestTimedOut.Code},
	{context.DeadlineExceeded, kerr.RequestTimedOut.Code},
}
