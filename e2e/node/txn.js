// kafkajs transactions against Sluice; run by e2e/langs_txn_test.go.
//
//   node txn.js txn ADDR TOPIC TXNID
//       transactions of producer A (transactionalId TXNID): c00-c09
//       committed, a00-a09 sent then aborted, c10-c14 committed; then
//       producer B with the same id begins a transaction (its first
//       InitProducerId, which fences A);
//       A's next transaction fails; B commits b00-b04. Prints "committed
//       KEY" and "aborted KEY" once each outcome is acknowledged, and
//       "fenced ERROR-TYPE" for A's failure.
//   node txn.js read ADDR TOPIC ISOLATION LASTKEY
//       a group consumer (read_committed or read_uncommitted) from the
//       beginning of TOPIC, printing "record P OFFSET KEY VALUE", until it
//       has printed LASTKEY (the topic has one partition and LASTKEY is its
//       last record, so everything before it has been seen).
const { Kafka, logLevel } = require('kafkajs')

const [mode, addr, topic, arg, lastKey] = process.argv.slice(2)
const out = (...words) => process.stdout.write(words.join(' ') + '\n')
const logCreator = () => ({ namespace, log }) =>
  process.stderr.write(`${namespace}: ${log.message} ${JSON.stringify(log)}\n`)

setTimeout(() => { process.stderr.write('txn.js: 25 s deadline passed\n'); process.exit(2) }, 25000).unref()

const kafka = new Kafka({ clientId: 'e2e-kafkajs-txn', brokers: [addr], logLevel: logLevel.ERROR, logCreator })

const keys = (prefix, from, to) => Array.from({ length: to - from }, (_, i) => prefix + String(from + i).padStart(2, '0'))

async function oneTxn (producer, ks, commit, begun) {
  const t = begun || await producer.transaction()
  await t.send({ topic, messages: ks.map(k => ({ key: k, value: 'v-' + k })) })
  if (commit) await t.commit()
  else await t.abort()
  for (const k of ks) out(commit ? 'committed' : 'aborted', k)
}

async function txn (txnId) {
  out('kafkajs', require('kafkajs/package.json').version)
  const opts = { transactionalId: txnId, idempotent: true, maxInFlightRequests: 1 }
  const a = kafka.producer(opts)
  await a.connect()
  await oneTxn(a, keys('c', 0, 10), true)
  await oneTxn(a, keys('a', 0, 10), false)
  await oneTxn(a, keys('c', 10, 15), true)
  const b = kafka.producer(opts)
  await b.connect()
  const tb = await b.transaction() // its first InitProducerId: fences a
  try {
    await oneTxn(a, keys('z', 0, 5), true)
    process.stderr.write('the fenced producer committed a transaction\n')
    process.exit(1)
  } catch (e) {
    const cause = e.cause || e
    out('fenced', cause.type || cause.name)
  }
  await oneTxn(b, keys('b', 0, 5), true, tb)
  await a.disconnect()
  await b.disconnect()
}

async function read (isolation) {
  const c = kafka.consumer({
    groupId: `read-${isolation}-${process.pid}`,
    readUncommitted: isolation === 'read_uncommitted',
    maxWaitTimeInMs: 100
  })
  await c.connect()
  await c.subscribe({ topics: [topic], fromBeginning: true })
  let done
  const finished = new Promise(resolve => { done = resolve })
  await c.run({
    eachMessage: async ({ partition, message }) => {
      const key = message.key.toString()
      out('record', partition, message.offset, key, message.value.toString())
      if (key === lastKey) done()
    }
  })
  await finished
  await c.disconnect()
}

const run = mode === 'txn' ? txn(arg) : read(arg)
run.then(() => process.exit(0), e => { process.stderr.write(`txn.js: ${e.stack}\n`); process.exit(1) })
