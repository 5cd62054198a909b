// kafkajs against Sluice; run by e2e/langs_test.go.
//
//   node groups.js ADDR TOPIC GROUP FROM N
//
// Starts two members of GROUP (one process), waits until they share the
// topic's partitions, then produces records FROM..FROM+N-1 (key kNNN, value
// vNNN) with an idempotent producer and prints "record MEMBER P OFFSET KEY
// VALUE" for everything the members consume, until every one of the N new
// records has been seen. It prints "kafkajs VERSION", "joined MEMBER
// GENERATION P,P" at each assignment and "done" after disconnecting
// (offsets are committed after each batch).
const { Kafka, logLevel, Partitioners } = require('kafkajs')

const [addr, topic, group, from, n] = process.argv.slice(2)
const first = Number(from)
const count = Number(n)
const out = (...words) => process.stdout.write(words.join(' ') + '\n')
const logCreator = () => ({ namespace, log }) =>
  process.stderr.write(`${namespace}: ${log.message} ${JSON.stringify(log)}\n`)

setTimeout(() => { process.stderr.write('groups.js: 25 s deadline passed\n'); process.exit(2) }, 25000).unref()

async function main () {
  out('kafkajs', require('kafkajs/package.json').version)
  const kafka = new Kafka({ clientId: 'e2e-kafkajs', brokers: [addr], logLevel: logLevel.WARN, logCreator })
  const seen = new Set()
  let finish
  const finished = new Promise(resolve => { finish = resolve })
  const joins = {}
  let joinedBoth
  const bothJoined = new Promise(resolve => { joinedBoth = resolve })

  const members = ['a', 'b'].map(name => {
    const c = kafka.consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 100 })
    c.on(c.events.GROUP_JOIN, ({ payload }) => {
      const parts = (payload.memberAssignment[topic] || []).slice().sort()
      out('joined', name, payload.generationId, parts.join(',') || '-')
      joins[name] = { gen: payload.generationId, parts }
      const [a, b] = [joins.a, joins.b]
      if (a && b && a.gen === b.gen && a.parts.length && b.parts.length) joinedBoth()
    })
    return { name, c }
  })
  for (const { name, c } of members) {
    await c.connect()
    await c.subscribe({ topics: [topic], fromBeginning: true })
    await c.run({
      eachMessage: async ({ partition, message }) => {
        const key = message.key.toString()
        out('record', name, partition, message.offset, key, message.value.toString())
        if (Number(key.slice(1)) >= first) seen.add(key)
        if (seen.size === count) finish()
      }
    })
  }
  await bothJoined

  const producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const messages = []
  for (let i = first; i < first + count; i++) {
    const id = String(i).padStart(3, '0')
    messages.push({ key: 'k' + id, value: 'v' + id })
  }
  await producer.send({ topic, messages })
  await producer.disconnect()

  await finished
  for (const { c } of members) await c.disconnect()
  out('done')
}

main().catch(err => { process.stderr.write(`groups.js: ${err.stack}\n`); process.exit(1) })
