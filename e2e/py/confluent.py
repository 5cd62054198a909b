"""confluent-kafka-python (Debian's python3-confluent-kafka, on librdkafka)
against Sluice; run by e2e/langs_test.go.

  confluent.py produce ADDR TOPIC N
      N keyed records (acks=all, idempotent); prints "librdkafka VERSION" and
      "sent P OFFSET KEY VALUE" from each delivery report.
  confluent.py consume ADDR TOPIC GROUP N
      a group member from the earliest offset: prints "record P OFFSET KEY
      VALUE" for N records, commits synchronously, closes.
"""
import sys
import time

from confluent_kafka import Consumer, Producer


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


if __name__ == "__main__":
    {"produce": produce, "consume": consume}[sys.argv[1]](*sys.argv[2:])
