package main

import (
	"crypto/ecdsa"
	"fmt"
	"net"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/rlpx"
	"github.com/ethereum/go-ethereum/rlp"
)

// A lightweight dialer: go-ethereum's rlpx.Conn for the encryption handshake and
// framing, plus a hand-written Hello exchange. It costs far less per connection than a
// p2p.Server peer, which is what the memory benchmark's dialing side wants.

// Base protocol message codes (devp2p p2p v5).
const (
	codeHello      = 0x00
	codeDisconnect = 0x01
	codePing       = 0x02
	codePong       = 0x03
	p2pVersion     = 5
)

// helloMsg is the devp2p Hello, laid out as on the wire.
type helloMsg struct {
	Version    uint64
	Name       string
	Caps       []p2p.Cap
	ListenPort uint64
	ID         []byte         // 64-byte public key
	Rest       []rlp.RawValue `rlp:"tail"`
}

type rawPeer struct {
	conn   *rlpx.Conn
	remote helloMsg
}

// dialRaw connects to addr, runs the RLPx handshake with key as the initiator and
// exchanges Hello messages. Snappy is switched on when the remote speaks p2p v5.
// timeout bounds the whole setup.
func dialRaw(addr string, remote *ecdsa.PublicKey, key *ecdsa.PrivateKey, name string, caps []p2p.Cap, timeout time.Duration) (*rawPeer, error) {
	fd, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	conn := rlpx.NewConn(fd, remote)
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Handshake(key); err != nil {
		conn.Close()
		return nil, fmt.Errorf("rlpx handshake: %w", err)
	}
	ours := helloMsg{
		Version: p2pVersion,
		Name:    name,
		Caps:    caps,
		ID:      crypto.FromECDSAPub(&key.PublicKey)[1:],
	}
	enc, err := rlp.EncodeToBytes(&ours)
	if err != nil {
		conn.Close()
		return nil, err
	}
	// Both sides send Hello right after the handshake; ours is small enough to
	// sit in the socket buffer, so writing before reading cannot deadlock.
	if _, err := conn.Write(codeHello, enc); err != nil {
		conn.Close()
		return nil, fmt.Errorf("write hello: %w", err)
	}
	code, data, _, err := conn.Read()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read hello: %w", err)
	}
	switch code {
	case codeHello:
	case codeDisconnect:
		conn.Close()
		return nil, fmt.Errorf("remote disconnected before hello: %s", describeDisconnect(data))
	default:
		conn.Close()
		return nil, fmt.Errorf("expected hello, got code %d", code)
	}
	p := &rawPeer{conn: conn}
	if err := rlp.DecodeBytes(data, &p.remote); err != nil {
		conn.Close()
		return nil, fmt.Errorf("decode hello: %w", err)
	}
	conn.SetSnappy(p.remote.Version >= 5)
	conn.SetDeadline(time.Time{})
	return p, nil
}

// disconnect sends Disconnect with reason and closes the connection.
func (p *rawPeer) disconnect(reason p2p.DiscReason) {
	if enc, err := rlp.EncodeToBytes([]any{uint(reason)}); err == nil {
		p.conn.SetWriteDeadline(time.Now().Add(time.Second))
		p.conn.Write(codeDisconnect, enc)
	}
	p.conn.Close()
}

// idle keeps the connection alive: it answers pings with pongs and ignores everything
// else, until the connection fails or the remote disconnects. The returned error tells
// why it ended.
func (p *rawPeer) idle() error {
	for {
		code, data, _, err := p.conn.Read()
		if err != nil {
			return err
		}
		switch code {
		case codePing:
			if _, err := p.conn.Write(codePong, []byte{0xc0}); err != nil {
				return err
			}
		case codeDisconnect:
			return fmt.Errorf("remote disconnected: %s", describeDisconnect(data))
		}
	}
}

// describeDisconnect decodes a Disconnect payload, given as [reason] or as a bare
// reason, into geth's reason text.
func describeDisconnect(data []byte) string {
	var list []uint
	if err := rlp.DecodeBytes(data, &list); err == nil && len(list) > 0 {
		return p2p.DiscReason(list[0]).String()
	}
	var bare uint
	if err := rlp.DecodeBytes(data, &bare); err == nil {
		return p2p.DiscReason(bare).String()
	}
	return fmt.Sprintf("undecodable reason %x", data)
}

func dialTCP(addr string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, timeout)
}
