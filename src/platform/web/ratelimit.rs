//! Rate limits for form intake, designed for venues: a whole room shares one
//! Wi-Fi NAT address, so the per-address limit is generous by default, while
//! one form (one submission key) sent over and over is throttled hard.

use std::{net::IpAddr, num::NonZeroU32, str::FromStr, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota,
    clock::{Clock, DefaultClock},
};
use ipnet::IpNet;
use poem::Request;

/// Sends of one rendered form: double taps, browser retries and htmx's own
/// resends all pass (each is answered with the same thank-you), a loop does
/// not. The burst is as large as the foundation's promise that 50 posts of
/// one key at once all get the thank-you.
const KEY_BURST: u32 = 60;
const KEY_PER_SEC: u32 = 1;

pub struct RateLimits {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    /// Keyed by a hash of the submission key (seeded per process, so no one
    /// can aim at another's key): no allocation per check, and a fixed size
    /// per entry whatever the key.
    per_key: DefaultKeyedRateLimiter<u64>,
    key_hasher: std::collections::hash_map::RandomState,
    trusted_proxies: Vec<IpNet>,
    clock: DefaultClock,
}

fn non_zero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

/// Parses `RALLY_TRUSTED_PROXIES`: addresses or networks, comma-separated.
pub fn parse_proxies(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            IpNet::from_str(s)
                .or_else(|_| IpAddr::from_str(s).map(IpNet::from))
                .map_err(|_| format!("not an address or network: {s:?}"))
        })
        .collect()
}

impl RateLimits {
    pub fn new(ip_per_sec: u32, ip_burst: u32, trusted_proxies: Vec<IpNet>) -> Self {
        let ip_quota = Quota::per_second(non_zero(ip_per_sec)).allow_burst(non_zero(ip_burst));
        let key_quota = Quota::per_second(non_zero(KEY_PER_SEC)).allow_burst(non_zero(KEY_BURST));
        Self {
            per_ip: DefaultKeyedRateLimiter::keyed(ip_quota),
            per_key: DefaultKeyedRateLimiter::keyed(key_quota),
            key_hasher: Default::default(),
            trusted_proxies,
            clock: DefaultClock::default(),
        }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy,
    /// in which case Fly-Client-IP, or else the nearest X-Forwarded-For entry
    /// that is not itself a trusted proxy. Headers from anyone else are
    /// ignored: a client could write whatever it likes in them.
    pub fn client_ip(&self, req: &Request) -> Option<IpAddr> {
        let peer = req.remote_addr().as_socket_addr().map(|a| a.ip())?;
        if !self.trusted(peer) {
            return Some(peer);
        }
        if let Some(ip) = req
            .header("fly-client-ip")
            .and_then(|v| IpAddr::from_str(v.trim()).ok())
        {
            return Some(ip);
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| IpAddr::from_str(s.trim()).ok())
            .collect::<Vec<_>>();
        Some(
            forwarded
                .into_iter()
                .rev()
                .find(|ip| !self.trusted(*ip))
                .unwrap_or(peer),
        )
    }

    /// Admits one send of the form with `key` from `ip`, or says how long to
    /// wait. The key's limit is checked first so that a hammering client
    /// does not also use up its room's allowance.
    pub fn check(&self, ip: Option<IpAddr>, key: &str) -> Result<(), Duration> {
        let now = self.clock.now();
        use std::hash::BuildHasher;
        self.per_key
            .check_key(&self.key_hasher.hash_one(key))
            .map_err(|until| until.wait_time_from(now))?;
        if let Some(ip) = ip {
            self.per_ip
                .check_key(&ip)
                .map_err(|until| until.wait_time_from(now))?;
        }
        Ok(())
    }

    /// Forgets clients that have not been seen for a while.
    pub async fn clean_up(
        self: std::sync::Arc<Self>,
        every: Duration,
        token: tokio_util::sync::CancellationToken,
    ) {
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                () = tokio::time::sleep(every) => {
                    self.per_ip.retain_recent();
                    self.per_key.retain_recent();
                    self.per_ip.shrink_to_fit();
                    self.per_key.shrink_to_fit();
                }
            }
        }
    }
}

/// Throttles account operations (sign-in, password resets, sign-up) per
/// account and per client address, so guessing one password and sweeping
/// many accounts from one place are both slowed down.
///
/// The per-account allowance is kept per (account, address) pair: five
/// wrong passwords from an attacker's address must not lock the account's
/// owner out of signing in from their own. A second, wider allowance per
/// account alone ([`ACCOUNT_SPREAD`] times the pair's) still stops a
/// guesser who spreads over many addresses.
pub struct Throttle {
    per_pair: DefaultKeyedRateLimiter<(Option<IpAddr>, String)>,
    per_account: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

/// How many times the per-(account, address) allowance an account gets
/// from all addresses together.
pub const ACCOUNT_SPREAD: u32 = 20;

impl Throttle {
    /// `account_per_min` attempts per account from one address, and
    /// `ACCOUNT_SPREAD` times that from all addresses; `ip_per_min` per
    /// address over all accounts.
    pub fn new(account_per_min: u32, ip_per_min: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(non_zero(n)).allow_burst(non_zero(n));
        Self {
            per_pair: DefaultKeyedRateLimiter::keyed(quota(account_per_min)),
            per_account: DefaultKeyedRateLimiter::keyed(quota(
                account_per_min.saturating_mul(ACCOUNT_SPREAD),
            )),
            per_ip: DefaultKeyedRateLimiter::keyed(quota(ip_per_min)),
            clock: DefaultClock::default(),
        }
    }

    /// Admits one attempt for `account` (its email key) from `ip`, or says
    /// how long to wait.
    pub fn check(&self, ip: Option<IpAddr>, account: &str) -> Result<(), Duration> {
        self.check_ip(ip)?;
        self.check_account_from(ip, account)
    }

    /// Admits one attempt from `ip` (any account), or says how long to wait:
    /// for attempts whose account is known only after a lookup.
    pub fn check_ip(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        let now = self.clock.now();
        match ip {
            Some(ip) => self
                .per_ip
                .check_key(&ip)
                .map_err(|until| until.wait_time_from(now)),
            None => Ok(()),
        }
    }

    /// Admits one attempt on `account` from `ip` (the pair's allowance, then
    /// the account's over all addresses), or says how long to wait.
    pub fn check_account_from(&self, ip: Option<IpAddr>, account: &str) -> Result<(), Duration> {
        let now = self.clock.now();
        let wait = |until: governor::NotUntil<_>| until.wait_time_from(now);
        self.per_pair
            .check_key(&(ip, account.to_string()))
            .map_err(wait)?;
        self.per_account
            .check_key(&account.to_string())
            .map_err(wait)
    }

    pub fn forget_idle(&self) {
        self.per_pair.retain_recent();
        self.per_account.retain_recent();
        self.per_ip.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_parse() {
        let nets = parse_proxies("127.0.0.1, 10.0.0.0/8 ,fdaa::/16").unwrap();
        assert_eq!(nets.len(), 3);
        assert!(nets[1].contains(&"10.1.2.3".parse::<IpAddr>().unwrap()));
        assert!(parse_proxies("").unwrap().is_empty());
        assert!(parse_proxies("nope").is_err());
    }

    #[test]
    fn one_key_is_throttled_one_room_is_not() {
        let limits = RateLimits::new(1000, 2000, vec![]);
        let ip = Some("127.0.0.1".parse().unwrap());
        for i in 0..1500 {
            assert!(
                limits.check(ip, &format!("key-{i}")).is_ok(),
                "person {i} refused"
            );
        }
        let results: Vec<_> = (0..100).map(|_| limits.check(ip, "same-key")).collect();
        assert!(results[..KEY_BURST as usize].iter().all(Result::is_ok));
        let wait = results.last().unwrap().unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
    }

    #[test]
    fn account_attempts_are_throttled_per_account_and_per_address() {
        let throttle = Throttle::new(3, 5);
        let ip = Some("10.0.0.1".parse().unwrap());
        for _ in 0..3 {
            assert!(throttle.check(ip, "a@example.com").is_ok());
        }
        let wait = throttle.check(ip, "a@example.com").unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        // Another account from the same place has its own allowance, until
        // the address's runs out.
        assert!(throttle.check(ip, "b@example.com").is_ok());
        assert!(throttle.check(ip, "c@example.com").is_err());
        assert!(
            throttle
                .check(Some("10.0.0.2".parse().unwrap()), "c@example.com")
                .is_ok()
        );
        // The account whose allowance ran out from 10.0.0.1 still signs in
        // from its owner's own address: nobody locks another person out.
        assert!(
            throttle
                .check(Some("10.0.0.3".parse().unwrap()), "a@example.com")
                .is_ok()
        );
    }

    #[test]
    fn an_account_guessed_from_many_addresses_is_throttled_all_the_same() {
        let throttle = Throttle::new(3, 5);
        let mut admitted = 0;
        for i in 0..=255u8 {
            let ip = Some(IpAddr::from([10, 9, 0, i]));
            for _ in 0..3 {
                if throttle.check(ip, "a@example.com").is_ok() {
                    admitted += 1;
                }
            }
        }
        assert_eq!(admitted, 3 * ACCOUNT_SPREAD);
    }
}
