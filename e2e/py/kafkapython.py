"""kafka-python (Debian's python3-kafka) against Sluice; run by e2e/langs_test.go.

  kafkapython.py produce ADDR TOPIC N
      N keyed records with acks=all; prints "api_version X.Y.Z" (the version
      kafka-python guessed from ApiVersions) and "sent P OFFSET KEY" for each.
  kafkapython.py consume ADDR TOPIC GROUP
      one group member: prints "assigned P,P" at each assignment and
      "record P OFFSET KEY VALUE", committing after each poll, until stdin
      closes; then leaves the group and prints "closed".
  kafkapython.py check ADDR TOPIC GROUP
      joins GROUP alone; once it owns every partition prints "position P
      OFFSET" for each, then "new N": the records polls returned in 2 s.
"""
import sys
import threading
import time

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer


def out(*words):
    print(*words, flush=True)


def produce(addr, topic, n):
    p = KafkaProducer(bootstrap_servers=addr, acks="all", linger_ms=5)
    out("api_version", ".".join(map(str, p.config["api_version"])))
    futures = [p.send(topic, key=b"k%03d" % i, value=b"v%03d" % i) for i in range(int(n))]
    p.flush(timeout=20)
    for i, f in enumerate(futures):
        md = f.get(timeout=20)
        out("sent", md.partition, md.offset, "k%03d" % i)
    p.close()


def consumer(addr, group):
    return KafkaConsumer(bootstrap_servers=addr, group_id=group, client_id=group + "-py",
                         auto_offset_reset="earliest", enable_auto_commit=False,
                         session_timeout_ms=6000, heartbeat_interval_ms=500,
                         fetch_max_wait_ms=100, max_poll_records=50)


class Printer(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        pass

    def on_partitions_assigned(self, assigned):
        out("assigned", ",".join(sorted(str(tp.partition) for tp in assigned)) or "-")


def consume(addr, topic, group):
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    c = consumer(addr, group)
    c.subscribe([topic], listener=Printer())
    while not stop.is_set():
        batch = c.poll(timeout_ms=100)
        for recs in batch.values():
            for r in recs:
                out("record", r.partition, r.offset, r.key.decode(), r.value.decode())
        if batch:
            c.commit()
    c.close()
    out("closed")


def check(addr, topic, group):
    c = consumer(addr, group)
    c.subscribe([topic])
    partitions = c.partitions_for_topic(topic) or set()
    new = 0
    deadline = time.monotonic() + 20
    while len(c.assignment()) < len(partitions) or not partitions:
        if time.monotonic() > deadline:
            sys.exit("no full assignment within 20 s: %s of %s" % (c.assignment(), partitions))
        new += sum(len(rs) for rs in c.poll(timeout_ms=100).values())
        partitions = c.partitions_for_topic(topic) or set()
    for tp in sorted(c.assignment()):
        out("position", tp.partition, c.position(tp))
    end = time.monotonic() + 2
    while time.monotonic() < end:
        new += sum(len(rs) for rs in c.poll(timeout_ms=100).values())
    out("new", new)
    c.close()


if __name__ == "__main__":
    {"produce": produce, "consume": consume, "check": check}[sys.argv[1]](*sys.argv[2:])
