//! Who is the client of a connection: the one place that says it.
//!
//! A [`ConnKey`] names its endpoints `client` and `server` as well as the
//! source could tell: the sender of the SYN for packets, the connecting or
//! accepting side for sockets, a port guess for a connection joined
//! mid-stream. A [`Direction`] says which way bytes travel *relative to
//! those names*. [`Roles`] says whether the names are right: which
//! direction the client (the [`Role`] that sends requests) really sends in,
//! and whether that is known or still the key's guess. Parsers settle it
//! from what they see (a request line, a status line, the HTTP/2 preface,
//! a header block) with [`Roles::learn`], and records name their endpoints
//! by it ([`Roles::endpoints`]).
//!
//! [`TrafficDirection`](super::TrafficDirection) is another question — which
//! role the *traced process* plays — and answers it with
//! [`TrafficDirection::traced_role`](super::TrafficDirection::traced_role).
//!
//! ```
//! use capture_core::model::{Direction, Role, Roles};
//!
//! // A connection joined mid-stream: the key's orientation is a guess…
//! let mut roles = Roles::GUESSED;
//! assert_eq!(roles.sender(Direction::ClientToServer), Role::Client);
//! // …until a status line arrives from the key's "client" endpoint.
//! roles.learn(Direction::ClientToServer, Role::Server);
//! assert!(roles.is_known() && roles.swapped());
//! assert_eq!(roles.direction_of(Role::Client), Direction::ServerToClient);
//! // What is known is not changed by later guesses.
//! roles.learn(Direction::ClientToServer, Role::Client);
//! assert!(roles.swapped());
//! ```

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::ConnKey;

/// Which way bytes travel on a connection, relative to its [`ConnKey`]'s
/// endpoint names (which [`Roles`] confirms or corrects).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// From `key.client` to `key.server`.
    ClientToServer,
    /// From `key.server` to `key.client`.
    ServerToClient,
}

impl Direction {
    /// The opposite direction.
    pub const fn reverse(self) -> Self {
        match self {
            Self::ClientToServer => Self::ServerToClient,
            Self::ServerToClient => Self::ClientToServer,
        }
    }

    /// 0 for client-to-server, 1 for server-to-client: an index into per-direction arrays.
    pub const fn index(self) -> usize {
        match self {
            Self::ClientToServer => 0,
            Self::ServerToClient => 1,
        }
    }
}

/// The part an endpoint plays: the client sends requests, the server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Opens the connection and sends requests.
    Client,
    /// Accepts the connection and sends responses.
    Server,
}

impl Role {
    /// The other role.
    pub const fn peer(self) -> Self {
        match self {
            Self::Client => Self::Server,
            Self::Server => Self::Client,
        }
    }

    /// 0 for the client, 1 for the server: an index into per-role arrays.
    pub const fn index(self) -> usize {
        match self {
            Self::Client => 0,
            Self::Server => 1,
        }
    }
}

/// Which endpoint of a connection's key is the client, and whether that is
/// known or the key's guess.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Roles {
    /// The direction the client sends in.
    client: Direction,
    /// False while `client` is the key's guess.
    known: bool,
}

impl Default for Roles {
    fn default() -> Self {
        Self::GUESSED
    }
}

impl Roles {
    /// The key's names, not confirmed: the client is `key.client` until
    /// something shows otherwise.
    pub const GUESSED: Self = Self {
        client: Direction::ClientToServer,
        known: false,
    };

    /// The key's names, confirmed (a SYN, a socket's `connect` or `accept`).
    pub const CONFIRMED: Self = Self {
        client: Direction::ClientToServer,
        known: true,
    };

    /// Known roles: the client sends in direction `dir`.
    pub const fn client_sends(dir: Direction) -> Self {
        Self {
            client: dir,
            known: true,
        }
    }

    /// The role of the endpoint that sends in direction `dir` (the guess
    /// while the roles are not known).
    pub const fn sender(self, dir: Direction) -> Role {
        if dir.index() == self.client.index() {
            Role::Client
        } else {
            Role::Server
        }
    }

    /// The role of the sender in direction `dir`, or `None` while the roles
    /// are not known.
    pub const fn known_sender(self, dir: Direction) -> Option<Role> {
        if self.known {
            Some(self.sender(dir))
        } else {
            None
        }
    }

    /// The direction `role` sends in.
    pub const fn direction_of(self, role: Role) -> Direction {
        match role {
            Role::Client => self.client,
            Role::Server => self.client.reverse(),
        }
    }

    /// True once the roles were settled by evidence.
    pub const fn is_known(self) -> bool {
        self.known
    }

    /// Takes evidence that the endpoint sending in `dir` plays `sender`,
    /// unless the roles are already known (the first evidence wins).
    /// Returns true if the roles were settled by this call.
    pub fn learn(&mut self, dir: Direction, sender: Role) -> bool {
        if self.known {
            return false;
        }
        self.client = match sender {
            Role::Client => dir,
            Role::Server => dir.reverse(),
        };
        self.known = true;
        true
    }

    /// True when the client is the key's `server` endpoint: records name
    /// the endpoints the other way round from the key.
    pub const fn swapped(self) -> bool {
        matches!(self.client, Direction::ServerToClient)
    }

    /// The client and the server endpoint of `key`, by these roles.
    pub const fn endpoints(self, key: &ConnKey) -> (SocketAddr, SocketAddr) {
        if self.swapped() {
            (key.server, key.client)
        } else {
            (key.client, key.server)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NetnsId;

    #[test]
    fn guessed_roles_follow_the_key_until_learned() {
        let r = Roles::GUESSED;
        assert!(!r.is_known());
        assert_eq!(r.known_sender(Direction::ClientToServer), None);
        assert_eq!(r.sender(Direction::ServerToClient), Role::Server);
        assert!(!r.swapped());
    }

    #[test]
    fn the_first_evidence_settles_and_later_evidence_does_not_move_it() {
        let mut r = Roles::GUESSED;
        assert!(r.learn(Direction::ServerToClient, Role::Client));
        assert!(!r.learn(Direction::ClientToServer, Role::Client));
        assert_eq!(r, Roles::client_sends(Direction::ServerToClient));
        assert_eq!(
            r.known_sender(Direction::ServerToClient),
            Some(Role::Client)
        );
        assert_eq!(r.direction_of(Role::Server), Direction::ClientToServer);
    }

    #[test]
    fn swapped_roles_name_the_endpoints_the_other_way() {
        let key = ConnKey::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            NetnsId::UNKNOWN,
        );
        let (c, s) = Roles::client_sends(Direction::ServerToClient).endpoints(&key);
        assert_eq!((c.port(), s.port()), (80, 40000));
        let (c, s) = Roles::CONFIRMED.endpoints(&key);
        assert_eq!((c.port(), s.port()), (40000, 80));
    }
}
