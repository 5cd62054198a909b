package partition

// InTransaction reports whether producerID at epoch has an ongoing
// transaction on this partition (a transactional batch appended and no
// marker since). The broker uses it to skip asking the transaction
// coordinator again for every later batch of that transaction, as Kafka's
// verification guard does only for the first one.
func (l *Log) InTransaction(producerID int64, epoch int16) bool {
	l.pmu.Lock()
	defer l.pmu.Unlock()
	e := l.producers[producerID]
	return e != nil && e.epoch == epoch && e.txnFirstOffset >= 0
}
