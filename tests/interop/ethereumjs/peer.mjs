#!/usr/bin/env node
// ethereumjs devp2p peer driven by ethp2p's Rust interop tests.
//
// stdout carries one JSON object per line (the protocol with the Rust test);
// everything else goes to stderr. See README.md for the CLI.

import { Common, Mainnet } from '@ethereumjs/common'
import { DisconnectReasonNames, Peer, RLPx } from '@ethereumjs/devp2p'
import { bytesToUnprefixedHex, unprefixedHexToBytes, utf8ToBytes } from '@ethereumjs/util'

const USAGE = `usage:
  node peer.mjs listen --key <hex32> [--host 127.0.0.1] [options]
  node peer.mjs dial   --key <hex32> --remote-id <hex64> --port <n> [--host 127.0.0.1] [options]
options:
  --timeout-ms <n>     global deadline, exit 1 when reached (default 20000)
  --then <action>      after peer_added: disconnect | wait (default wait)
  --reason <n>         Disconnect reason for --then disconnect (default 8)
  --ping               after peer_added send a p2p Ping and wait for the Pong
  --caps <list>        advertised capabilities, name/version[:length],... (default foo/1)
  --client-id <s>      client id sent in Hello (default ethereumjs-interop/ethp2p)
  --hello-port <n>     listen port sent in Hello (listen: bound port; dial: none)`

// ---------------------------------------------------------------- output

// If the driving test closes our stdout, just stop.
process.stdout.on('error', () => process.exit(3))

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function log(...args) {
  process.stderr.write(`[peer.mjs] ${args.join(' ')}\n`)
}

let exiting = false
function finish(code) {
  if (exiting) return
  exiting = true
  // Let stdout/stderr drain before exiting.
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
}

function die(message) {
  process.stderr.write(`[peer.mjs] ${message}\n${USAGE}\n`)
  process.exit(64)
}

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const mode = argv[0]
  if (mode !== 'listen' && mode !== 'dial') die(`unknown mode: ${mode ?? '(none)'}`)
  const opts = {
    mode,
    host: '127.0.0.1',
    timeoutMs: 20000,
    then: 'wait',
    reason: 0x08,
    ping: false,
    caps: 'foo/1',
    clientId: 'ethereumjs-interop/ethp2p',
    helloPort: null,
  }
  const valued = {
    '--key': 'key',
    '--remote-id': 'remoteId',
    '--port': 'port',
    '--host': 'host',
    '--timeout-ms': 'timeoutMs',
    '--then': 'then',
    '--reason': 'reason',
    '--caps': 'caps',
    '--client-id': 'clientId',
    '--hello-port': 'helloPort',
  }
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--ping') {
      opts.ping = true
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
  const int = (name, v, max) => {
    const n = typeof v === 'number' ? v : Number(v)
    if (!Number.isInteger(n) || n < 0 || n > max) die(`bad ${name}: ${v}`)
    return n
  }
  const hex = (name, v, len) => {
    if (typeof v !== 'string') die(`missing ${name}`)
    const h = v.startsWith('0x') ? v.slice(2) : v
    if (h.length !== len * 2 || !/^[0-9a-fA-F]+$/.test(h)) die(`bad ${name}: need ${len} bytes hex`)
    return unprefixedHexToBytes(h.toLowerCase())
  }
  opts.key = hex('--key', opts.key, 32)
  opts.timeoutMs = int('--timeout-ms', opts.timeoutMs, 3_600_000)
  opts.reason = int('--reason', opts.reason, 255)
  if (opts.helloPort !== null) opts.helloPort = int('--hello-port', opts.helloPort, 65535)
  if (opts.then !== 'wait' && opts.then !== 'disconnect') die(`bad --then: ${opts.then}`)
  if (mode === 'dial') {
    opts.remoteId = hex('--remote-id', opts.remoteId, 64)
    opts.port = int('--port', opts.port, 65535)
  } else if (opts.remoteId !== undefined || opts.port !== undefined) {
    die('--remote-id/--port are for dial mode')
  }
  opts.caps = opts.caps
    .split(',')
    .filter((s) => s.length > 0)
    .map((s) => {
      const m = /^([^/:]+)\/(\d+)(?::(\d+))?$/.exec(s)
      if (m === null) die(`bad capability: ${s}`)
      return { name: m[1], version: int('capability version', m[2], 255), length: int('capability length', m[3] ?? 16, 65535) }
    })
  if (opts.caps.length === 0) die('--caps must name at least one capability')
  return opts
}

// ---------------------------------------------------------------- capabilities

// ethereumjs instantiates each shared capability as
//   new cap.constructor(version, peer, send)
// and hands it messages in its range via the optional _handleMessage(code, payload)
// (payload is snappy-decompressed, not RLP-decoded). Nothing else is required.
// We deliberately do not extend the library's Protocol base class: it
// disconnects with TIMEOUT after 5 s when no eth Status arrives.
function makeCapability({ name, version, length }) {
  const label = `${name}/${version}`
  class HelloOnlyCapability {
    constructor(negotiatedVersion, peer, send) {
      this.version = negotiatedVersion
      this.peer = peer
      this.send = send
    }
    _handleMessage(code, payload) {
      emit({ event: 'subprotocol_message', capability: label, code, data: bytesToUnprefixedHex(payload) })
    }
  }
  return { name, version, length, constructor: HelloOnlyCapability }
}

// ---------------------------------------------------------------- helpers

const reasonName = (r) => (r === undefined || r === null ? null : (DisconnectReasonNames[r] ?? null))

function describeError(err) {
  if (err instanceof Error) return err.message || String(err)
  return String(err)
}

// Connections that die before the Hello exchange completes never reach
// RLPx's peer:removed (Peer only emits 'close' once _connected is set).
// Hook the prototype so such failures are reported instead of running into
// the global timeout.
const onHandshakeClosed = new Set()
const origOnSocketClose = Peer.prototype._onSocketClose
Peer.prototype._onSocketClose = function (...args) {
  const wasConnected = this._connected
  const result = origOnSocketClose.apply(this, args)
  if (!wasConnected) for (const fn of onHandshakeClosed) fn(this)
  return result
}

// ---------------------------------------------------------------- main

function main() {
  const opts = parseArgs(process.argv.slice(2))

  const deadline = setTimeout(() => {
    emit({ event: 'error', message: `timeout after ${opts.timeoutMs} ms` })
    finish(1)
  }, opts.timeoutMs)

  const common = new Common({ chain: Mainnet })
  const rlpx = new RLPx(opts.key, {
    capabilities: opts.caps.map(makeCapability),
    common,
    listenPort: opts.helloPort,
    maxPeers: 4,
    clientId: utf8ToBytes(opts.clientId),
    timeout: opts.timeoutMs,
  })
  const ourId = bytesToUnprefixedHex(rlpx.id)
  log(`node id ${ourId}`)

  let current = null // the one peer this run is about

  onHandshakeClosed.add((peer) => {
    if (current !== null) return
    emit({
      event: 'handshake_failed',
      reason: peer._disconnectReason ?? null,
      reason_name: reasonName(peer._disconnectReason),
      by_us: peer._disconnectWe === true,
    })
    finish(2)
  })

  rlpx.events.on('error', (err) => {
    emit({ event: 'error', message: describeError(err) })
  })

  rlpx.events.on('peer:error', (_peer, err) => {
    emit({ event: 'error', message: describeError(err) })
  })

  rlpx.events.on('peer:added', (peer) => {
    if (current !== null) {
      log('ignoring an additional peer')
      peer.disconnect(0x04) // too many peers
      return
    }
    current = peer
    const hello = peer.getHelloMessage()
    emit({
      event: 'peer_added',
      id: bytesToUnprefixedHex(peer.getId()),
      client_id: hello.clientId,
      protocol_version: hello.protocolVersion,
      capabilities: hello.capabilities.map((c) => `${c.name}/${c.version}`),
      listen_port: hello.port,
    })

    // Observe the base protocol's Ping/Pong: ethereumjs answers Pings itself
    // and has no public events for them, so wrap the instance's handlers.
    const origHandlePing = peer._handlePing.bind(peer)
    peer._handlePing = () => {
      emit({ event: 'ping' })
      origHandlePing()
    }
    let pongWaiter = null
    const origHandlePong = peer._handlePong.bind(peer)
    peer._handlePong = () => {
      origHandlePong()
      emit({ event: 'pong' })
      if (pongWaiter !== null) {
        const w = pongWaiter
        pongWaiter = null
        w()
      }
    }

    const act = () => {
      if (opts.then === 'disconnect') {
        log(`disconnecting with reason ${opts.reason}`)
        peer.disconnect(opts.reason)
      }
    }
    if (opts.ping) {
      pongWaiter = act
      // Private API: sends a (snappy-compressed for p2p v5) Ping and arms the
      // library's own pong timer (timeout-ms, then Disconnect TIMEOUT).
      peer._sendPing()
    } else {
      act()
    }
  })

  rlpx.events.on('peer:removed', (peer, reason, byUs) => {
    const record = {
      event: 'peer_removed',
      reason: reason ?? null,
      reason_name: reasonName(reason),
      by_us: byUs === true,
    }
    if (current === null) {
      // Rejected after Hello without ever being added (same/duplicate identity).
      emit({ ...record, event: 'handshake_failed' })
      finish(2)
      return
    }
    if (peer !== current) {
      log('an additional peer was removed')
      return
    }
    emit(record)
    clearTimeout(deadline)
    finish(0)
  })

  if (opts.mode === 'listen') {
    rlpx.events.once('listening', () => {
      const { port } = rlpx._server.address()
      // The Hello's listen port is read from this field at connection time;
      // with port 0 it is only known now.
      if (opts.helloPort === null) rlpx._listenPort = port
      emit({ event: 'listening', port, id: ourId })
    })
    rlpx.listen(0, opts.host)
  } else {
    log(`dialing ${opts.host}:${opts.port}`)
    rlpx
      .connect({ id: opts.remoteId, address: opts.host, tcpPort: opts.port })
      .catch((err) => {
        emit({ event: 'error', message: `connect failed: ${describeError(err)}` })
        finish(1)
      })
  }
}

main()
