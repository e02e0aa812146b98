package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
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

const benchUsage = `usage: gethpeer bench <throughput|handshakes|memory> [flags]`

func runBench(args []string) int {
	if len(args) < 1 {
		warnf("%s", benchUsage)
		return 2
	}
	switch args[0] {
	case "throughput":
		return benchThroughput(args[1:])
	case "handshakes":
		return benchHandshakes(args[1:])
	case "memory":
		return benchMemory(args[1:])
	default:
		warnf("unknown bench %q\n%s", args[0], benchUsage)
		return 2
	}
}

// cpuSeconds is the user+system CPU time this process has used so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

var benchProto = capSpec{Name: "bench", Version: 1, Length: 2}

// ---------------------------------------------------------------------------
// throughput

func benchThroughput(args []string) int {
	fs := flag.NewFlagSet("bench throughput", flag.ContinueOnError)
	var (
		sizes     = fs.String("size", "1024", "message payload size in bytes; a comma list runs one connection per size")
		messages  = fs.Int("messages", 0, "messages per size (0: enough for --bytes, between 1000 and 500000)")
		total     = fs.Int64("bytes", 256<<20, "payload bytes per size when --messages is 0")
		fill      = fs.String("fill", "random", "payload content: random (incompressible) or zero (snappy shrinks it)")
		verbosity = fs.Int("verbosity", 0, "go-ethereum log level on stderr (0 silent .. 5 trace)")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	setupLogging(*verbosity)
	if *fill != "random" && *fill != "zero" {
		warnf("--fill must be random or zero")
		return 2
	}
	for _, item := range strings.Split(*sizes, ",") {
		size, err := strconv.Atoi(strings.TrimSpace(item))
		if err != nil || size < 0 || size >= 1<<24 {
			warnf("--size %q: want 0 <= size < 16777216", item)
			return 2
		}
		n := *messages
		if n <= 0 {
			n = int(*total / int64(max(size, 1)))
			n = min(max(n, 1000), 500000)
		}
		res, err := throughputOnce(size, n, *fill)
		if err != nil {
			warnf("throughput size %d: %v", size, err)
			return 1
		}
		emit(res)
	}
	return 0
}

// throughputOnce connects two p2p.Servers over loopback; the dialing side sends n
// messages of size bytes as fast as the peer's write path allows and the listening side
// counts them. Time runs from the first send to the arrival of the last message.
func throughputOnce(size, n int, fill string) (map[string]any, error) {
	payload := make([]byte, size)
	if fill == "random" {
		rand.Read(payload)
	}
	var (
		startOnce sync.Once
		start     time.Time
		cpuStart  float64
		done      = make(chan time.Time, 1)
		failed    = make(chan error, 2)
	)
	recvProto := p2p.Protocol{
		Name: benchProto.Name, Version: benchProto.Version, Length: benchProto.Length,
		Run: func(peer *p2p.Peer, rw p2p.MsgReadWriter) error {
			for got := 0; ; {
				msg, err := rw.ReadMsg()
				if err != nil {
					return err
				}
				if int(msg.Size) != size {
					failed <- fmt.Errorf("received %d bytes, want %d", msg.Size, size)
				}
				msg.Discard()
				if got++; got == n {
					done <- time.Now()
				}
			}
		},
	}
	sendProto := p2p.Protocol{
		Name: benchProto.Name, Version: benchProto.Version, Length: benchProto.Length,
		Run: func(peer *p2p.Peer, rw p2p.MsgReadWriter) error {
			startOnce.Do(func() { start, cpuStart = time.Now(), cpuSeconds() })
			r := bytes.NewReader(payload)
			for i := 0; i < n; i++ {
				r.Reset(payload)
				if err := rw.WriteMsg(p2p.Msg{Code: 0, Size: uint32(size), Payload: r}); err != nil {
					failed <- fmt.Errorf("send %d: %w", i, err)
					return err
				}
			}
			for { // stay connected until the benchmark tears the servers down
				msg, err := rw.ReadMsg()
				if err != nil {
					return err
				}
				msg.Discard()
			}
		},
	}
	recvKey, _ := crypto.GenerateKey()
	sendKey, _ := crypto.GenerateKey()
	recv := &p2p.Server{Config: p2p.Config{
		PrivateKey: recvKey, MaxPeers: 10, NoDiscovery: true, NoDial: true,
		Name: "gethpeer-bench-recv", ListenAddr: "127.0.0.1:0", Protocols: []p2p.Protocol{recvProto},
	}}
	send := &p2p.Server{Config: p2p.Config{
		PrivateKey: sendKey, MaxPeers: 10, NoDiscovery: true,
		Name: "gethpeer-bench-send", Protocols: []p2p.Protocol{sendProto},
	}}
	if err := recv.Start(); err != nil {
		return nil, err
	}
	defer stopServer(recv)
	if err := send.Start(); err != nil {
		return nil, err
	}
	defer stopServer(send)
	target, err := enode.ParseV4(enodeURL(&recvKey.PublicKey, recv.ListenAddr))
	if err != nil {
		return nil, err
	}
	send.AddPeer(target)

	select {
	case end := <-done:
		secs, cpu := end.Sub(start).Seconds(), cpuSeconds()-cpuStart
		mb := float64(size) * float64(n) / 1e6
		return map[string]any{
			"bench": "throughput", "size": size, "messages": n, "fill": fill,
			"seconds": secs, "mb_per_s": mb / secs, "msgs_per_s": float64(n) / secs,
			"cpu_seconds": cpu, "mb_per_cpu_s": mb / cpu,
		}, nil
	case err := <-failed:
		return nil, err
	case <-time.After(10 * time.Minute):
		return nil, errors.New("timed out")
	}
}

// ---------------------------------------------------------------------------
// handshakes

// eventRouter forwards a server's peer events to per-peer channels.
type eventRouter struct {
	chans map[enode.ID]chan *p2p.PeerEvent
}

func newEventRouter(srv *p2p.Server, ids []enode.ID) *eventRouter {
	r := &eventRouter{chans: make(map[enode.ID]chan *p2p.PeerEvent, len(ids))}
	for _, id := range ids {
		r.chans[id] = make(chan *p2p.PeerEvent, 64)
	}
	events := make(chan *p2p.PeerEvent, 1024)
	srv.SubscribeEvents(events)
	go func() {
		for ev := range events {
			if ch, ok := r.chans[ev.Peer]; ok {
				ch <- ev
			}
		}
	}()
	return r
}

// await waits for the next event of type typ for id, skipping others.
func (r *eventRouter) await(id enode.ID, typ p2p.PeerEventType, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-r.chans[id]:
			if ev.Type == typ {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("no %q event within %v", typ, timeout)
		}
	}
}

func benchHandshakes(args []string) int {
	fs := flag.NewFlagSet("bench handshakes", flag.ContinueOnError)
	var (
		dialers    = fs.Int("dialers", 8, "concurrent dialers (each with its own key)")
		seconds    = fs.Duration("duration", 10*time.Second, "how long to run")
		mode       = fs.String("dialer", "server", "dialing side: server (a p2p.Server per dialer, SetupConn) or raw (rlpx.Conn + hand-made Hello)")
		maxPending = fs.Int("max-pending", 0, "listening server's MaxPendingPeers (0: go-ethereum default 50)")
		verbosity  = fs.Int("verbosity", 0, "go-ethereum log level on stderr (0 silent .. 5 trace)")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	setupLogging(*verbosity)
	if *mode != "server" && *mode != "raw" {
		warnf("--dialer must be server or raw")
		return 2
	}
	raiseNofile(uint64(4**dialers) + 100)

	lkey, _ := crypto.GenerateKey()
	listener := &p2p.Server{Config: p2p.Config{
		PrivateKey: lkey, MaxPeers: 2**dialers + 10, MaxPendingPeers: *maxPending,
		NoDiscovery: true, NoDial: true, Name: "gethpeer-bench-listen", ListenAddr: "127.0.0.1:0",
		Protocols: []p2p.Protocol{idleProtocol(benchProto)},
	}}
	keys := make([]*ecdsa.PrivateKey, *dialers)
	ids := make([]enode.ID, *dialers)
	for i := range keys {
		keys[i], _ = crypto.GenerateKey()
		ids[i] = enode.PubkeyToIDV4(&keys[i].PublicKey)
	}
	router := newEventRouter(listener, ids)
	if err := listener.Start(); err != nil {
		warnf("listener start: %v", err)
		return 1
	}
	defer stopServer(listener)
	target, _ := enode.ParseV4(enodeURL(&lkey.PublicKey, listener.ListenAddr))
	addr := listener.ListenAddr

	var (
		completed, failures atomic.Int64
		firstErr            atomic.Value
		wg                  sync.WaitGroup
		start               = time.Now()
		cpuStart            = cpuSeconds()
		stopAt              = start.Add(*seconds)
	)
	fail := func(err error) {
		failures.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	const wait = 10 * time.Second
	for i := 0; i < *dialers; i++ {
		wg.Add(1)
		go func(key *ecdsa.PrivateKey, id enode.ID) {
			defer wg.Done()
			var (
				dialer *p2p.Server
				devs   chan *p2p.PeerEvent
			)
			if *mode == "server" {
				dialer = &p2p.Server{Config: p2p.Config{
					PrivateKey: key, MaxPeers: 10, NoDiscovery: true, NoDial: true,
					Name: "gethpeer-bench-dial", Protocols: []p2p.Protocol{idleProtocol(benchProto)},
				}}
				devs = make(chan *p2p.PeerEvent, 16)
				dialer.SubscribeEvents(devs)
				if err := dialer.Start(); err != nil {
					fail(err)
					return
				}
				defer stopServer(dialer)
			}
			for time.Now().Before(stopAt) {
				if *mode == "server" {
					if err := serverCycle(dialer, devs, target, addr, router, id, wait); err != nil {
						fail(err)
						if errors.Is(err, errStuck) {
							return
						}
					} else {
						completed.Add(1)
					}
					continue
				}
				p, err := dialRaw(addr, &lkey.PublicKey, key, "gethpeer-bench-raw", capsToP2P([]capSpec{benchProto}), wait)
				if err != nil {
					fail(err)
					continue
				}
				if err := router.await(id, p2p.PeerEventTypeAdd, wait); err != nil {
					p.conn.Close()
					fail(err)
					return
				}
				p.disconnect(p2p.DiscRequested)
				if err := router.await(id, p2p.PeerEventTypeDrop, wait); err != nil {
					fail(err)
					return
				}
				completed.Add(1)
			}
		}(keys[i], ids[i])
	}
	wg.Wait()
	elapsed, cpu := time.Since(start).Seconds(), cpuSeconds()-cpuStart
	res := map[string]any{
		"bench": "handshakes", "per_second": float64(completed.Load()) / elapsed,
		"completed": completed.Load(), "failures": failures.Load(), "seconds": elapsed,
		"dialers": *dialers, "dialer": *mode, "cpu_seconds": cpu,
		"per_cpu_second": float64(completed.Load()) / cpu,
		"max_pending":    effectivePending(listener.MaxPendingPeers),
	}
	if e := firstErr.Load(); e != nil {
		res["first_error"] = e
	}
	emit(res)
	return 0
}

var errStuck = errors.New("peer events out of step")

// serverCycle is one full connect/disconnect between a dialing p2p.Server and the
// listener: TCP dial, SetupConn (RLPx handshake + Hello, peer added on the dialing
// side), wait until the listener has added the peer, disconnect from the dialing side,
// wait until both sides have dropped it.
func serverCycle(dialer *p2p.Server, devs chan *p2p.PeerEvent, target *enode.Node, addr string, router *eventRouter, id enode.ID, wait time.Duration) error {
	fd, err := dialTCP(addr, wait)
	if err != nil {
		return err
	}
	if err := dialer.SetupConn(fd, 0, target); err != nil {
		return err
	}
	if err := router.await(id, p2p.PeerEventTypeAdd, wait); err != nil {
		return fmt.Errorf("%w: %v", errStuck, err)
	}
	peers := dialer.Peers()
	if len(peers) != 1 {
		return fmt.Errorf("%w: dialer has %d peers", errStuck, len(peers))
	}
	peers[0].Disconnect(p2p.DiscRequested)
	if err := router.await(id, p2p.PeerEventTypeDrop, wait); err != nil {
		return fmt.Errorf("%w: %v", errStuck, err)
	}
	deadline := time.After(wait)
	for {
		select {
		case ev := <-devs:
			if ev.Type == p2p.PeerEventTypeDrop {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("%w: dialer never dropped the peer", errStuck)
		}
	}
}

// ---------------------------------------------------------------------------
// memory

// child is a gethpeer subprocess whose stdout is read as JSON lines.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan map[string]any
}

func startChild(args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, lines: make(chan map[string]any, 64)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var obj map[string]any
			if json.Unmarshal(sc.Bytes(), &obj) == nil {
				c.lines <- obj
			}
		}
		close(c.lines)
	}()
	return c, nil
}

// next waits for the next line whose "event" is ev.
func (c *child) next(ev string, timeout time.Duration) (map[string]any, error) {
	deadline := time.After(timeout)
	for {
		select {
		case obj, ok := <-c.lines:
			if !ok {
				return nil, fmt.Errorf("%s exited before %q", c.cmd.Args[1], ev)
			}
			if obj["event"] == ev {
				return obj, nil
			}
		case <-deadline:
			return nil, fmt.Errorf("no %q from %s within %v", ev, c.cmd.Args[1], timeout)
		}
	}
}

func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

func num(obj map[string]any, key string) float64 {
	f, _ := obj[key].(float64)
	return f
}

func benchMemory(args []string) int {
	fs := flag.NewFlagSet("bench memory", flag.ContinueOnError)
	var (
		peers       = fs.Int("peers", 5000, "idle peers to connect")
		settle      = fs.Duration("settle", 3*time.Second, "wait after the last peer is added, before measuring")
		concurrency = fs.Int("concurrency", 32, "dialer handshakes in flight at once")
		maxPending  = fs.Int("max-pending", 0, "server MaxPendingPeers (0: go-ethereum default 50)")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	server, err := startChild("memserver", "--max-peers", strconv.Itoa(*peers+100), "--max-pending", strconv.Itoa(*maxPending))
	if err != nil {
		warnf("memserver: %v", err)
		return 1
	}
	defer server.stop()
	listening, err := server.next("listening", 30*time.Second)
	if err != nil {
		warnf("%v", err)
		return 1
	}
	measure := func() (map[string]any, error) {
		fmt.Fprintln(server.stdin, "measure")
		return server.next("mem", 60*time.Second)
	}
	time.Sleep(*settle)
	before, err := measure()
	if err != nil {
		warnf("%v", err)
		return 1
	}
	dialer, err := startChild("memdialer", "--enode", listening["enode"].(string), "--count", strconv.Itoa(*peers), "--concurrency", strconv.Itoa(*concurrency))
	if err != nil {
		warnf("memdialer: %v", err)
		return 1
	}
	defer dialer.stop()
	connected, err := dialer.next("connected", 30*time.Minute)
	if err != nil {
		warnf("%v", err)
		return 1
	}
	want := num(connected, "count")
	var count float64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		fmt.Fprintln(server.stdin, "peers")
		obj, err := server.next("peers", 10*time.Second)
		if err != nil {
			warnf("%v", err)
			return 1
		}
		if count = num(obj, "peers"); count >= want {
			break
		}
	}
	time.Sleep(*settle)
	after, err := measure()
	if err != nil {
		warnf("%v", err)
		return 1
	}
	n := num(after, "peers") - num(before, "peers")
	if n <= 0 {
		warnf("no peers connected (dialer: %v)", connected)
		return 1
	}
	per := func(key string) float64 { return (num(after, key) - num(before, key)) / n }
	res := map[string]any{
		"bench": "memory", "peers": n, "requested": *peers, "dial_failures": num(connected, "failed"),
		"connect_seconds":     num(connected, "seconds"),
		"rss_before":          num(before, "rss"),
		"rss_after":           num(after, "rss"),
		"rss_per_peer":        per("rss"),
		"heap_inuse_per_peer": per("heap_inuse"),
		"stack_per_peer":      per("stack"),
		"goroutines_per_peer": per("goroutines"),
	}
	if e, ok := connected["first_error"]; ok {
		res["first_error"] = e
	}
	emit(res)
	return 0
}

// effectivePending is the MaxPendingPeers value go-ethereum actually uses (0 means 50).
func effectivePending(n int) int {
	if n <= 0 {
		return 50
	}
	return n
}
