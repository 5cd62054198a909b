// kafkajs over SSL, SASL_PLAINTEXT and SASL_SSL; run by e2e/security_test.go.
//
//   node secure.js CA.pem CASE...
//
// Each CASE is KIND,NAME,PROTOCOL,ADDR,MECHANISM,USER,PASSWORD,TOPIC,GROUP
// (MECHANISM, USER and PASSWORD "-" for SSL). KIND rt: produce 20 records
// to TOPIC, then read them back as a member of GROUP (offsets committed);
// prints "ok NAME" or "fail NAME: ERROR". KIND bad: connect expecting the
// authentication to fail; prints "autherr NAME ERROR-NAME" (the class of
// the error kafkajs threw).
const fs = require('fs')
const { Kafka, logLevel, Partitioners } = require('kafkajs')

const N = 20
const [caPath, ...cases] = process.argv.slice(2)
const ca = [fs.readFileSync(caPath, 'utf8')]
const out = (...words) => process.stdout.write(words.join(' ') + '\n')
setTimeout(() => { process.stderr.write('secure.js: 50 s deadline passed\n'); process.exit(2) }, 50000).unref()

function client (c) {
  const cfg = { clientId: 'e2e-secure', brokers: [c.addr], logLevel: logLevel.NOTHING, retry: { retries: 2 } }
  if (c.proto.endsWith('SSL')) cfg.ssl = { ca }
  if (c.mech !== '-') cfg.sasl = { mechanism: c.mech.toLowerCase(), username: c.user, password: c.password }
  return new Kafka(cfg)
}

async function roundTrip (c) {
  const kafka = client(c)
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const messages = []
  for (let i = 0; i < N; i++) messages.push({ value: 'v' + i })
  await producer.send({ topic: c.topic, messages })
  await producer.disconnect()
  const consumer = kafka.consumer({ groupId: c.group, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topics: [c.topic], fromBeginning: true })
  let got = 0
  await new Promise((resolve, reject) => {
    consumer.run({ eachMessage: async () => { if (++got === N) resolve() } }).catch(reject)
  })
  await consumer.disconnect()
}

async function badAuth (c) {
  const admin = client(c).admin()
  try {
    await admin.connect()
  } catch (err) {
    return err.name
  } finally {
    await admin.disconnect()
  }
  throw new Error('connected')
}

async function main () {
  const keys = ['kind', 'name', 'proto', 'addr', 'mech', 'user', 'password', 'topic', 'group']
  for (const arg of cases) {
    const c = Object.fromEntries(arg.split(',').map((v, i) => [keys[i], v]))
    try {
      if (c.kind === 'rt') {
        await roundTrip(c)
        out('ok', c.name)
      } else {
        out('autherr', c.name, await badAuth(c))
      }
    } catch (err) {
      out('fail', c.name + ':', err.name, String(err.message).replace(/\n/g, ' '))
    }
  }
}

main().then(() => process.exit(0), err => { process.stderr.write(`secure.js: ${err.stack}\n`); process.exit(1) })
