"""confluent-kafka-python (Debian's python3-confluent-kafka, on librdkafka)
against Sluice; run by e2e/langs_test.go.

  confluent.py produce ADDR TOPIC N
      N keyed records (acks=all, idempotent); prints "librdkafka VERSION" and
      "sent P OFFSET KEY VALUE" from each delivery report.
  confluent.py consume ADDR TOPIC GROUP N
      a group member from the earliest offset: prints "record P OFFSET KEY
      VALUE" for N records, commits synchronously, closes.
  confluent.py txn ADDR TOPIC TXNID
      transactions of producer A (transactional.id TXNID): c00-c09
      committed, a00-a09 flushed then aborted, c10-c14 committed; then
      producer B with the same id (init_transactions fences A); A's next
      transaction fails; B commits b00-b04. Prints "committed KEY" and
      "aborted KEY" once each transaction's outcome is acknowledged, and
      "fenced FATAL NAME" for A's failure.
  confluent.py read ADDR TOPIC ISOLATION
      reads every partition from the beginning to its end (the last stable
      offset under read_committed) without a group; prints "record P
      OFFSET KEY VALUE".
"""
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


def out(*words):
    print(*words, flush=True)


def produce(addr, topic, n):
    out("librdkafka", __import__("confluent_kafka").libversion()[0])
    p = Producer({"bootstrap.servers": addr, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 5})

    def report(err, msg):
        if err is not None:
            sys.exit("delivery failed: %s" % err)
        out("sent", msg.partition(), msg.offset(), msg.key().decode(), msg.value().decode())

    for i in range(int(n)):
        p.produce(topic, key=b"k%03d" % (i % 37), value=b"v%03d" % i, on_delivery=report)
        p.poll(0)
    if p.flush(20) != 0:
        sys.exit("records still undelivered after 20 s")


def consume(addr, topic, group, n):
    c = Consumer({"bootstrap.servers": addr, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 6000})
    c.subscribe([topic])
    got, deadline = 0, time.monotonic() + 25
    while got < int(n):
        if time.monotonic() > deadline:
            sys.exit("read %d of %s records in 25 s" % (got, n))
        msg = c.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            sys.exit("consume: %s" % msg.error())
        out("record", msg.partition(), msg.offset(), msg.key().decode(), msg.value().decode())
        got += 1
    c.commit(asynchronous=False)
    c.close()


def txn_producer(addr, txnid):
    p = Producer({"bootstrap.servers": addr, "transactional.id": txnid, "linger.ms": 5})
    p.init_transactions(20)
    return p


def one_txn(p, topic, keys, commit):
    p.begin_transaction()
    for k in keys:
        p.produce(topic, key=k.encode(), value=("v-" + k).encode())
    if p.flush(20) != 0:
        sys.exit("records still undelivered after 20 s")
    if commit:
        p.commit_transaction(20)
    else:
        p.abort_transaction(20)
    for k in keys:
        out("committed" if commit else "aborted", k)


def txn(addr, topic, txnid):
    a = txn_producer(addr, txnid)
    one_txn(a, topic, ["c%02d" % i for i in range(10)], True)
    one_txn(a, topic, ["a%02d" % i for i in range(10)], False)
    one_txn(a, topic, ["c%02d" % i for i in range(10, 15)], True)
    b = txn_producer(addr, txnid)  # fences a
    try:
        one_txn(a, topic, ["z%02d" % i for i in range(5)], True)
        sys.exit("the fenced producer committed a transaction")
    except KafkaException as e:
        err = e.args[0]
        out("fenced", err.fatal(), err.name())
    one_txn(b, topic, ["b%02d" % i for i in range(5)], True)


def read(addr, topic, isolation):
    c = Consumer({"bootstrap.servers": addr, "group.id": "unused", "enable.auto.commit": False,
                  "isolation.level": isolation, "enable.partition.eof": True})
    parts = c.list_topics(topic, 10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, -2) for p in parts])  # -2: OFFSET_BEGINNING
    left, deadline = set(parts), time.monotonic() + 25
    while left:
        if time.monotonic() > deadline:
            sys.exit("partitions %s not read to their end in 25 s" % sorted(left))
        msg = c.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == -191:  # _PARTITION_EOF
                left.discard(msg.partition())
                continue
            sys.exit("read: %s" % msg.error())
        out("record", msg.partition(), msg.offset(), msg.key().decode(), msg.value().decode())
    c.close()


if __name__ == "__main__":
    {"produce": produce, "consume": consume, "txn": txn, "read": read}[sys.argv[1]](*sys.argv[2:])
