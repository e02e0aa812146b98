package main

import (
	"bufio"
	"flag"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"
)

// procStatusKB reads one "Name:   N kB" field of /proc/self/status, in bytes.
func procStatusBytes(field string) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, field+":") {
			continue
		}
		f := strings.Fields(line[len(field)+1:])
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseUint(f[0], 10, 64)
		return n * 1024
	}
	return 0
}

// memSnapshot runs a GC and reports the process's memory figures.
func memSnapshot() map[string]any {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return map[string]any{
		"rss":        procStatusBytes("VmRSS"),
		"hwm":        procStatusBytes("VmHWM"),
		"heap_inuse": ms.HeapInuse,
		"heap_alloc": ms.HeapAlloc,
		"stack":      ms.StackInuse,
		"sys":        ms.Sys,
		"goroutines": runtime.NumGoroutine(),
	}
}

// idleProtocol is a sub-protocol that reads and drops whatever it gets: an idle peer.
func idleProtocol(spec capSpec) p2p.Protocol {
	return p2p.Protocol{
		Name:    spec.Name,
		Version: spec.Version,
		Length:  spec.Length,
		Run: func(_ *p2p.Peer, rw p2p.MsgReadWriter) error {
			for {
				msg, err := rw.ReadMsg()
				if err != nil {
					return err
				}
				msg.Discard()
			}
		},
	}
}

// runMemServer: a p2p.Server that accepts idle peers and reports its memory. Commands
// on stdin, one per line: "measure" prints {"event":"mem","peers":N,...}, "peers"
// prints {"event":"peers","peers":N}, "quit" stops it (so do SIGINT and SIGTERM; end
// of input only ends the reading of commands).
func runMemServer(args []string) int {
	fs := flag.NewFlagSet("memserver", flag.ContinueOnError)
	var (
		keyHex     = fs.String("key", "", "node private key, 64 hex digits (default: random)")
		listen     = fs.String("listen", "127.0.0.1:0", "TCP listen address")
		protocols  = fs.String("protocols", "idle/1:1", "sub-protocols (all idle), name/version:length,...")
		maxPeers   = fs.Int("max-peers", 20000, "p2p.Server MaxPeers (NoDial is set, so all of it is inbound)")
		maxPending = fs.Int("max-pending", 0, "p2p.Server MaxPendingPeers (0: go-ethereum default 50)")
		verbosity  = fs.Int("verbosity", 0, "go-ethereum log level on stderr (0 silent .. 5 trace)")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	setupLogging(*verbosity)
	nofile := raiseNofile(uint64(*maxPeers) + 100)
	key, err := parseKey(*keyHex)
	if err != nil {
		warnf("--key: %v", err)
		return 2
	}
	specs, err := parseCaps(*protocols, 1)
	if err != nil {
		warnf("--protocols: %v", err)
		return 2
	}
	srv := &p2p.Server{Config: p2p.Config{
		PrivateKey:      key,
		MaxPeers:        *maxPeers,
		MaxPendingPeers: *maxPending,
		NoDiscovery:     true,
		NoDial:          true,
		Name:            "gethpeer-memserver/" + gethVersion(),
		ListenAddr:      *listen,
	}}
	for _, s := range specs {
		srv.Protocols = append(srv.Protocols, idleProtocol(s))
	}
	if err := srv.Start(); err != nil {
		warnf("server start: %v", err)
		return 1
	}
	emit(map[string]any{"event": "listening", "enode": enodeURL(&key.PublicKey, srv.ListenAddr), "id": pubHex(&key.PublicKey), "nofile": nofile})

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
		close(lines)
	}()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				lines = nil // no more commands; run until a signal
				continue
			}
			if line == "quit" {
				stopServer(srv)
				return 0
			}
			switch line {
			case "measure":
				m := memSnapshot()
				m["event"] = "mem"
				m["peers"] = srv.PeerCount()
				emit(m)
			case "peers":
				emit(map[string]any{"event": "peers", "peers": srv.PeerCount()})
			case "":
			default:
				warnf("unknown command %q", line)
			}
		case <-sigs:
			stopServer(srv)
			return 0
		}
	}
}

// runMemDialer opens --count idle connections (RLPx + Hello, then pong to pings) to
// --enode and holds them until SIGINT/SIGTERM.
func runMemDialer(args []string) int {
	fs := flag.NewFlagSet("memdialer", flag.ContinueOnError)
	var (
		target      = fs.String("enode", "", "enode URL of the node to fill with idle peers (required)")
		count       = fs.Int("count", 5000, "number of connections")
		concurrency = fs.Int("concurrency", 32, "handshakes in flight at once")
		capsFlag    = fs.String("caps", "idle/1", "capabilities announced in Hello, name/version,...")
		name        = fs.String("name", "", "client id in Hello (default gethpeer-memdialer/<go-ethereum version>)")
		timeout     = fs.Duration("handshake-timeout", 10*time.Second, "bound on each dial+handshake+hello")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *target == "" {
		warnf("memdialer: --enode is required")
		return 2
	}
	node, err := enode.ParseV4(*target)
	if err != nil {
		warnf("--enode: %v", err)
		return 2
	}
	tcp, ok := node.TCPEndpoint()
	if !ok {
		warnf("--enode has no TCP endpoint")
		return 2
	}
	specs, err := parseCaps(*capsFlag, 1)
	if err != nil {
		warnf("--caps: %v", err)
		return 2
	}
	caps := capsToP2P(specs)
	clientName := *name
	if clientName == "" {
		clientName = "gethpeer-memdialer/" + gethVersion()
	}
	nofile := raiseNofile(uint64(*count) + 100)

	var (
		open, failed, dropped atomic.Int64
		closing               atomic.Bool
		mu                    sync.Mutex
		peers                 []*rawPeer
		firstErr              string
		jobs                  = make(chan struct{})
		wg                    sync.WaitGroup
		start                 = time.Now()
	)
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				key, err := crypto.GenerateKey()
				if err == nil {
					var p *rawPeer
					p, err = dialRaw(tcp.String(), node.Pubkey(), key, clientName, caps, *timeout)
					if err == nil {
						open.Add(1)
						mu.Lock()
						peers = append(peers, p)
						mu.Unlock()
						go func() {
							err := p.idle()
							open.Add(-1)
							if dropped.Add(1) <= 5 && !closing.Load() {
								warnf("memdialer: connection ended: %v", err)
							}
						}()
						continue
					}
				}
				if failed.Add(1) == 1 {
					mu.Lock()
					firstErr = err.Error()
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < *count; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	done := map[string]any{
		"event": "connected", "count": open.Load(), "failed": failed.Load(),
		"seconds": time.Since(start).Seconds(), "nofile": nofile,
	}
	if firstErr != "" {
		done["first_error"] = firstErr
	}
	emit(done)

	// Hold the connections, reporting changes in the number still open.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := open.Load()
	for {
		select {
		case <-tick.C:
			if n := open.Load(); n != last {
				last = n
				emit(map[string]any{"event": "status", "open": n, "dropped": dropped.Load()})
			}
		case <-sigs:
			closing.Store(true)
			closeAll(peers, &mu)
			return 0
		}
	}
}

func closeAll(peers []*rawPeer, mu *sync.Mutex) {
	mu.Lock()
	defer mu.Unlock()
	for _, p := range peers {
		p.conn.Close()
	}
}
