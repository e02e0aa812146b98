//! The lease state machine, without sockets or clocks.
//!
//! [`Leases`] decides what to ask the gateway and when: the external address, whether each
//! mapping still exists, and the mapping requests themselves, in refresh cycles. Time comes in as
//! `now` and results come in through the `on_*` methods; actions, events and the next deadline
//! are polled out. The async driver ([`PortMapper`](crate::PortMapper)) only executes actions,
//! which keeps every decision (which port to ask for, when to refresh, how long to back off,
//! when a mapping counts as lost, which endpoint to publish) testable with a fake clock.
//!
//! A cycle is: external address, then for each mapping a presence check (when it was granted
//! before) and a mapping request for the port currently held, so that a refresh keeps the same
//! external port and a mapping the gateway forgot is re-created under the same port if it is
//! still free. Any failure ends the cycle and schedules a retry with exponential backoff.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::{ExternalEndpoint, GatewayError, MappingProtocol, NatEvent, Transport};

/// Lease timing. The defaults are go-ethereum's: ask for 10 minutes, refresh after 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Lifetime asked for in each mapping request.
    pub lifetime: Duration,
    /// Delay from a successful cycle to the next refresh. A gateway that grants a shorter
    /// lifetime than asked is refreshed after 4/5 of what it granted instead.
    pub refresh: Duration,
    /// Delay after the first failure; it doubles on each consecutive failure.
    pub retry_min: Duration,
    /// The longest delay between retries.
    pub retry_max: Duration,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            lifetime: Duration::from_secs(600),
            refresh: Duration::from_secs(480),
            retry_min: Duration::from_secs(5),
            retry_max: Duration::from_secs(120),
        }
    }
}

impl LeaseConfig {
    /// Leases of `lifetime` refreshed every `refresh` (each at least 1 s), with the default
    /// retry backoff, except that the first retry never waits longer than half the refresh
    /// interval: a short refresh (as in tests) must not be outlasted by its own retries.
    pub fn with_timing(lifetime: Duration, refresh: Duration) -> Self {
        let second = Duration::from_secs(1);
        let refresh = refresh.max(second);
        let default = LeaseConfig::default();
        LeaseConfig {
            lifetime: lifetime.max(second),
            refresh,
            retry_min: default.retry_min.min(refresh / 2),
            ..default
        }
    }
}

/// A mapping as the gateway holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mapping {
    /// TCP or UDP.
    pub transport: Transport,
    /// The node's port on its LAN address.
    pub internal_port: u16,
    /// The port on the gateway's external address.
    pub external_port: u16,
}

/// A mapping request: forward `external_port` (the preferred one; the gateway may grant another)
/// to `internal_port` for `lifetime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapRequest {
    /// TCP or UDP.
    pub transport: Transport,
    /// The node's port on its LAN address.
    pub internal_port: u16,
    /// The external port asked for.
    pub external_port: u16,
    /// The lease asked for.
    pub lifetime: Duration,
}

/// What a gateway granted for a [`MapRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The external port granted, which is what gets advertised.
    pub external_port: u16,
    /// The lease granted.
    pub lifetime: Duration,
}

/// Whether a gateway still holds a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// It does.
    Present,
    /// It does not (or maps the port to someone else): the mapping was lost.
    Absent,
    /// The protocol cannot tell.
    Unknown,
}

/// The next request for the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Ask for the external address; answer with [`Leases::on_external_ip`].
    ExternalIp,
    /// Ask whether this mapping still exists; answer with [`Leases::on_check`].
    Check(Mapping),
    /// Ask for this mapping; answer with [`Leases::on_map`].
    Map(MapRequest),
}

#[derive(Debug, Clone, Copy)]
struct Held {
    external_port: u16,
    lifetime: Duration,
    expires: Instant,
}

#[derive(Debug)]
struct Slot {
    transport: Transport,
    internal_port: u16,
    /// The external port to ask for: the internal port at first, then whatever was granted.
    wanted_port: u16,
    held: Option<Held>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    ExternalIp,
    Check(usize),
    Map(usize),
}

#[derive(Debug)]
struct Cycle {
    step: Step,
    /// The step's action was handed out and its result is awaited.
    issued: bool,
    ip: Option<IpAddr>,
    /// A mapping was found lost and re-created in this cycle.
    recreated: bool,
}

/// The mappings of one node at one gateway: see the [module docs](self).
#[derive(Debug)]
pub struct Leases {
    config: LeaseConfig,
    protocol: MappingProtocol,
    gateway: Option<IpAddr>,
    slots: Vec<Slot>,
    published: Option<ExternalEndpoint>,
    cycle: Option<Cycle>,
    next_cycle: Instant,
    /// When the last cycle began: announcements bring the next one forward to no earlier than
    /// this plus `retry_min`.
    last_start: Option<Instant>,
    /// An announcement came while a cycle was running: run another one soon after it.
    announced: bool,
    /// [`clear`](Self::clear) was called: nothing more happens.
    stopped: bool,
    failures: u32,
    completed: u64,
    events: VecDeque<NatEvent>,
}

impl Leases {
    /// Mappings for `ports` (transport and internal port each), the first cycle due at `now`.
    /// Each external port asked for is at first the internal one.
    pub fn new(
        protocol: MappingProtocol,
        gateway: Option<IpAddr>,
        config: LeaseConfig,
        ports: &[(Transport, u16)],
        now: Instant,
    ) -> Self {
        let slots = ports
            .iter()
            .map(|&(transport, internal_port)| Slot {
                transport,
                internal_port,
                wanted_port: internal_port,
                held: None,
            })
            .collect();
        Leases {
            config,
            protocol,
            gateway,
            slots,
            published: None,
            cycle: None,
            next_cycle: now,
            last_start: None,
            announced: false,
            stopped: false,
            failures: 0,
            completed: 0,
            events: VecDeque::new(),
        }
    }

    /// The next request to send, if one is due at `now` and none is outstanding.
    pub fn poll_action(&mut self, now: Instant) -> Option<Action> {
        if self.cycle.is_none() {
            if now < self.next_cycle {
                return None;
            }
            self.last_start = Some(now);
            self.cycle = Some(Cycle {
                step: Step::ExternalIp,
                issued: false,
                ip: None,
                recreated: false,
            });
        }
        let cycle = self.cycle.as_mut()?;
        if cycle.issued {
            return None;
        }
        cycle.issued = true;
        Some(match cycle.step {
            Step::ExternalIp => Action::ExternalIp,
            Step::Check(index) => {
                let slot = &self.slots[index];
                let held = slot.held.expect("checks are only made for held mappings");
                Action::Check(Mapping {
                    transport: slot.transport,
                    internal_port: slot.internal_port,
                    external_port: held.external_port,
                })
            }
            Step::Map(index) => {
                let slot = &self.slots[index];
                Action::Map(MapRequest {
                    transport: slot.transport,
                    internal_port: slot.internal_port,
                    external_port: slot.wanted_port,
                    lifetime: self.config.lifetime,
                })
            }
        })
    }

    /// When [`poll_action`](Self::poll_action) will next have something, or `None` while a
    /// result is awaited.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.cycle {
            Some(_) => None,
            None => Some(self.next_cycle),
        }
    }

    /// The next event to report.
    pub fn poll_event(&mut self) -> Option<NatEvent> {
        self.events.pop_front()
    }

    /// How many cycles completed (the first mapping, then each refresh).
    pub fn completed_cycles(&self) -> u64 {
        self.completed
    }

    /// The endpoint last published in an event, if any.
    pub fn endpoint(&self) -> Option<ExternalEndpoint> {
        self.published
    }

    /// The mappings the gateway was last seen to hold: what to delete on shutdown.
    pub fn mappings(&self) -> Vec<Mapping> {
        self.slots
            .iter()
            .filter_map(|slot| {
                slot.held.map(|held| Mapping {
                    transport: slot.transport,
                    internal_port: slot.internal_port,
                    external_port: held.external_port,
                })
            })
            .collect()
    }

    /// Forgets the held mappings (after they were deleted) and stops: no further actions.
    pub fn clear(&mut self) {
        for slot in &mut self.slots {
            slot.held = None;
        }
        self.cycle = None;
        self.next_cycle = far_future(self.next_cycle);
        self.stopped = true;
    }

    /// The gateway announced a restart or a new external address
    /// ([`announce`](crate::announce)): the next cycle is brought forward, so lost mappings are
    /// re-created now rather than at the next refresh. Returns whether it was. Forged
    /// announcements cost at most one cycle per `retry_min`; a cycle already running is followed
    /// by another (its checks may predate the restart).
    pub fn on_announcement(&mut self, now: Instant) -> bool {
        if self.stopped {
            return false;
        }
        if self.cycle.is_some() {
            self.announced = true;
            return true;
        }
        self.bring_forward(now)
    }

    fn bring_forward(&mut self, now: Instant) -> bool {
        let earliest = match self.last_start {
            Some(start) => now.max(start + self.config.retry_min),
            None => now,
        };
        if earliest >= self.next_cycle {
            return false;
        }
        self.next_cycle = earliest;
        true
    }

    /// The result of [`Action::ExternalIp`].
    pub fn on_external_ip(&mut self, now: Instant, result: Result<IpAddr, GatewayError>) {
        if !self.awaiting(Step::ExternalIp) {
            return;
        }
        match result {
            Ok(ip) => {
                if let Some(cycle) = &mut self.cycle {
                    cycle.ip = Some(ip);
                }
                self.enter_slot(now, 0);
            }
            Err(error) => self.fail(now, error),
        }
    }

    /// The result of [`Action::Check`].
    pub fn on_check(&mut self, now: Instant, result: Result<Presence, GatewayError>) {
        let Some(Step::Check(index)) = self.awaited_step() else {
            return;
        };
        match result {
            Ok(Presence::Absent) => {
                let slot = &mut self.slots[index];
                if let Some(held) = slot.held.take() {
                    self.events.push_back(NatEvent::MappingLost {
                        transport: slot.transport,
                        external_port: held.external_port,
                    });
                }
                self.set_step(Step::Map(index), |cycle| cycle.recreated = true);
            }
            Ok(Presence::Present | Presence::Unknown) => self.set_step(Step::Map(index), |_| {}),
            Err(error) => self.fail(now, error),
        }
    }

    /// The result of [`Action::Map`].
    pub fn on_map(&mut self, now: Instant, result: Result<Grant, GatewayError>) {
        let Some(Step::Map(index)) = self.awaited_step() else {
            return;
        };
        match result {
            Ok(grant) => {
                let slot = &mut self.slots[index];
                // A lease that ran out before this refresh got through is gone at the gateway,
                // whether or not the protocol could tell.
                let mut expired = false;
                if let Some(held) = slot.held {
                    if held.expires <= now {
                        expired = true;
                        self.events.push_back(NatEvent::MappingLost {
                            transport: slot.transport,
                            external_port: held.external_port,
                        });
                    }
                }
                // Ask for the granted port again on refresh, so it stays the same; but never for
                // one below 1024, even one a router handed out by itself.
                let usable = grant.external_port >= 1024;
                if usable {
                    slot.wanted_port = grant.external_port;
                }
                let (transport, internal_port) = (slot.transport, slot.internal_port);
                slot.held = Some(Held {
                    external_port: grant.external_port,
                    lifetime: grant.lifetime,
                    expires: now.checked_add(grant.lifetime).unwrap_or(far_future(now)),
                });
                if expired {
                    if let Some(cycle) = &mut self.cycle {
                        cycle.recreated = true;
                    }
                }
                // The router offered another port (ours was taken): ask for the same one for the
                // other transport, so that TCP and UDP stay on one port where possible (an enode
                // without `discport`).
                if usable && grant.external_port != internal_port {
                    for other in &mut self.slots {
                        let untouched =
                            other.held.is_none() && other.wanted_port == other.internal_port;
                        if other.transport != transport
                            && other.internal_port == internal_port
                            && untouched
                        {
                            other.wanted_port = grant.external_port;
                        }
                    }
                }
                self.enter_slot(now, index + 1);
            }
            Err(error) => self.fail(now, error),
        }
    }

    fn awaited_step(&self) -> Option<Step> {
        self.cycle
            .as_ref()
            .filter(|cycle| cycle.issued)
            .map(|cycle| cycle.step)
    }

    fn awaiting(&self, step: Step) -> bool {
        self.awaited_step() == Some(step)
    }

    fn set_step(&mut self, step: Step, update: impl FnOnce(&mut Cycle)) {
        if let Some(cycle) = &mut self.cycle {
            cycle.step = step;
            cycle.issued = false;
            update(cycle);
        }
    }

    /// Moves to slot `index`: a check if it holds a mapping, else a mapping request; past the
    /// last slot, the cycle is complete.
    fn enter_slot(&mut self, now: Instant, index: usize) {
        match self.slots.get(index) {
            Some(slot) if slot.held.is_some() => self.set_step(Step::Check(index), |_| {}),
            Some(_) => self.set_step(Step::Map(index), |_| {}),
            None => self.complete(now),
        }
    }

    fn complete(&mut self, now: Instant) {
        let Some(cycle) = self.cycle.take() else {
            return;
        };
        let Some(ip) = cycle.ip else {
            return;
        };
        let port = |transport| {
            self.slots
                .iter()
                .find(|slot| slot.transport == transport)
                .and_then(|slot| slot.held.map(|held| held.external_port))
        };
        let endpoint = ExternalEndpoint {
            ip,
            tcp_port: port(Transport::Tcp),
            udp_port: port(Transport::Udp),
        };
        let mapped = NatEvent::Mapped {
            protocol: self.protocol,
            gateway: self.gateway,
            endpoint,
        };
        match self.published {
            None => self.events.push_back(mapped),
            Some(old) => {
                if cycle.recreated {
                    self.events.push_back(mapped);
                }
                if old != endpoint {
                    self.events
                        .push_back(NatEvent::ExternalAddressChanged { old, new: endpoint });
                }
            }
        }
        self.published = Some(endpoint);
        self.failures = 0;
        self.completed += 1;
        let granted = self
            .slots
            .iter()
            .filter_map(|slot| slot.held.map(|held| held.lifetime * 4 / 5))
            .min()
            .unwrap_or(self.config.refresh);
        let delay = self.config.refresh.min(granted).max(Duration::from_secs(1));
        self.next_cycle = now + delay;
        if std::mem::take(&mut self.announced) {
            self.bring_forward(now);
        }
    }

    fn fail(&mut self, now: Instant, error: GatewayError) {
        self.cycle = None;
        // The retry below comes anyway, on the backoff schedule.
        self.announced = false;
        self.failures = self.failures.saturating_add(1);
        let doublings = self.failures.saturating_sub(1).min(16);
        let delay = self
            .config
            .retry_min
            .saturating_mul(1 << doublings)
            .min(self.config.retry_max);
        self.next_cycle = now + delay;
        self.events.push_back(NatEvent::RefreshFailed {
            error,
            attempt: self.failures,
            retry_in: delay,
        });
    }
}

/// A deadline that never comes in practice.
fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(100 * 365 * 24 * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: [u8; 4] = [192, 168, 77, 1];

    fn ext(last: u8) -> IpAddr {
        IpAddr::from([203, 0, 113, last])
    }

    #[test]
    fn short_refresh_intervals_shorten_the_first_retry() {
        let short = LeaseConfig::with_timing(Duration::from_secs(20), Duration::from_secs(4));
        assert_eq!(short.refresh, Duration::from_secs(4));
        assert_eq!(short.retry_min, Duration::from_secs(2));
        assert_eq!(short.retry_max, LeaseConfig::default().retry_max);
        let long = LeaseConfig::with_timing(Duration::from_secs(600), Duration::from_secs(480));
        assert_eq!(long, LeaseConfig::default());
        let zero = LeaseConfig::with_timing(Duration::ZERO, Duration::ZERO);
        assert_eq!(
            (zero.lifetime, zero.refresh),
            (Duration::from_secs(1), Duration::from_secs(1))
        );
    }

    fn config() -> LeaseConfig {
        LeaseConfig {
            lifetime: Duration::from_secs(600),
            refresh: Duration::from_secs(480),
            retry_min: Duration::from_secs(5),
            retry_max: Duration::from_secs(60),
        }
    }

    fn leases(now: Instant) -> Leases {
        Leases::new(
            MappingProtocol::Upnp,
            Some(GW.into()),
            config(),
            &[(Transport::Tcp, 30303), (Transport::Udp, 30303)],
            now,
        )
    }

    fn grant(port: u16) -> Result<Grant, GatewayError> {
        Ok(Grant {
            external_port: port,
            lifetime: Duration::from_secs(600),
        })
    }

    fn map(transport: Transport, external_port: u16) -> Action {
        Action::Map(MapRequest {
            transport,
            internal_port: 30303,
            external_port,
            lifetime: Duration::from_secs(600),
        })
    }

    fn check(transport: Transport, external_port: u16) -> Action {
        Action::Check(Mapping {
            transport,
            internal_port: 30303,
            external_port,
        })
    }

    fn events(leases: &mut Leases) -> Vec<NatEvent> {
        std::iter::from_fn(|| leases.poll_event()).collect()
    }

    fn endpoint(ip: IpAddr, tcp: u16, udp: u16) -> ExternalEndpoint {
        ExternalEndpoint {
            ip,
            tcp_port: Some(tcp),
            udp_port: Some(udp),
        }
    }

    fn mapped(ip: IpAddr, tcp: u16, udp: u16) -> NatEvent {
        NatEvent::Mapped {
            protocol: MappingProtocol::Upnp,
            gateway: Some(GW.into()),
            endpoint: endpoint(ip, tcp, udp),
        }
    }

    /// Runs a first cycle that maps both ports as asked; returns the time it completed.
    fn first_cycle(leases: &mut Leases, t0: Instant) {
        assert_eq!(leases.poll_action(t0), Some(Action::ExternalIp));
        assert_eq!(leases.poll_action(t0), None, "one request at a time");
        assert_eq!(leases.poll_timeout(), None);
        leases.on_external_ip(t0, Ok(ext(1)));
        assert_eq!(leases.poll_action(t0), Some(map(Transport::Tcp, 30303)));
        leases.on_map(t0, grant(30303));
        assert_eq!(leases.poll_action(t0), Some(map(Transport::Udp, 30303)));
        leases.on_map(t0, grant(30303));
        assert_eq!(leases.poll_action(t0), None);
        assert_eq!(events(leases), vec![mapped(ext(1), 30303, 30303)]);
    }

    #[test]
    fn first_cycle_maps_both_ports_and_schedules_the_refresh() {
        let t0 = Instant::now();
        let mut leases = leases(t0);
        first_cycle(&mut leases, t0);
        let refresh = t0 + Duration::from_secs(480);
        assert_eq!(leases.poll_timeout(), Some(refresh));
        assert_eq!(leases.poll_action(refresh - Duration::from_millis(1)), None);
        assert_eq!(leases.endpoint(), Some(endpoint(ext(1), 30303, 30303)));
        assert_eq!(leases.mappings().len(), 2);
    }

    #[test]
    fn refresh_checks_then_renews_the_same_port_quietly() {
        let t0 = Instant::now();
        let mut leases = leases(t0);
        first_cycle(&mut leases, t0);
        let t1 = t0 + Duration::from_secs(480);
        assert_eq!(leases.poll_action(t1), Some(Action::ExternalIp));
        leases.on_external_ip(t1, Ok(ext(1)));
        assert_eq!(leases.poll_action(t1), Some(check(Transport::Tcp, 30303)));
        leases.on_check(t1, Ok(Presence::Present));
        assert_eq!(leases.poll_action(t1), Some(map(Transport::Tcp, 30303)));
        leases.on_map(t1, grant(30303));
        assert_eq!(leases.poll_action(t1), Some(check(Transport::Udp, 30303)));
        leases.on_check(t1, Ok(Presence::Unknown));
        assert_eq!(leases.poll_action(t1), Some(map(Transport::Udp, 30303)));
        leases.on_map(t1, grant(30303));
        assert_eq!(events(&mut leases), vec![]);
        assert_eq!(leases.poll_timeout(), Some(t1 + Duration::from_secs(480)));
    }

    #[test]
    fn an_offered_port_is_advertised_and_kept_on_refresh() {
        let t0 = Instant::now();
        let mut leases = leases(t0);
        leases.poll_action(t0);
        leases.on_external_ip(t0, Ok(ext(1)));
        leases.poll_action(t0);
        leases.on_map(t0, grant(41000));
        leases.poll_action(t0);
        leases.on_map(t0, grant(41001));
        assert_eq!(events(&mut leases), vec![mapped(ext(1), 41000, 41001)]);
        let t1 = leases.poll_timeout().unwrap();
        leases.poll_action(t1);
        leases.on_external_ip(t1, Ok(ext(1)));
        assert_eq!(leases.poll_action(t1), Some(check(Transport::Tcp, 41000)));
        leases.on_check(t1, Ok(Presence::Present));
        assert_eq!(leases.poll_action(t1), Some(map(Transport::Tcp, 41000)));
    }

    #[test]
    fn udp_asks_for_the_port_offered_for_tcp() {
        let t0 = Instant::now();
        let mut leases = leases(t0);
        leases.poll_action(t0);
        leases.on_external_ip(t0, Ok(ext(1)));
        assert_eq!(leases.poll_action(t0), Some(map(Transport::Tcp, 30303)));
        leases.on_map(t0, grant(45000));
        assert_eq!(leases.poll_action(t0), Some(map(Transport::Udp, 45000)));
        leases.on_map(t0, grant(45000));
        assert_eq!(events(&mut leases), vec![mapped(ext(1), 45000, 45000)]);
        assert_eq!(leases.completed_cycles(), 1);
    }

    #[test]
    fn a_granted_port_below_1024_is_never_asked_for() {
        let t0 = Instant::now();
        let mut leases = leases(t0);
        leases.poll_action(t0);
        leases.on_external_ip(t0, Ok(ext(1)));
        leases.poll_action(t0);
        leases.on_map(t0, grant(443));
        assert_eq!(leases.poll_action(t0), Some(map(Transport::Udp, 30303)));
        leases.on_map(t0, grant(30303));
        assert_eq!(events(&mut leases), vec![mapped(ext(1), 443, 30303)]);
        let t1 = leases.poll_timeout().unwrap();
        leases.poll_action(t1);
        leases.on_external_ip(t1, Ok(ext(1)));
        assert_eq!(leases.poll_action(t1), Some(check(Transport::Tcp, 443)));
        leases.on_check(t1, Ok(Presence::Present));
        assert_eq!(leases.poll_action(t1), Some(map(Transport::Tcp, 30303)));
    }

    #[test]
    fn a_new_external_ip_is_published() {
        let t0 = Instant::now();
        let mut leases = leases(t0);
        first_cycle(&mut leases, t0);
        let t1 = leases.poll_timeout().unwrap();
        leases.poll_action(t1);
        leases.on_external_ip(t1, Ok(ext(9)));
        for _ in 0..2 {
            leases.poll_action(t1);
            leases.on_check(t1, Ok(Presence::Present));
            leases.poll_action(t1);
            leases.on_map(t1, grant(30303));
        }
        assert_eq!(
            events(&mut leases),
            vec![NatEvent::ExternalAddressChanged {
                old: endpoint(ext(1), 30303, 30303),
                new: endpoint(ext(9), 30303, 30303),
            }]
        );
    }

    #[test]
    fn a_lost_mapping_is_recreated_and_a_new_port_published() {
        let t0 = Instant::now();
        let mut leases = leases(t0);
        first_cycle(&mut leases, t0);
        let t1 = leases.poll_timeout().unwrap();
        leases.poll_action(t1);
        leases.on_external_ip(t1, Ok(ext(1)));
        assert_eq!(leases.poll_action(t1), Some(check(Transport::Tcp, 30303)));
        leases.on_check(t1, Ok(Presence::Absent));
        // Asked for the same port again: it is the one peers know.
        assert_eq!(leases.poll_action(t1), Some(map(Transport::Tcp, 30303)));
        leases.on_map(t1, grant(30303));
        leases.poll_action(t1);
        leases.on_check(t1, Ok(Presence::Absent));
        assert_eq!(leases.poll_action(t1), Some(map(Transport::Udp, 30303)));
        // Someone else took the UDP port meanwhile: the gateway offers another.
        leases.on_map(t1, grant(50000));
        assert_eq!(
            events(&mut leases),
            vec![
                NatEvent::MappingLost {
                    transport: Transport::Tcp,
                    external_port: 30303
                },
                NatEvent::MappingLost {
                    transport: Transport::Udp,
                    external_port: 30303
                },
                mapped(ext(1), 30303, 50000),
                NatEvent::ExternalAddressChanged {
                    old: endpoint(ext(1), 30303, 30303),
                    new: endpoint(ext(1), 30303, 50000),
                },
            ]
        );
    }

    #[test]
    fn failures_back_off_exponentially_and_success_resets() {
        let t0 = Instant::now();
        let mut leases = leases(t0);
        first_cycle(&mut leases, t0);
        let mut now = leases.poll_timeout().unwrap();
        let mut delays = Vec::new();
        for _ in 0..6 {
            assert_eq!(leases.poll_action(now), Some(Action::ExternalIp));
            leases.on_external_ip(now, Err(GatewayError::Timeout(Duration::from_secs(1))));
            let [
                NatEvent::RefreshFailed {
                    attempt, retry_in, ..
                },
            ] = events(&mut leases)[..]
            else {
                panic!("one RefreshFailed per failure");
            };
            assert_eq!(attempt as usize, delays.len() + 1);
            delays.push(retry_in.as_secs());
            assert_eq!(leases.poll_timeout(), Some(now + retry_in));
            now += retry_in;
        }
        assert_eq!(delays, vec![5, 10, 20, 40, 60, 60]);
        // The lease (600 s from t0) ran out during the failures (480 + 195 s): the gateway no
        // longer has the mappings, even if the protocol cannot tell.
        leases.poll_action(now);
        leases.on_external_ip(now, Ok(ext(1)));
        for transport in [Transport::Tcp, Transport::Udp] {
            leases.poll_action(now);
            leases.on_check(now, Ok(Presence::Unknown));
            assert_eq!(leases.poll_action(now), Some(map(transport, 30303)));
            leases.on_map(now, grant(30303));
        }
        let events = events(&mut leases);
        assert!(matches!(events[0], NatEvent::MappingLost { .. }));
        assert!(matches!(events[1], NatEvent::MappingLost { .. }));
        assert_eq!(events[2], mapped(ext(1), 30303, 30303));
        assert_eq!(events.len(), 3);
        // Backoff reset.
        now = leases.poll_timeout().unwrap();
        leases.poll_action(now);
        leases.on_external_ip(now, Err(GatewayError::NoExternalAddress));
        assert!(matches!(
            leases.poll_event(),
            Some(NatEvent::RefreshFailed {
                attempt: 1,
                retry_in,
                ..
            }) if retry_in == Duration::from_secs(5)
        ));
    }

    #[test]
    fn a_failed_first_attempt_is_retried_and_then_mapped() {
        let t0 = Instant::now();
        let mut leases = leases(t0);
        leases.poll_action(t0);
        leases.on_external_ip(t0, Ok(ext(1)));
        leases.poll_action(t0);
        let refused = GatewayError::NotAuthorized(crate::ErrorCode::Upnp(606));
        leases.on_map(t0, Err(refused.clone()));
        assert_eq!(
            events(&mut leases),
            vec![NatEvent::RefreshFailed {
                error: refused,
                attempt: 1,
                retry_in: Duration::from_secs(5)
            }]
        );
        assert!(leases.mappings().is_empty());
        first_cycle(&mut leases, t0 + Duration::from_secs(5));
    }

    #[test]
    fn a_short_granted_lease_is_refreshed_early() {
        let t0 = Instant::now();
        let mut leases = leases(t0);
        leases.poll_action(t0);
        leases.on_external_ip(t0, Ok(ext(1)));
        for _ in 0..2 {
            leases.poll_action(t0);
            leases.on_map(
                t0,
                Ok(Grant {
                    external_port: 30303,
                    lifetime: Duration::from_secs(60),
                }),
            );
        }
        assert_eq!(leases.poll_timeout(), Some(t0 + Duration::from_secs(48)));
    }

    #[test]
    fn stale_and_unexpected_results_are_ignored() {
        let t0 = Instant::now();
        let mut leases = leases(t0);
        leases.on_map(t0, grant(1));
        leases.on_check(t0, Ok(Presence::Absent));
        assert_eq!(leases.poll_action(t0), Some(Action::ExternalIp));
        leases.on_map(t0, grant(1));
        assert!(events(&mut leases).is_empty());
        leases.on_external_ip(t0, Ok(ext(1)));
        assert_eq!(leases.poll_action(t0), Some(map(Transport::Tcp, 30303)));
    }

    /// Runs a refresh cycle at `now` in which the gateway still holds both mappings.
    fn refresh_cycle(leases: &mut Leases, now: Instant) {
        assert_eq!(leases.poll_action(now), Some(Action::ExternalIp));
        leases.on_external_ip(now, Ok(ext(1)));
        for transport in [Transport::Tcp, Transport::Udp] {
            assert_eq!(leases.poll_action(now), Some(check(transport, 30303)));
            leases.on_check(now, Ok(Presence::Present));
            assert_eq!(leases.poll_action(now), Some(map(transport, 30303)));
            leases.on_map(now, grant(30303));
        }
        assert_eq!(leases.poll_action(now), None);
    }

    #[test]
    fn announcements_bring_the_refresh_forward_at_most_once_per_retry_interval() {
        let t0 = Instant::now();
        let secs = |n| t0 + Duration::from_secs(n);
        let mut leases = leases(t0);
        first_cycle(&mut leases, t0);
        assert_eq!(leases.poll_timeout(), Some(secs(480)));
        // A reboot announced at 100 s: the refresh runs at once.
        assert!(leases.on_announcement(secs(100)));
        assert_eq!(leases.poll_timeout(), Some(secs(100)));
        refresh_cycle(&mut leases, secs(100));
        assert_eq!(leases.poll_timeout(), Some(secs(580)));
        // A burst (forged, or repeated by the router) right after: one more cycle, 5 s after
        // the last one began, however many arrive.
        for at in 101..=104 {
            assert!(leases.on_announcement(secs(at)) == (at == 101));
        }
        assert_eq!(leases.poll_timeout(), Some(secs(105)));
        // One during a cycle: another cycle follows it.
        assert_eq!(leases.poll_action(secs(105)), Some(Action::ExternalIp));
        assert!(leases.on_announcement(secs(105)));
        leases.on_external_ip(secs(106), Ok(ext(1)));
        for _ in [Transport::Tcp, Transport::Udp] {
            leases.poll_action(secs(106));
            leases.on_check(secs(106), Ok(Presence::Present));
            leases.poll_action(secs(106));
            leases.on_map(secs(106), grant(30303));
        }
        assert_eq!(leases.poll_timeout(), Some(secs(110)));
        assert!(events(&mut leases).is_empty(), "nothing changed");
        // After clear nothing restarts the cycles.
        leases.clear();
        assert!(!leases.on_announcement(secs(200)));
        assert_eq!(leases.poll_action(secs(10_000)), None);
    }

    #[test]
    fn clear_forgets_mappings_and_stops() {
        let t0 = Instant::now();
        let mut leases = leases(t0);
        first_cycle(&mut leases, t0);
        leases.clear();
        assert!(leases.mappings().is_empty());
        assert_eq!(leases.poll_action(t0 + Duration::from_secs(10_000)), None);
    }
}
