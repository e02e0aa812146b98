#!/usr/bin/env node
// ethereumjs discv4 node (DPT) driven by ethp2p's Rust interop tests.
//
// stdout carries one JSON object per line (the protocol with the Rust test);
// everything else goes to stderr. See README.md for the CLI.

import { DPT } from '@ethereumjs/devp2p'
import { bytesToUnprefixedHex, unprefixedHexToBytes } from '@ethereumjs/util'

const USAGE = `usage:
  node dpt.mjs --key <hex32> [--host 127.0.0.1] [options]
options:
  --bootstrap <enode>    enode://<id>@<ip>:<tcp>[?discport=<udp>] to bootstrap from
  --timeout-ms <n>       stay up this long, then exit 0 (default 20000)
  --refresh-ms <n>       DPT refreshInterval: every table node gets a FINDNODE once
                         per interval (default 60000, the library's)
  --ping-timeout-ms <n>  how long DPT waits for a PONG (default 4000, the library's)
  --tcp-port <n>         TCP port announced in our Pings (default: none, i.e. not dialable)
  --exit-on-stdin-eof    also exit 0 when stdin reaches end of file
  --trace                log every packet sent and received to stderr`

// ---------------------------------------------------------------- output

// If the driving test closes our stdout, just stop.
process.stdout.on('error', () => process.exit(3))

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

// Several of us may share the test's stderr: lines name the node (id prefix).
let logPrefix = 'dpt.mjs'
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
  process.stderr.write(`[dpt.mjs] ${message}\n${USAGE}\n`)
  process.exit(64)
}

// ---------------------------------------------------------------- arguments

function parseEnode(url) {
  const m = /^enode:\/\/([0-9a-fA-F]{128})@(\d{1,3}(?:\.\d{1,3}){3}):(\d+)(?:\?discport=(\d+))?$/.exec(url)
  if (m === null) die(`bad --bootstrap (need enode://<128 hex>@<ipv4>:<port>[?discport=<port>]): ${url}`)
  const tcpPort = Number(m[3])
  const udpPort = m[4] === undefined ? tcpPort : Number(m[4])
  if (tcpPort > 65535 || udpPort > 65535 || udpPort === 0) die(`bad port in --bootstrap: ${url}`)
  return {
    id: unprefixedHexToBytes(m[1].toLowerCase()),
    address: m[2],
    udpPort,
    // DPT encodes a numeric 0 as two zero bytes, which strict decoders reject.
    tcpPort: tcpPort === 0 ? null : tcpPort,
  }
}

function parseArgs(argv) {
  const opts = {
    host: '127.0.0.1',
    bootstrap: null,
    timeoutMs: 20000,
    refreshMs: 60000,
    pingTimeoutMs: 4000,
    tcpPort: null,
    exitOnStdinEof: false,
    trace: false,
  }
  const valued = {
    '--key': 'key',
    '--host': 'host',
    '--bootstrap': 'bootstrap',
    '--timeout-ms': 'timeoutMs',
    '--refresh-ms': 'refreshMs',
    '--ping-timeout-ms': 'pingTimeoutMs',
    '--tcp-port': 'tcpPort',
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--exit-on-stdin-eof') {
      opts.exitOnStdinEof = true
    } else if (arg === '--trace') {
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
  opts.key = unprefixedHexToBytes(key.toLowerCase())
  if (!/^\d{1,3}(?:\.\d{1,3}){3}$/.test(opts.host)) die(`bad --host (IPv4 literal): ${opts.host}`)
  opts.timeoutMs = int('--timeout-ms', opts.timeoutMs, 1, 3_600_000)
  // DPT runs refresh() every refreshInterval / 10 ms: below 10 that is a busy loop.
  opts.refreshMs = int('--refresh-ms', opts.refreshMs, 10, 3_600_000)
  opts.pingTimeoutMs = int('--ping-timeout-ms', opts.pingTimeoutMs, 1, 3_600_000)
  if (opts.tcpPort !== null) opts.tcpPort = int('--tcp-port', opts.tcpPort, 1, 65535)
  if (opts.bootstrap !== null) opts.bootstrap = parseEnode(opts.bootstrap)
  return opts
}

// ---------------------------------------------------------------- helpers

function describeError(err) {
  if (err instanceof Error) return err.message || String(err)
  return String(err)
}

function peerRecord(event, peer) {
  return {
    event,
    id: peer.id instanceof Uint8Array ? bytesToUnprefixedHex(peer.id) : null,
    address: peer.address ?? null,
    udp_port: peer.udpPort ?? null,
    tcp_port: peer.tcpPort ?? null,
  }
}

// Packet log for --trace: wraps the DPT server's instance methods (private API;
// both are looked up on the instance at call time).
function traceServer(server) {
  const origSend = server._send.bind(server)
  server._send = (peer, typename, data) => {
    const hash = origSend(peer, typename, data)
    log(`send ${typename} to ${peer.address}:${peer.udpPort} hash ${bytesToUnprefixedHex(hash).slice(0, 16)}`)
    return hash
  }
  const origHandler = server._handler.bind(server)
  server._handler = (msg, rinfo) => {
    const type = msg.length > 97 ? msg[97] : -1
    log(`recv type ${type} (${msg.length} bytes) from ${rinfo.address}:${rinfo.port} hash ${bytesToUnprefixedHex(msg.subarray(0, 8))}`)
    return origHandler(msg, rinfo)
  }
}

// ---------------------------------------------------------------- main

function main() {
  const opts = parseArgs(process.argv.slice(2))

  const deadline = setTimeout(() => {
    emit({ event: 'stopped', reason: 'timeout' })
    finish(0)
  }, opts.timeoutMs)

  // The endpoint our Pings announce (their `from`). DPT keeps a reference to
  // this object, so the UDP port can be filled in once the socket is bound.
  // Ports are null rather than 0: DPT encodes 0 as two zero bytes.
  const endpoint = { address: opts.host, udpPort: null, tcpPort: opts.tcpPort }
  const dpt = new DPT(opts.key, {
    endpoint,
    refreshInterval: opts.refreshMs,
    timeout: opts.pingTimeoutMs,
    shouldFindNeighbours: true,
    shouldGetDnsPeers: false,
  })
  const ourId = bytesToUnprefixedHex(dpt.id)
  logPrefix = `dpt.mjs ${ourId.slice(0, 8)}`
  log(`node id ${ourId}`)
  if (opts.trace) traceServer(dpt._server)

  dpt.events.on('error', (err) => emit({ event: 'error', message: describeError(err) }))
  dpt.events.on('peer:new', (peer) => emit(peerRecord('peer_new', peer)))
  dpt.events.on('peer:added', (peer) => emit(peerRecord('peer_added', peer)))
  dpt.events.on('peer:removed', (peer) => emit(peerRecord('peer_removed', peer)))

  dpt.events.once('listening', () => {
    const { port } = dpt._server._socket.address()
    endpoint.udpPort = port
    emit({ event: 'listening', udp_port: port, id: ourId })
    if (opts.bootstrap !== null) {
      const b = opts.bootstrap
      log(`bootstrapping from ${b.address}:${b.udpPort}`)
      // Failures arrive as 'error' events (bootstrap() catches them itself).
      dpt.bootstrap(b).then(() => log('bootstrap call returned'))
    }
  })

  if (opts.exitOnStdinEof) {
    process.stdin.on('data', () => {})
    process.stdin.on('end', () => {
      clearTimeout(deadline)
      emit({ event: 'stopped', reason: 'stdin' })
      finish(0)
    })
    process.stdin.resume()
  }

  dpt.bind(0, opts.host)
}

main()
