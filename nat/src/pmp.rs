//! NAT-PMP (RFC 6886) through the `natpmp` crate's tokio client.
//!
//! The crate encodes requests and decodes answers, but `read_response_or_retry` neither resends
//! nor times out, and hands back whatever answer arrives. So each request here is one
//! transaction on a socket of its own (no answer to an earlier request can be taken for this
//! one), sent and resent after 250 ms, doubling (the RFC's schedule, cut to a few tries), and
//! only an answer of the expected opcode for the expected private port is accepted.
//!
//! The gateway reports seconds since its start ("epoch") in every answer; an epoch lower than
//! the client expects means the gateway restarted and lost its mappings (RFC 6886 3.6). That is
//! how a NAT-PMP mapping is known to be lost: the protocol cannot list mappings.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use natpmp::{Protocol, Response};

use crate::gateway::Gateway;
use crate::{
    DiscoveryError, ErrorCode, GatewayError, Grant, MapRequest, Mapping, MappingProtocol, Presence,
    ProtocolViolation, Transport,
};

/// The first resend comes after this long; each further one waits twice as long.
const FIRST_WAIT: Duration = Duration::from_millis(250);

/// A NAT-PMP gateway.
#[derive(Debug)]
pub struct PmpGateway {
    gateway: Ipv4Addr,
    /// Where requests go: the gateway's port 5351 (another port only in tests).
    server: SocketAddrV4,
    tries: u32,
    /// The last epoch the gateway reported, and when.
    epoch: Option<(u32, Instant)>,
    /// How many gateway restarts were seen.
    restarts: u64,
    /// For each held mapping (transport, internal port): `restarts` when it was granted.
    granted: HashMap<(Transport, u16), u64>,
}

/// One request.
#[derive(Debug, Clone, Copy)]
enum Request {
    PublicAddress,
    Map {
        transport: Transport,
        private_port: u16,
        public_port: u16,
        lifetime: u32,
    },
}

impl PmpGateway {
    /// A client for the gateway at `gateway`, sending each request `tries` times at most. Not
    /// checked: see [`discover`](Self::discover).
    pub fn new(gateway: Ipv4Addr, tries: u32) -> PmpGateway {
        PmpGateway {
            gateway,
            server: SocketAddrV4::new(gateway, natpmp::NATPMP_PORT),
            tries: tries.max(1),
            epoch: None,
            restarts: 0,
            granted: HashMap::new(),
        }
    }

    /// A client for `gateway`, once it answered a public address request.
    pub async fn discover(gateway: Ipv4Addr, tries: u32) -> Result<PmpGateway, DiscoveryError> {
        PmpGateway::new(gateway, tries).answering().await
    }

    /// This client, once its gateway answered a public address request (an answer without an
    /// external address still shows a NAT-PMP gateway).
    async fn answering(mut self) -> Result<PmpGateway, DiscoveryError> {
        match self.external_ip().await {
            Ok(_) | Err(GatewayError::NoExternalAddress) => Ok(self),
            Err(source) => Err(DiscoveryError::Pmp {
                gateway: self.gateway,
                source,
            }),
        }
    }

    /// How long a transaction waits in all before giving up.
    fn total_wait(&self) -> Duration {
        (0..self.tries).map(|n| FIRST_WAIT * (1 << n.min(10))).sum()
    }

    async fn transaction(&mut self, request: Request) -> Result<Response, GatewayError> {
        let socket_error = |error: std::io::Error| GatewayError::Io(error.kind());
        let socket = tokio::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .await
            .map_err(socket_error)?;
        // Connected: the kernel drops datagrams from anyone but the gateway's NAT-PMP port.
        socket.connect(self.server).await.map_err(socket_error)?;
        let mut client = natpmp::new_natpmp_async_with(socket, self.gateway);
        let mut wait = FIRST_WAIT;
        for _ in 0..self.tries {
            send(&mut client, request).await?;
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                match tokio::time::timeout_at(deadline, client.read_response_or_retry()).await {
                    Err(_elapsed) => break,
                    Ok(Ok(response)) => {
                        if answers(request, &response) {
                            self.observe_epoch(epoch(&response));
                            return Ok(response);
                        }
                        tracing::debug!(?response, "NAT-PMP answer to another request ignored");
                    }
                    Ok(Err(error)) => return Err(result_error(error)),
                }
            }
            wait *= 2;
        }
        Err(GatewayError::Timeout(self.total_wait()))
    }

    fn observe_epoch(&mut self, epoch: u32) {
        let now = Instant::now();
        if let Some((previous, at)) = self.epoch {
            if epoch_shows_restart(previous, at, epoch, now) {
                self.restarts += 1;
                tracing::debug!(
                    gateway = %self.gateway,
                    previous,
                    epoch,
                    "NAT-PMP gateway restarted: its mappings are gone"
                );
            }
        }
        self.epoch = Some((epoch, now));
    }
}

impl Gateway for PmpGateway {
    fn protocol(&self) -> MappingProtocol {
        MappingProtocol::NatPmp
    }

    fn address(&self) -> IpAddr {
        self.gateway.into()
    }

    fn describe(&self) -> String {
        format!("NAT-PMP at {}", self.gateway)
    }

    async fn external_ip(&mut self) -> Result<IpAddr, GatewayError> {
        match self.transaction(Request::PublicAddress).await? {
            Response::Gateway(answer) if answer.public_address().is_unspecified() => {
                Err(GatewayError::NoExternalAddress)
            }
            Response::Gateway(answer) => Ok(IpAddr::V4(*answer.public_address())),
            _ => Err(GatewayError::Protocol(ProtocolViolation::UnexpectedAnswer)),
        }
    }

    async fn check(&mut self, mapping: Mapping) -> Result<Presence, GatewayError> {
        let key = (mapping.transport, mapping.internal_port);
        Ok(match self.granted.get(&key) {
            Some(&generation) if generation < self.restarts => Presence::Absent,
            _ => Presence::Unknown,
        })
    }

    async fn map(&mut self, request: MapRequest) -> Result<Grant, GatewayError> {
        let lifetime = u32::try_from(request.lifetime.as_secs())
            .unwrap_or(u32::MAX)
            .max(1);
        let response = self
            .transaction(Request::Map {
                transport: request.transport,
                private_port: request.internal_port,
                public_port: request.external_port,
                lifetime,
            })
            .await?;
        let (Response::TCP(answer) | Response::UDP(answer)) = response else {
            return Err(GatewayError::Protocol(ProtocolViolation::UnexpectedAnswer));
        };
        if answer.lifetime().is_zero() || answer.public_port() == 0 {
            return Err(GatewayError::Protocol(ProtocolViolation::EmptyGrant));
        }
        self.granted
            .insert((request.transport, request.internal_port), self.restarts);
        Ok(Grant {
            external_port: answer.public_port(),
            lifetime: *answer.lifetime(),
        })
    }

    async fn unmap(&mut self, mapping: Mapping) -> Result<(), GatewayError> {
        // RFC 6886 3.4: lifetime 0 and suggested external port 0 delete the mapping.
        self.transaction(Request::Map {
            transport: mapping.transport,
            private_port: mapping.internal_port,
            public_port: 0,
            lifetime: 0,
        })
        .await?;
        self.granted
            .remove(&(mapping.transport, mapping.internal_port));
        Ok(())
    }
}

async fn send(
    client: &mut natpmp::NatpmpAsync<tokio::net::UdpSocket>,
    request: Request,
) -> Result<(), GatewayError> {
    let sent = match request {
        Request::PublicAddress => client.send_public_address_request().await,
        Request::Map {
            transport,
            private_port,
            public_port,
            lifetime,
        } => {
            let protocol = match transport {
                Transport::Tcp => Protocol::TCP,
                Transport::Udp => Protocol::UDP,
            };
            client
                .send_port_mapping_request(protocol, private_port, public_port, lifetime)
                .await
        }
    };
    sent.map_err(result_error)
}

/// Whether `response` answers `request`: the right opcode, and for mappings the right private
/// port.
fn answers(request: Request, response: &Response) -> bool {
    match (request, response) {
        (Request::PublicAddress, Response::Gateway(_)) => true,
        (
            Request::Map {
                transport: Transport::Tcp,
                private_port,
                ..
            },
            Response::TCP(answer),
        )
        | (
            Request::Map {
                transport: Transport::Udp,
                private_port,
                ..
            },
            Response::UDP(answer),
        ) => answer.private_port() == private_port,
        _ => false,
    }
}

fn epoch(response: &Response) -> u32 {
    match response {
        Response::Gateway(answer) => answer.epoch(),
        Response::TCP(answer) | Response::UDP(answer) => answer.epoch(),
    }
}

/// RFC 6886 3.6: the gateway lost its state if its epoch is more than 2 s below the previous
/// epoch plus 7/8 of the time elapsed since (the 1/8 allows for clock drift), or went backwards.
pub fn epoch_shows_restart(previous: u32, previous_at: Instant, epoch: u32, now: Instant) -> bool {
    if epoch < previous {
        return true;
    }
    let elapsed = now.saturating_duration_since(previous_at).as_secs();
    let expected = u64::from(previous) + elapsed * 7 / 8;
    u64::from(epoch) + 2 < expected
}

fn result_error(error: natpmp::Error) -> GatewayError {
    use natpmp::Error as E;
    // RFC 6886 section 3.5 result codes.
    match error {
        E::NATPMP_ERR_UNSUPPORTEDVERSION => GatewayError::Unsupported(ErrorCode::Pmp(1)),
        E::NATPMP_ERR_NOTAUTHORIZED => GatewayError::NotAuthorized(ErrorCode::Pmp(2)),
        E::NATPMP_ERR_NETWORKFAILURE => GatewayError::ForwardingImpossible(ErrorCode::Pmp(3)),
        E::NATPMP_ERR_OUTOFRESOURCES => GatewayError::OutOfResources(ErrorCode::Pmp(4)),
        E::NATPMP_ERR_UNSUPPORTEDOPCODE => GatewayError::Unsupported(ErrorCode::Pmp(5)),
        // The connected socket got the ICMP port unreachable of a gateway without NAT-PMP.
        E::NATPMP_ERR_RECVFROM => GatewayError::NoService,
        E::NATPMP_ERR_SENDERR => GatewayError::Io(std::io::ErrorKind::Other),
        E::NATPMP_ERR_UNDEFINEDERROR => {
            GatewayError::Protocol(ProtocolViolation::UnknownCode(ErrorCode::Pmp(0)))
        }
        _ => GatewayError::Protocol(ProtocolViolation::Unparsable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn epoch_detects_restarts_and_tolerates_drift() {
        let t0 = Instant::now();
        let later = |secs| t0 + Duration::from_secs(secs);
        // Steady: the epoch advanced as much as our clock.
        assert!(!epoch_shows_restart(1000, t0, 1100, later(100)));
        // A slow gateway clock within the 1/8 allowance.
        assert!(!epoch_shows_restart(1000, t0, 1088, later(100)));
        // Went backwards: restarted.
        assert!(epoch_shows_restart(1000, t0, 5, later(100)));
        // Far too little progress: it restarted and has been up a while since.
        assert!(epoch_shows_restart(1000, t0, 1010, later(1000)));
        assert!(!epoch_shows_restart(7, t0, 7, t0));
    }

    fn public_address_reply(epoch: u32, result: u16) -> Vec<u8> {
        let mut reply = vec![0, 128];
        reply.extend(result.to_be_bytes());
        reply.extend(epoch.to_be_bytes());
        reply.extend([203, 0, 113, 1]);
        reply
    }

    fn mapping_reply(opcode: u8, private: u16, public: u16, lifetime: u32, epoch: u32) -> Vec<u8> {
        let mut reply = vec![0, 128 + opcode, 0, 0];
        reply.extend(epoch.to_be_bytes());
        reply.extend(private.to_be_bytes());
        reply.extend(public.to_be_bytes());
        reply.extend(lifetime.to_be_bytes());
        reply
    }

    /// A NAT-PMP "gateway" on loopback: `answer(n, request)` gives the datagrams to send back
    /// for the n-th request (from 0).
    async fn fake_gateway(
        tries: u32,
        mut answer: impl FnMut(usize, &[u8]) -> Vec<Vec<u8>> + Send + 'static,
    ) -> (PmpGateway, Arc<AtomicUsize>) {
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let std::net::SocketAddr::V4(addr) = server.local_addr().unwrap() else {
            unreachable!()
        };
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok((len, from)) = server.recv_from(&mut buf).await {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                for datagram in answer(n, &buf[..len]) {
                    server.send_to(&datagram, from).await.unwrap();
                }
            }
        });
        let mut gateway = PmpGateway::new(Ipv4Addr::LOCALHOST, tries);
        gateway.server = addr;
        (gateway, count)
    }

    fn tcp_request(port: u16) -> MapRequest {
        MapRequest {
            transport: Transport::Tcp,
            internal_port: port,
            external_port: port,
            lifetime: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn a_lost_request_is_resent() {
        let (mut gateway, count) = fake_gateway(3, |n, request| {
            assert_eq!(request, [0, 0]);
            if n == 0 {
                vec![]
            } else {
                vec![public_address_reply(10, 0)]
            }
        })
        .await;
        let ip = gateway.external_ip().await.unwrap();
        assert_eq!(ip, IpAddr::from([203, 0, 113, 1]));
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn only_the_matching_answer_is_taken() {
        let (mut gateway, _) = fake_gateway(2, |_, request| {
            assert_eq!(request[1], 2, "TCP mapping opcode");
            assert_eq!(&request[4..6], &30303u16.to_be_bytes());
            vec![
                mapping_reply(1, 30303, 1111, 60, 5),  // UDP, not TCP
                mapping_reply(2, 4000, 2222, 60, 5),   // another private port
                public_address_reply(5, 0),            // another opcode
                mapping_reply(2, 30303, 40000, 45, 5), // ours: the gateway chose another port
            ]
        })
        .await;
        let grant = gateway.map(tcp_request(30303)).await.unwrap();
        assert_eq!(
            grant,
            Grant {
                external_port: 40000,
                lifetime: Duration::from_secs(45)
            }
        );
    }

    #[tokio::test]
    async fn result_codes_become_typed_errors() {
        let (mut gateway, _) = fake_gateway(2, |_, _| vec![public_address_reply(1, 3)]).await;
        assert!(matches!(
            gateway.external_ip().await,
            Err(GatewayError::ForwardingImpossible(_))
        ));
        let (mut gateway, _) = fake_gateway(2, |_, _| {
            let mut refused = mapping_reply(2, 30303, 0, 0, 1);
            refused[3] = 2;
            vec![refused]
        })
        .await;
        assert!(matches!(
            gateway.map(tcp_request(30303)).await,
            Err(GatewayError::NotAuthorized(_))
        ));
    }

    #[tokio::test]
    async fn silence_times_out_after_the_resends() {
        let (mut gateway, count) = fake_gateway(2, |_, _| vec![]).await;
        let started = Instant::now();
        let error = gateway.external_ip().await.unwrap_err();
        assert_eq!(error, GatewayError::Timeout(Duration::from_millis(750)));
        assert!(started.elapsed() >= Duration::from_millis(750));
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn discovery_tells_silence_from_a_refusal() {
        let (silent, _) = fake_gateway(1, |_, _| vec![]).await;
        let error = silent.answering().await.unwrap_err();
        assert_eq!(
            error,
            DiscoveryError::Pmp {
                gateway: Ipv4Addr::LOCALHOST,
                source: GatewayError::Timeout(FIRST_WAIT)
            }
        );
        assert_eq!(error.blame(), crate::Blame::Remote);
        assert_eq!(
            error.to_string(),
            "gateway 127.0.0.1: no answer from the gateway within 250ms"
        );

        let (refusing, _) = fake_gateway(1, |_, _| vec![public_address_reply(1, 3)]).await;
        assert!(matches!(
            refusing.answering().await,
            Err(DiscoveryError::Pmp {
                source: GatewayError::ForwardingImpossible(ErrorCode::Pmp(3)),
                ..
            })
        ));

        // No external address yet: still a NAT-PMP gateway.
        let (offline, _) = fake_gateway(1, |_, _| {
            let mut reply = public_address_reply(1, 0);
            reply[8..12].fill(0);
            vec![reply]
        })
        .await;
        assert!(offline.answering().await.is_ok());
    }

    #[tokio::test]
    async fn a_restarted_gateway_reports_its_mappings_absent() {
        // Epoch 1000 until the fourth request, then 3: the gateway restarted.
        let (mut gateway, _) = fake_gateway(2, |n, request| {
            let epoch = if n < 3 { 1000 } else { 3 };
            if request.len() == 2 {
                vec![public_address_reply(epoch, 0)]
            } else {
                let private = u16::from_be_bytes([request[4], request[5]]);
                let lifetime =
                    u32::from_be_bytes([request[8], request[9], request[10], request[11]]);
                let public = if lifetime == 0 { 0 } else { private };
                vec![mapping_reply(request[1], private, public, lifetime, epoch)]
            }
        })
        .await;
        gateway.external_ip().await.unwrap();
        let grant = gateway.map(tcp_request(30303)).await.unwrap();
        let mapping = Mapping {
            transport: Transport::Tcp,
            internal_port: 30303,
            external_port: grant.external_port,
        };
        assert_eq!(gateway.check(mapping).await, Ok(Presence::Unknown));
        gateway.external_ip().await.unwrap();
        assert_eq!(gateway.check(mapping).await, Ok(Presence::Unknown));
        gateway.external_ip().await.unwrap();
        assert_eq!(gateway.check(mapping).await, Ok(Presence::Absent));
        gateway.map(tcp_request(30303)).await.unwrap();
        assert_eq!(gateway.check(mapping).await, Ok(Presence::Unknown));
        gateway.unmap(mapping).await.unwrap();
    }
}
