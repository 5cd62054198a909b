"""confluent-kafka-python and kafka-python over SSL, SASL_PLAINTEXT and
SASL_SSL; run by e2e/security_test.go.

  secure.py LIB CA.pem CASE...
      LIB is confluent or kafkapython; each CASE is
      KIND,NAME,PROTOCOL,ADDR,MECHANISM,USER,PASSWORD,TOPIC,GROUP[,CA] (MECHANISM,
      USER and PASSWORD "-" for SSL; CA, when given, replaces CA.pem). KIND
      rt: produce 20 records to TOPIC, then read them back as a member of
      GROUP and commit; prints "ok NAME" or "fail NAME: ERROR". KIND bad
      (badssl): connect expecting the authentication (the TLS handshake) to
      fail; prints "autherr NAME ERROR-NAME" (confluent: the code error_cb
      reported) or "fail NAME: ...".
"""
import logging
import sys
import time

N = 20


def out(*words):
    print(*words, flush=True)


def confluent_conf(c, ca):
    conf = {"bootstrap.servers": c["addr"], "security.protocol": c["proto"]}
    if c["proto"].endswith("SSL"):
        conf["ssl.ca.location"] = ca
    if c["mech"] != "-":
        conf.update({"sasl.mechanisms": c["mech"], "sasl.username": c["user"], "sasl.password": c["password"]})
    return conf


def confluent_rt(c, ca):
    from confluent_kafka import Consumer, Producer
    p = Producer(dict(confluent_conf(c, ca), acks="all"))
    failed = []
    for i in range(N):
        p.produce(c["topic"], value=b"v%d" % i, on_delivery=lambda err, msg: err and failed.append(err))
    if p.flush(20) != 0 or failed:
        raise RuntimeError("produce: %s undelivered, errors %s" % (len(p), failed))
    cons = Consumer(dict(confluent_conf(c, ca), **{"group.id": c["group"], "auto.offset.reset": "earliest",
                                                    "enable.auto.commit": False}))
    cons.subscribe([c["topic"]])
    got, deadline = 0, time.monotonic() + 25
    while got < N:
        if time.monotonic() > deadline:
            raise RuntimeError("read %d of %d records in 25 s" % (got, N))
        msg = cons.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            raise RuntimeError("consume: %s" % msg.error())
        got += 1
    cons.commit(asynchronous=False)
    cons.close()


def confluent_bad(c, ca):
    from confluent_kafka import KafkaError, Producer
    name = "_SSL" if c["kind"] == "badssl" else "_AUTHENTICATION"
    want = getattr(KafkaError, name)
    codes = []
    p = Producer(dict(confluent_conf(c, c.get("ca") or ca), error_cb=lambda e: codes.append(e.code())))
    deadline = time.monotonic() + 20
    while want not in codes and time.monotonic() < deadline:
        p.poll(0.2)  # serves error_cb
    if want not in codes:
        raise RuntimeError("no %s error, error codes %s" % (name, codes))
    return name


def kp_conf(c, ca):
    conf = {"bootstrap_servers": c["addr"], "security_protocol": c["proto"]}
    if c["proto"].endswith("SSL"):
        conf["ssl_cafile"] = ca
    if c["mech"] != "-":
        conf.update({"sasl_mechanism": c["mech"], "sasl_plain_username": c["user"],
                     "sasl_plain_password": c["password"]})
    return conf


class SpuriousCloses(logging.Handler):
    """Counts kafka-python's closes of a connection that turned readable
    with no request in flight: kafka-python 2.0 takes any unrequested
    bytes (a TLS 1.3 NewSessionTicket after the handshake) for a protocol
    error and reconnects (issue 17)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.n = 0

    def emit(self, record):
        if "without in-flight-requests" in record.getMessage():
            self.n += 1


def kafkapython_rt(c, ca):
    conn_log = logging.getLogger("kafka.conn")
    closes = SpuriousCloses()
    conn_log.setLevel(logging.INFO)
    conn_log.addHandler(closes)
    warn = logging.StreamHandler(sys.stderr)
    warn.setLevel(logging.WARNING)
    conn_log.addHandler(warn)
    try:
        kafkapython_rt_with(c, ca)
    finally:
        conn_log.removeHandler(closes)
        conn_log.removeHandler(warn)
    if closes.n:
        raise RuntimeError("kafka-python closed %d connections that were readable with no request in flight" % closes.n)


def kafkapython_rt_with(c, ca):
    from kafka import KafkaConsumer, KafkaProducer
    p = KafkaProducer(acks="all", **kp_conf(c, ca))
    for f in [p.send(c["topic"], value=b"v%d" % i) for i in range(N)]:
        f.get(timeout=20)
    p.close(timeout=20)  # bounded: a producer that cannot flush fails the case instead of hanging
    cons = KafkaConsumer(group_id=c["group"], auto_offset_reset="earliest", enable_auto_commit=False,
                         fetch_max_wait_ms=100, **kp_conf(c, ca))
    cons.subscribe([c["topic"]])
    got, deadline = 0, time.monotonic() + 25
    while got < N:
        if time.monotonic() > deadline:
            raise RuntimeError("read %d of %d records in 25 s" % (got, N))
        got += sum(len(rs) for rs in cons.poll(timeout_ms=200).values())
    cons.commit()
    cons.close()


KEYS = ["kind", "name", "proto", "addr", "mech", "user", "password", "topic", "group", "ca"]

if __name__ == "__main__":
    lib, ca = sys.argv[1], sys.argv[2]
    for arg in sys.argv[3:]:
        c = dict(zip(KEYS, arg.split(",")))
        try:
            if c["kind"] == "rt":
                {"confluent": confluent_rt, "kafkapython": kafkapython_rt}[lib](c, ca)
                out("ok", c["name"])
            else:
                out("autherr", c["name"], {"confluent": confluent_bad}[lib](c, ca))
        except Exception as e:  # one case's failure is reported, the others still run
            out("fail %s: %s: %s" % (c["name"], type(e).__name__, str(e).replace("\n", " ")))
