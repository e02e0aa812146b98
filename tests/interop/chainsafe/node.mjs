#!/usr/bin/env node
// ChainSafe discv5 node (@chainsafe/discv5) driven by ethp2p's Rust interop tests.
//
// It listens on a UDP port of 127.0.0.1, prints its record, then runs commands read from stdin,
// one a line, and answers each with one JSON line on stdout. Everything else goes to stderr.
// See README.md for the commands and events.

import { createInterface } from 'node:readline'
import { Discv5 } from '@chainsafe/discv5'
import { ENR, SignableENR } from '@chainsafe/enr'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'

const USAGE = `usage:
  node node.mjs --key <hex32> [--host 127.0.0.1] [--port N] [--timeout-ms N] [--trace]
commands on stdin, one a line:
  ping <enr>                     PING the node; answers "pong"
  findnode <enr> <d>[,<d>...]    FINDNODE at these log-distances; answers "nodes"
  lookup <node-id hex>           iterative lookup; answers "nodes" (closest first)
  talk <enr> <protocol> <hex>    TALKREQ; answers "talk" with the response (hex)
  add <enr>                      put a record in the table; answers "added"
  table                          the table's records; answers "table"
TALKREQs of protocol "echo" get the request back; others stay unanswered, as ChainSafe leaves
every TALKREQ to the application.`

// ---------------------------------------------------------------- output

// If the driving test closes our stdout, just stop.
process.stdout.on('error', () => process.exit(3))

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

let logPrefix = 'chainsafe'
function log(...args) {
  const ms = Math.round(performance.now())
  process.stderr.write(`[${logPrefix} +${ms}ms] ${args.join(' ')}\n`)
}

let exiting = false
function finish(code) {
  if (exiting) return
  exiting = true
  // Let stdout/stderr drain before exiting.
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
}

function die(message) {
  process.stderr.write(`[chainsafe] ${message}\n${USAGE}\n`)
  process.exit(64)
}

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 0, timeoutMs: 60000, trace: false }
  const valued = { '--key': 'key', '--host': 'host', '--port': 'port', '--timeout-ms': 'timeoutMs' }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--trace') {
      opts.trace = true
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE + '\n')
      process.exit(0)
    } else if (valued[arg] !== undefined) {
      if (i + 1 >= argv.length) die(`missing value for ${arg}`)
      opts[valued[arg]] = argv[++i]
    } else {
      die(`unknown argument: ${arg}`)
    }
  }
  const int = (name, v, min, max) => {
    const n = typeof v === 'number' ? v : Number(v)
    if (!Number.isInteger(n) || n < min || n > max) die(`bad ${name}: ${v}`)
    return n
  }
  if (typeof opts.key !== 'string') die('missing --key')
  const key = opts.key.startsWith('0x') ? opts.key.slice(2) : opts.key
  if (!/^[0-9a-fA-F]{64}$/.test(key)) die('bad --key: need 32 bytes hex')
  opts.key = Uint8Array.from(Buffer.from(key, 'hex'))
  if (!/^\d{1,3}(?:\.\d{1,3}){3}$/.test(opts.host)) die(`bad --host (IPv4 literal): ${opts.host}`)
  opts.port = int('--port', opts.port, 0, 65535)
  opts.timeoutMs = int('--timeout-ms', opts.timeoutMs, 1, 3_600_000)
  return opts
}

// ---------------------------------------------------------------- commands

function describeError(err) {
  if (err instanceof Error) return err.message || String(err)
  return String(err)
}

function parseEnr(text) {
  if (typeof text !== 'string' || !text.startsWith('enr:')) throw new Error(`not an enr: ${text}`)
  return ENR.decodeTxt(text)
}

function parseDistances(text) {
  if (typeof text !== 'string') throw new Error('missing distances')
  return text.split(',').map((d) => {
    const n = Number(d)
    if (!Number.isInteger(n) || n < 0 || n > 256) throw new Error(`bad distance: ${d}`)
    return n
  })
}

function ipText(ip) {
  if (ip.type === 4) return Array.from(ip.octets).join('.')
  const words = []
  for (let i = 0; i < 16; i += 2) words.push(((ip.octets[i] << 8) | ip.octets[i + 1]).toString(16))
  return words.join(':')
}

// Runs one command line; `n` (the line's number, from 1) tags the answer, since commands run
// concurrently and may finish in any order.
async function run(discv5, n, line) {
  const [cmd, ...args] = line.trim().split(/\s+/)
  switch (cmd) {
    case 'ping': {
      const pong = await discv5.sendPing(parseEnr(args[0]))
      return {
        event: 'pong',
        enr_seq: Number(pong.enrSeq),
        ip: ipText(pong.addr.ip),
        port: pong.addr.port,
      }
    }
    case 'findnode': {
      const enrs = await discv5.sendFindNode(parseEnr(args[0]), parseDistances(args[1]))
      return { event: 'nodes', enrs: enrs.map((e) => e.encodeTxt()) }
    }
    case 'lookup': {
      if (!/^[0-9a-f]{64}$/.test(args[0] ?? '')) throw new Error(`bad node id: ${args[0]}`)
      const enrs = await discv5.findNode(args[0])
      return { event: 'nodes', enrs: enrs.map((e) => e.encodeTxt()) }
    }
    case 'talk': {
      if (args[1] === undefined || !/^(?:[0-9a-f]{2})*$/.test(args[2] ?? '')) {
        throw new Error('usage: talk <enr> <protocol> <hex>')
      }
      const response = await discv5.sendTalkReq(parseEnr(args[0]), Buffer.from(args[2], 'hex'), args[1])
      return { event: 'talk', response: Buffer.from(response).toString('hex') }
    }
    case 'add': {
      discv5.addEnr(parseEnr(args[0]))
      return { event: 'added' }
    }
    case 'table': {
      return { event: 'table', enrs: discv5.kadValues().map((e) => e.encodeTxt()) }
    }
    default:
      throw new Error(`unknown command: ${cmd}`)
  }
}

// ---------------------------------------------------------------- main

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  setTimeout(() => {
    emit({ event: 'stopped', reason: 'timeout' })
    finish(0)
  }, opts.timeoutMs)

  const privateKey = privateKeyFromRaw(opts.key)
  const enr = SignableENR.createFromPrivateKey(privateKey)
  const discv5 = Discv5.create({
    enr,
    privateKey,
    bindAddrs: { ip4: multiaddr(`/ip4/${opts.host}/udp/${opts.port}`) },
    // Our record names the bound socket and nothing may rewrite it (10 PONG votes could).
    config: { enrUpdate: false },
  })
  logPrefix = `chainsafe ${discv5.enr.nodeId.slice(0, 8)}`
  if (opts.trace) {
    process.env.DEBUG = 'discv5*'
    discv5.enableLogs()
  }
  await discv5.start()

  // With port 0 the kernel picks the port, known only once bound: the record must carry it,
  // since ChainSafe (and we) drop sessions whose record does not match the source socket.
  // The socket is reached through the transport's fields (not public API in 11.0.0).
  const port = discv5.sessionService.transport.ip4.socket.address().port
  discv5.enr.ip = opts.host
  discv5.enr.udp = port
  const ourEnr = discv5.enr.toENR()
  log(`node id ${ourEnr.nodeId}, udp ${opts.host}:${port}`)

  discv5.on('enrAdded', (added) => emit({ event: 'enr_added', enr: added.encodeTxt(), node_id: added.nodeId }))
  discv5.on('talkReqReceived', (addr, _enr, message) => {
    const protocol = Buffer.from(message.protocol).toString()
    emit({ event: 'talk_request', node_id: addr.nodeId, protocol, request: Buffer.from(message.request).toString('hex') })
    if (protocol === 'echo') {
      discv5.sendTalkResp(addr, message.id, message.request).catch((err) => log(`TALKRESP failed: ${describeError(err)}`))
    }
  })

  emit({ event: 'listening', enr: ourEnr.encodeTxt(), node_id: ourEnr.nodeId, udp_port: port })

  let n = 0
  const lines = createInterface({ input: process.stdin })
  lines.on('line', (line) => {
    if (line.trim() === '') return
    const tag = ++n
    const cmd = line.trim().split(/\s+/)[0]
    run(discv5, tag, line)
      .then((answer) => emit({ n: tag, cmd, ...answer }))
      .catch((err) => emit({ n: tag, cmd, event: 'error', message: describeError(err) }))
  })
  // The test closed our stdin: it is done with us.
  lines.on('close', () => {
    emit({ event: 'stopped', reason: 'stdin' })
    discv5.stop().finally(() => finish(0))
  })
}

main().catch((err) => {
  emit({ event: 'error', message: describeError(err) })
  finish(1)
})
