// Command gethpeer is an interop and benchmark peer for ethp2p built on go-ethereum's
// p2p package. It is driven by command-line flags and reports on stdout as JSON lines
// (one object per line); diagnostics go to stderr. See README.md for the modes.
package main

import (
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p"
)

const usage = `usage: gethpeer <mode> [flags]

modes:
  serve       run a go-ethereum p2p.Server with test protocols (interop tests)
  bench       benchmarks of go-ethereum's own p2p on loopback:
                bench throughput | bench handshakes | bench memory
  memserver   idle-peer sink used by "bench memory" (reports its own memory)
  memdialer   opens many idle RLPx+Hello connections to a node
  version     prints the go-ethereum version it was built with

run "gethpeer <mode> -h" for the flags of a mode.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	mode, args := os.Args[1], os.Args[2:]
	var code int
	switch mode {
	case "serve":
		code = runServe(args)
	case "bench":
		code = runBench(args)
	case "memserver":
		code = runMemServer(args)
	case "memdialer":
		code = runMemDialer(args)
	case "version":
		emit(map[string]any{"gethpeer": "1", "go-ethereum": gethVersion(), "go": runtime.Version()})
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stdout, usage)
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n\n%s", mode, usage)
		code = 2
	}
	os.Exit(code)
}

// out writes one JSON object per line to stdout. Safe for concurrent use.
var outMu sync.Mutex

func emit(obj map[string]any) {
	line, err := json.Marshal(obj)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gethpeer: json: %v\n", err)
		return
	}
	outMu.Lock()
	os.Stdout.Write(append(line, '\n'))
	outMu.Unlock()
}

func warnf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gethpeer: "+format+"\n", args...)
}

// setupLogging routes go-ethereum's logger to stderr. verbosity follows geth's
// numbering: 0 silent, 1 error, 2 warn, 3 info, 4 debug, 5 trace.
func setupLogging(verbosity int) {
	if verbosity <= 0 {
		return // go-ethereum's root logger discards by default
	}
	level := log.FromLegacyLevel(verbosity)
	log.SetDefault(log.NewLogger(log.NewTerminalHandlerWithLevel(os.Stderr, level, false)))
}

// parseKey reads a secp256k1 private key given as 64 hex digits (0x prefix optional).
// An empty string generates a fresh key.
func parseKey(s string) (*ecdsa.PrivateKey, error) {
	if s == "" {
		return crypto.GenerateKey()
	}
	return crypto.HexToECDSA(strings.TrimPrefix(s, "0x"))
}

// pubHex is the 128-hex-digit node id: the uncompressed public key without its 0x04 prefix.
func pubHex(pub *ecdsa.PublicKey) string {
	return hex.EncodeToString(crypto.FromECDSAPub(pub)[1:])
}

// enodeURL formats an enode URL for a key and the address actually listened on; an
// unspecified listen IP (0.0.0.0, ::) is reported as loopback.
func enodeURL(pub *ecdsa.PublicKey, addr string) string {
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return fmt.Sprintf("enode://%s@%s", pubHex(pub), addr)
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return fmt.Sprintf("enode://%s@%s", pubHex(pub), net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port)))
}

// parseCaps reads "name/version[:length],..." into protocol descriptions. The length
// defaults to defLen when absent.
type capSpec struct {
	Name    string
	Version uint
	Length  uint64
}

func (c capSpec) String() string { return fmt.Sprintf("%s/%d", c.Name, c.Version) }

func parseCaps(s string, defLen uint64) ([]capSpec, error) {
	var specs []capSpec
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		length := defLen
		if i := strings.IndexByte(item, ':'); i >= 0 {
			l, err := strconv.ParseUint(item[i+1:], 10, 64)
			if err != nil || l == 0 {
				return nil, fmt.Errorf("bad protocol length in %q", item)
			}
			length = l
			item = item[:i]
		}
		slash := strings.LastIndexByte(item, '/')
		if slash <= 0 {
			return nil, fmt.Errorf("protocol %q is not name/version", item)
		}
		v, err := strconv.ParseUint(item[slash+1:], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad protocol version in %q", item)
		}
		specs = append(specs, capSpec{Name: item[:slash], Version: uint(v), Length: length})
	}
	return specs, nil
}

func capsToP2P(specs []capSpec) []p2p.Cap {
	caps := make([]p2p.Cap, len(specs))
	for i, s := range specs {
		caps[i] = p2p.Cap{Name: s.Name, Version: s.Version}
	}
	return caps
}

// raiseNofile lifts the soft RLIMIT_NOFILE to at least want (bounded by the hard limit)
// and returns the resulting soft limit.
func raiseNofile(want uint64) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		warnf("getrlimit: %v", err)
		return 0
	}
	if lim.Cur >= want {
		return lim.Cur
	}
	target := want
	if lim.Max < target {
		warnf("RLIMIT_NOFILE hard limit %d is below the %d wanted", lim.Max, want)
		target = lim.Max
	}
	lim.Cur = target
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		warnf("setrlimit: %v", err)
	}
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}
