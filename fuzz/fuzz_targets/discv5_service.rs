//! The discv5 protocol state machine (`v5::Discv5` of node B) fed what the network may send it:
//! raw datagrams from anywhere, and a conversation with a real peer A (a `Codec` the target
//! drives) whose messages, answers and silences the input chooses, so the fuzzer gets past the
//! encryption to the request, response, session and timer logic.
//!
//! Input: a list of operations, each a tag byte (bits 0-2 the operation, the others its
//! variant) and its operands (missing bytes read as 0):
//! - `0` (also `6`): a raw datagram of `6 * len` bytes (`len` one byte), from A's address, C's or a
//!   stranger's (tag bits 4-5);
//! - `1`: a message plaintext of `len` bytes that A sends B (only valid messages are sent; the
//!   `discv5_message` target fuzzes the decoder), over a session, handshaking as needed;
//! - `2` (also `7`): time passes, `20 ms * byte`;
//! - `3`: B asks A: PING, FINDNODE (distances from the next byte), TALKREQ of a registered or
//!   unknown protocol, or starts a random lookup (tag bits 3-4);
//! - `4`: how A answers B's requests from now on (one byte: silent, the NODES total announced,
//!   how many NODES messages and which records, a wrong request id);
//! - `5`: A drops its session with B (its next message starts a new handshake), or (tag bit
//!   3) B answers the oldest TALKREQ of its served protocol `served` (handed out as an event).
//!
//! B answers `echo` inline and serves `served` through events, at most 4 waiting.
//!
//! After each operation the datagrams between A and B are exchanged (bounded); what B sends
//! elsewhere is lost. At the end time runs on with nobody answering.
//!
//! Checks: every datagram B sends is 63..=1280 bytes; every datagram fed in is counted; the
//! session cache and the TALKREQs waiting stay within their bounds; every PONG B sends A names A's address; a response
//! B accepts for a FINDNODE holds only records at the distances asked, each once; every
//! request B started ends exactly once with a response of its kind or an error, and every
//! lookup ends exactly once.

#![no_main]

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ethp2p_discovery::Enr;
use ethp2p_discovery::kad::LookupId;
use ethp2p_discovery::v5::{
    CallId, Codec, Decoded, Discv5, Event, MAX_PACKET_SIZE, MIN_PACKET_SIZE, Message, NodeAddress,
    RequestId, Response, ServiceConfig, TalkId, Whoareyou,
};
use ethp2p_fuzz::discv5::{ADDR_A, ADDR_B, address_b, codec_a, key_a, key_b, record_b};
use libfuzzer_sys::fuzz_target;
use secp256k1::SecretKey;

/// A third node, which A's NODES may name; B's packets to it are lost.
const ADDR_C: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), 30303);
/// A source nobody knows.
const ADDR_STRANGER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7)), 4000);
/// Datagrams exchanged between A and B after one operation, at most.
const PUMP_LIMIT: usize = 64;
/// Rounds of time passing at the end, at most, for every request and lookup to end.
const DRAIN_ROUNDS: usize = 2000;
/// TALKREQs of the served protocol waiting at most.
const MAX_TALK_REQUESTS: usize = 4;

/// A's record with its UDP endpoint (the vectors' record has none, so B could not call it).
fn record_a() -> Enr {
    Enr::builder()
        .seq(2)
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(ADDR_A.port())
        .build(&key_a())
        .unwrap()
}

fn record_c() -> Enr {
    let key = SecretKey::from_secret_bytes([0x33; 32]).unwrap();
    Enr::builder()
        .ip4(Ipv4Addr::new(127, 0, 0, 3))
        .udp4(ADDR_C.port())
        .build(&key)
        .unwrap()
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&first, rest)) => {
                self.0 = rest;
                first
            }
            None => 0,
        }
    }

    fn bytes(&mut self, len: usize) -> &[u8] {
        let (taken, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        taken
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallKind {
    Ping,
    FindNode,
    Talk,
}

struct Harness {
    now: Instant,
    b: Discv5,
    a: Codec,
    a_record: Enr,
    c_record: Enr,
    /// What A sent B last, for answering B's WHOAREYOU with it in a handshake.
    a_pending: Option<Message>,
    /// How A answers B's requests (see the header).
    answer: u8,
    fed: u64,
    calls: HashMap<CallId, (CallKind, Vec<u16>)>,
    ended_calls: HashSet<CallId>,
    lookups: HashSet<LookupId>,
    ended_lookups: HashSet<LookupId>,
    /// TALKREQs of `served` handed out, oldest first.
    talk_requests: Vec<TalkId>,
}

impl Harness {
    fn new(now: Instant) -> Self {
        let config = ServiceConfig {
            max_talk_requests: MAX_TALK_REQUESTS,
            ..ServiceConfig::default()
        };
        let mut b = Discv5::new(key_b(), record_b().clone(), config, now, 7).unwrap();
        b.serve_talk_protocol(b"served".to_vec());
        b.register_talk_protocol(
            b"echo".to_vec(),
            Box::new(|_: &NodeAddress, request: &[u8]| request.to_vec()),
        );
        Harness {
            now,
            b,
            a: codec_a(),
            a_record: record_a(),
            c_record: record_c(),
            a_pending: None,
            answer: 0,
            fed: 0,
            calls: HashMap::new(),
            ended_calls: HashSet::new(),
            lookups: HashSet::new(),
            ended_lookups: HashSet::new(),
            talk_requests: Vec::new(),
        }
    }

    fn feed_b(&mut self, from: SocketAddr, datagram: &[u8]) {
        self.fed += 1;
        self.b.handle_datagram(self.now, from, datagram);
    }

    fn a_send(&mut self, message: Message) {
        if let Ok(outgoing) = self.a.encode(&address_b(), &message) {
            self.a_pending = Some(message);
            self.feed_b(ADDR_A, &outgoing.packet);
        }
    }

    fn a_handshake(&mut self, challenge: &Whoareyou) {
        let Some(message) = self.a_pending.clone() else {
            return;
        };
        if let Ok(outgoing) = self
            .a
            .encode_handshake(&address_b(), record_b(), challenge, &message)
        {
            self.feed_b(ADDR_A, &outgoing.packet);
        }
    }

    /// A's answer to B's request, shaped by `self.answer`.
    fn a_answer(&mut self, request: Message) {
        if self.answer & 1 == 1 {
            return;
        }
        let mut request_id = request.request_id();
        if self.answer & 0x80 != 0 {
            request_id = RequestId::from_u64(u64::from(self.answer));
        }
        let answers = match request {
            Message::Ping { .. } => vec![Message::Pong {
                request_id,
                enr_seq: self.a_record.seq(),
                to_ip: ADDR_B.ip(),
                to_port: ADDR_B.port(),
            }],
            Message::FindNode { .. } => {
                let pool = [
                    self.a_record.clone(),
                    record_b().clone(),
                    self.c_record.clone(),
                ];
                let total = (self.answer >> 1) & 7;
                let messages = 1 + usize::from((self.answer >> 4) & 3);
                (0..messages)
                    .map(|i| Message::Nodes {
                        request_id,
                        total,
                        records: pool
                            .iter()
                            .enumerate()
                            .filter(|(j, _)| (usize::from(self.answer) >> (i + j)) & 1 == 1)
                            .map(|(_, record)| record.clone())
                            .collect(),
                    })
                    .collect()
            }
            Message::TalkReq { request, .. } => vec![Message::TalkResp {
                request_id,
                response: request,
            }],
            _ => Vec::new(),
        };
        for answer in answers {
            if let Ok(outgoing) = self.a.encode(&address_b(), &answer) {
                self.feed_b(ADDR_A, &outgoing.packet);
            }
        }
    }

    /// Takes B's datagrams and events; A reads and answers what is addressed to it, if `live`.
    fn pump(&mut self, live: bool) {
        for _ in 0..PUMP_LIMIT {
            self.take_events();
            let Some(transmit) = self.b.poll_transmit() else {
                return;
            };
            let len = transmit.payload.len();
            assert!(
                (MIN_PACKET_SIZE..=MAX_PACKET_SIZE).contains(&len),
                "B sent a datagram of {len} bytes"
            );
            if !live || transmit.to != ADDR_A {
                continue;
            }
            match self.a.decode(self.now, ADDR_B, &transmit.payload) {
                Ok(Decoded::Whoareyou(challenge)) => self.a_handshake(&challenge),
                Ok(Decoded::Unreadable { nonce, .. }) => {
                    if let Ok(challenge) =
                        self.a
                            .challenge(self.now, &address_b(), nonce, Some(record_b()))
                    {
                        self.feed_b(ADDR_A, &challenge.packet);
                    }
                }
                Ok(Decoded::Message { message, .. } | Decoded::Handshake { message, .. }) => {
                    if let Message::Pong { to_ip, to_port, .. } = &message {
                        assert_eq!(SocketAddr::new(*to_ip, *to_port), ADDR_A, "PONG names A");
                    }
                    if message.is_request() {
                        self.a_answer(message);
                    }
                }
                Err(_) => {}
            }
        }
        // Whatever is left after the bound is lost on the way.
        while let Some(transmit) = self.b.poll_transmit() {
            let len = transmit.payload.len();
            assert!((MIN_PACKET_SIZE..=MAX_PACKET_SIZE).contains(&len));
        }
        self.take_events();
    }

    fn take_events(&mut self) {
        while let Some(event) = self.b.poll_event() {
            match event {
                Event::Response { call, result } => {
                    let (kind, distances) = self.calls.get(&call).expect("a call of ours").clone();
                    assert!(self.ended_calls.insert(call), "{call:?} ended twice");
                    match (kind, result) {
                        (_, Err(_)) | (CallKind::Ping, Ok(Response::Pong { .. })) => {}
                        (CallKind::Talk, Ok(Response::Talk(_))) => {}
                        (CallKind::FindNode, Ok(Response::Nodes(records))) => {
                            let a_id = self.a_record.id();
                            let mut seen = HashSet::new();
                            for record in records {
                                assert!(seen.insert(record.id()), "a record twice");
                                let distance = a_id.log_distance(&record.id());
                                assert!(
                                    u16::try_from(distance).is_ok_and(|d| distances.contains(&d)),
                                    "a record at distance {distance}, not asked for"
                                );
                            }
                        }
                        (kind, Ok(other)) => panic!("{kind:?} answered with {other:?}"),
                    }
                }
                Event::TalkRequest(request) => {
                    assert_eq!(request.protocol, b"served");
                    assert_eq!(request.node.addr, ADDR_A, "only A speaks over a session");
                    self.talk_requests.push(request.id);
                }
                Event::LookupFinished { id, .. } if self.lookups.contains(&id) => {
                    assert!(self.ended_lookups.insert(id), "{id:?} ended twice");
                }
                _ => {}
            }
        }
    }

    fn call(&mut self, tag: u8, input: &mut Input) {
        let record = self.a_record.clone();
        match (tag >> 3) & 3 {
            0 => {
                let call = self.b.ping(self.now, &record);
                self.calls.insert(call, (CallKind::Ping, Vec::new()));
            }
            1 => {
                let byte = input.byte();
                let distances: Vec<u16> = match byte & 3 {
                    0 => vec![0],
                    1 => vec![256, 255, 254],
                    2 => vec![u16::from(byte)],
                    _ => vec![256, 256, 300],
                };
                let call = self.b.find_node(self.now, &record, distances.clone());
                self.calls.insert(call, (CallKind::FindNode, distances));
            }
            2 => {
                let protocol = match input.byte() % 3 {
                    0 => b"echo".to_vec(),
                    1 => b"served".to_vec(),
                    _ => b"other".to_vec(),
                };
                let request = input.bytes(16).to_vec();
                let call = self.b.talk_request(self.now, &record, protocol, request);
                self.calls.insert(call, (CallKind::Talk, Vec::new()));
            }
            _ => {
                let id = self.b.random_lookup(self.now);
                self.lookups.insert(id);
            }
        }
    }

    fn check(&self) {
        assert_eq!(self.b.stats().received, self.fed, "every datagram counted");
        assert!(self.b.session_count() <= ServiceConfig::default().codec.session_capacity);
        assert!(self.b.pending_talk_count() <= MAX_TALK_REQUESTS);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut harness = Harness::new(Instant::now());
    let mut operations = 0;
    while !input.0.is_empty() && operations < 256 {
        operations += 1;
        let tag = input.byte();
        match tag & 7 {
            0 | 6 => {
                let len = 6 * usize::from(input.byte());
                let datagram = input.bytes(len).to_vec();
                let from = [ADDR_A, ADDR_C, ADDR_STRANGER, ADDR_A][usize::from(tag >> 4) & 3];
                harness.feed_b(from, &datagram);
            }
            1 => {
                let len = usize::from(input.byte());
                if let Ok(message) = Message::decode(input.bytes(len)) {
                    harness.a_send(message);
                }
            }
            2 | 7 => {
                harness.now += Duration::from_millis(20) * u32::from(input.byte());
                harness.b.handle_timeout(harness.now);
            }
            3 => harness.call(tag, &mut input),
            4 => harness.answer = input.byte(),
            _ if tag & 8 == 0 => {
                harness.a.remove_session(&address_b());
            }
            _ => {
                if !harness.talk_requests.is_empty() {
                    let id = harness.talk_requests.remove(0);
                    let response = input.bytes(8).to_vec();
                    harness.b.respond_talk(id, response);
                }
            }
        }
        harness.pump(true);
        harness.check();
    }
    // Time runs on with nobody answering: every request and lookup must end.
    for _ in 0..DRAIN_ROUNDS {
        if harness.ended_calls.len() == harness.calls.len()
            && harness.ended_lookups.len() == harness.lookups.len()
        {
            break;
        }
        harness.now += Duration::from_secs(2);
        harness.b.handle_timeout(harness.now);
        harness.pump(false);
    }
    harness.check();
    assert_eq!(
        harness.ended_calls.len(),
        harness.calls.len(),
        "a request never ended"
    );
    assert_eq!(
        harness.ended_lookups.len(),
        harness.lookups.len(),
        "a lookup never ended"
    );
});
