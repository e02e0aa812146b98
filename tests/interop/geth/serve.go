package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"
)

// listFlag collects a flag given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// rawSend is one --send proto:code:hexpayload item.
type rawSend struct {
	proto   string // "name/version"
	code    uint64
	payload []byte
}

func parseRawSend(s string) (rawSend, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return rawSend{}, fmt.Errorf("--send %q: want proto:code:hexpayload", s)
	}
	code, err := strconv.ParseUint(parts[1], 0, 64)
	if err != nil {
		return rawSend{}, fmt.Errorf("--send %q: bad code: %v", s, err)
	}
	payload, err := hex.DecodeString(strings.TrimPrefix(parts[2], "0x"))
	if err != nil {
		return rawSend{}, fmt.Errorf("--send %q: bad hex payload: %v", s, err)
	}
	return rawSend{proto: parts[0], code: code, payload: payload}, nil
}

// gethVersion is the go-ethereum module version this binary was built against.
func gethVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/ethereum/go-ethereum" {
				if dep.Replace != nil {
					return dep.Replace.Version
				}
				return dep.Version
			}
		}
	}
	return "unknown"
}

type serveConfig struct {
	echo         bool
	noHello      bool
	discAfter    int64
	discReason   p2p.DiscReason
	sends        []rawSend
	peerMsgCount sync.Map // enode.ID -> *atomic.Int64
	announced    sync.Map // enode.ID -> chan struct{}, closed once peer_added is printed
}

// announcedChan is closed when peer_added for id has been printed, so that
// protocol_start lines always follow their peer's peer_added line.
func (cfg *serveConfig) announcedChan(id enode.ID) chan struct{} {
	ch, _ := cfg.announced.LoadOrStore(id, make(chan struct{}))
	return ch.(chan struct{})
}

func runServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var (
		keyHex     = fs.String("key", "", "node private key, 64 hex digits (default: a fresh random key)")
		listen     = fs.String("listen", "127.0.0.1:0", "TCP listen address; empty disables listening")
		protocols  = fs.String("protocols", "", "sub-protocols to run, name/version:length,... (length default 8)")
		echo       = fs.Bool("echo", false, "echo every received sub-protocol message back (same code, same payload)")
		noHello    = fs.Bool("no-hello", false, "do not send the greeting (code 1) at protocol start")
		exitAfter  = fs.Int("exit-after-peers", 0, "exit 0 after this many peer_removed events (0: run until --timeout)")
		timeout    = fs.Duration("timeout", 30*time.Second, "exit 1 after this long")
		name       = fs.String("name", "", "client id sent in Hello (default gethpeer/<go-ethereum version>)")
		maxPeers   = fs.Int("max-peers", 200, "p2p.Server MaxPeers")
		maxPending = fs.Int("max-pending", 0, "p2p.Server MaxPendingPeers (0: go-ethereum default 50)")
		discAfter  = fs.Int64("disconnect-after-msgs", 0, "disconnect a peer after it has sent this many sub-protocol messages (0: never)")
		discReason = fs.Uint("disconnect-reason", uint(p2p.DiscRequested), "reason code used by --disconnect-after-msgs")
		verbosity  = fs.Int("verbosity", 0, "go-ethereum log level on stderr (0 silent .. 5 trace)")
		discv4     = fs.Bool("discv4", false, "run discv4 (p2p.Config.DiscoveryV4), on the UDP port of --listen")
		discv5     = fs.Bool("discv5", false, "run discv5 (p2p.Config.DiscoveryV5), on the same UDP port as discv4")
		dials      listFlag
		sends      listFlag
		bootnodes  listFlag
	)
	fs.Var(&bootnodes, "bootnode", "enode:// or enr: node to start discovery from (repeatable; both protocols)")
	fs.Var(&dials, "dial", "enode URL to connect to (repeatable; server.AddPeer)")
	fs.Var(&sends, "send", "proto:code:hexpayload raw message sent at protocol start (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	setupLogging(*verbosity)

	key, err := parseKey(*keyHex)
	if err != nil {
		warnf("--key: %v", err)
		return 2
	}
	specs, err := parseCaps(*protocols, 8)
	if err != nil {
		warnf("--protocols: %v", err)
		return 2
	}
	cfg := &serveConfig{echo: *echo, noHello: *noHello, discAfter: *discAfter, discReason: p2p.DiscReason(*discReason)}
	for _, s := range sends {
		rs, err := parseRawSend(s)
		if err != nil {
			warnf("%v", err)
			return 2
		}
		known := false
		for _, spec := range specs {
			known = known || spec.String() == rs.proto
		}
		if !known {
			warnf("--send %q names a protocol not in --protocols", s)
			return 2
		}
		cfg.sends = append(cfg.sends, rs)
	}
	var dialNodes []*enode.Node
	for _, d := range dials {
		n, err := enode.ParseV4(d)
		if err != nil {
			warnf("--dial %q: %v", d, err)
			return 2
		}
		dialNodes = append(dialNodes, n)
	}
	var bootNodes []*enode.Node
	for _, b := range bootnodes {
		n, err := enode.Parse(enode.ValidSchemes, b)
		if err != nil {
			warnf("--bootnode %q: %v", b, err)
			return 2
		}
		bootNodes = append(bootNodes, n)
	}
	clientName := *name
	if clientName == "" {
		clientName = "gethpeer/" + gethVersion()
	}

	srv := &p2p.Server{Config: p2p.Config{
		PrivateKey:       key,
		MaxPeers:         *maxPeers,
		MaxPendingPeers:  *maxPending,
		NoDiscovery:      !*discv4 && !*discv5,
		DiscoveryV4:      *discv4,
		DiscoveryV5:      *discv5,
		BootstrapNodes:   bootNodes,
		BootstrapNodesV5: bootNodes,
		Name:             clientName,
		ListenAddr:       *listen,
	}}
	for _, spec := range specs {
		srv.Protocols = append(srv.Protocols, cfg.protocol(spec))
	}

	events := make(chan *p2p.PeerEvent, 256)
	sub := srv.SubscribeEvents(events)
	defer sub.Unsubscribe()
	if err := srv.Start(); err != nil {
		warnf("server start: %v", err)
		return 1
	}
	self := pubHex(&key.PublicKey)
	if *listen != "" {
		obj := map[string]any{"event": "listening", "enode": enodeURL(&key.PublicKey, srv.ListenAddr), "id": self}
		if *discv4 || *discv5 {
			obj["enr"] = srv.Self().String()
		}
		emit(obj)
	} else {
		emit(map[string]any{"event": "started", "id": self})
	}
	for _, n := range dialNodes {
		srv.AddPeer(n)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	deadline := time.NewTimer(*timeout)
	defer deadline.Stop()

	ids := make(map[enode.ID]string) // node hash -> 128-hex public key
	removed := 0
	for {
		select {
		case ev := <-events:
			switch ev.Type {
			case p2p.PeerEventTypeAdd:
				obj := map[string]any{"event": "peer_added", "remote": ev.RemoteAddress, "local": ev.LocalAddress}
				if p := findPeer(srv, ev.Peer); p != nil {
					ids[ev.Peer] = pubHex(p.Node().Pubkey())
					caps := make([]string, 0, len(p.Caps()))
					for _, c := range p.Caps() {
						caps = append(caps, c.String())
					}
					obj["name"] = p.Fullname()
					obj["caps"] = caps
					obj["inbound"] = p.Inbound()
				}
				obj["id"] = peerIDString(ids, ev.Peer)
				emit(obj)
				if ch := cfg.announcedChan(ev.Peer); !isClosed(ch) {
					close(ch) // only this loop closes, so check-then-close is safe
				}
			case p2p.PeerEventTypeDrop:
				emit(map[string]any{"event": "peer_removed", "id": peerIDString(ids, ev.Peer), "error": ev.Error, "remote": ev.RemoteAddress})
				delete(ids, ev.Peer)
				cfg.announced.Delete(ev.Peer)
				cfg.peerMsgCount.Delete(ev.Peer)
				removed++
				if *exitAfter > 0 && removed >= *exitAfter {
					stopServer(srv)
					return 0
				}
			}
		case err := <-sub.Err():
			warnf("event subscription: %v", err)
			return 1
		case <-deadline.C:
			emit(map[string]any{"event": "timeout"})
			stopServer(srv)
			return 1
		case s := <-sigs:
			emit(map[string]any{"event": "signal", "signal": s.String()})
			stopServer(srv)
			return 0
		}
	}
}

// stopServer stops srv (disconnecting remaining peers with "client quitting") but does
// not wait forever for it.
func stopServer(srv *p2p.Server) {
	done := make(chan struct{})
	go func() { srv.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		warnf("server stop timed out")
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func findPeer(srv *p2p.Server, id enode.ID) *p2p.Peer {
	for _, p := range srv.Peers() {
		if p.ID() == id {
			return p
		}
	}
	return nil
}

// peerIDString gives the 128-hex public key when known, otherwise the 64-hex node hash.
func peerIDString(ids map[enode.ID]string, id enode.ID) string {
	if s, ok := ids[id]; ok {
		return s
	}
	return id.String()
}

func (cfg *serveConfig) protocol(spec capSpec) p2p.Protocol {
	name := spec.String()
	return p2p.Protocol{
		Name:    spec.Name,
		Version: spec.Version,
		Length:  spec.Length,
		Run: func(peer *p2p.Peer, rw p2p.MsgReadWriter) error {
			return cfg.run(name, spec, peer, rw)
		},
	}
}

func (cfg *serveConfig) run(name string, spec capSpec, peer *p2p.Peer, rw p2p.MsgReadWriter) error {
	pid := pubHex(peer.Node().Pubkey())
	select {
	case <-cfg.announcedChan(peer.ID()):
	case <-time.After(2 * time.Second):
		warnf("%s: peer_added not printed within 2s", name)
	}
	emit(map[string]any{"event": "protocol_start", "peer": pid, "proto": name})

	if !cfg.noHello {
		if spec.Length < 2 {
			warnf("%s: length %d leaves no room for the greeting (code 1); not sent", name, spec.Length)
		} else if err := p2p.Send(rw, 1, "hello from geth "+name); err != nil {
			warnf("%s: sending greeting: %v", name, err)
			return err
		}
	}
	for _, s := range cfg.sends {
		if s.proto != name {
			continue
		}
		msg := p2p.Msg{Code: s.code, Size: uint32(len(s.payload)), Payload: bytes.NewReader(s.payload)}
		if err := rw.WriteMsg(msg); err != nil {
			warnf("%s: --send code %d: %v", name, s.code, err)
			return err
		}
		emit(map[string]any{"event": "sent", "peer": pid, "proto": name, "code": s.code, "payload_hex": hex.EncodeToString(s.payload)})
	}

	counter, _ := cfg.peerMsgCount.LoadOrStore(peer.ID(), new(atomic.Int64))
	for {
		msg, err := rw.ReadMsg()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				warnf("%s: read: %v", name, err)
			}
			return err
		}
		payload, err := io.ReadAll(msg.Payload)
		if err != nil {
			return err
		}
		emit(map[string]any{"event": "msg", "peer": pid, "proto": name, "code": msg.Code, "payload_hex": hex.EncodeToString(payload)})
		if cfg.echo {
			back := p2p.Msg{Code: msg.Code, Size: uint32(len(payload)), Payload: bytes.NewReader(payload)}
			if err := rw.WriteMsg(back); err != nil {
				return err
			}
		}
		if n := counter.(*atomic.Int64).Add(1); cfg.discAfter > 0 && n == cfg.discAfter {
			peer.Disconnect(cfg.discReason)
		}
	}
}
