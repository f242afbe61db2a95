//! The IRC command table: what each command needs before its handler runs, decided once.

/// What the hub needs of a command before its handler runs (after Ergo's command table).
pub(super) struct CommandSpec {
    pub(super) name: &'static str,
    /// Fewer parameters (or an empty first one) is 461.
    pub(super) min_params: usize,
    /// Usable before registration; the others are 451 until then.
    pub(super) before_registration: bool,
    /// Part of registration: 462 once registered.
    pub(super) registration_only: bool,
}

const fn spec(name: &'static str, min_params: usize) -> CommandSpec {
    CommandSpec {
        name,
        min_params,
        before_registration: false,
        registration_only: false,
    }
}

const fn pre_reg(name: &'static str, min_params: usize) -> CommandSpec {
    CommandSpec {
        before_registration: true,
        ..spec(name, min_params)
    }
}

/// Every command the hub knows. Commands whose missing parameters have numerics of their own
/// (NICK 431, PRIVMSG/NOTICE 411 and 412, WHOIS 431) need none here and check in their handler.
const COMMANDS: &[CommandSpec] = &[
    spec("ADMIN", 0),
    pre_reg("AUTHENTICATE", 1),
    pre_reg("REGISTER", 3),
    spec("AWAY", 0),
    pre_reg("CAP", 0),
    spec("CHATHISTORY", 0),
    spec("INFO", 0),
    spec("INVITE", 2),
    spec("ISON", 1),
    spec("JOIN", 1),
    spec("KICK", 2),
    spec("KILL", 2),
    spec("LINKS", 0),
    spec("LIST", 0),
    spec("LUSERS", 0),
    spec("MODE", 1),
    spec("MOTD", 0),
    spec("NAMES", 0),
    pre_reg("NICK", 0),
    spec("NOTICE", 0),
    spec("OPER", 2),
    spec("PART", 1),
    CommandSpec {
        registration_only: true,
        ..pre_reg("PASS", 1)
    },
    pre_reg("PING", 1),
    pre_reg("PONG", 0),
    spec("PRIVMSG", 0),
    pre_reg("QUIT", 0),
    spec("SEARCH", 0),
    spec("SERVLIST", 0),
    spec("SETNAME", 1),
    spec("SQUERY", 2),
    spec("STATS", 0),
    spec("TAGMSG", 1),
    spec("TIME", 0),
    spec("TOPIC", 1),
    CommandSpec {
        registration_only: true,
        ..pre_reg("USER", 4)
    },
    spec("USERHOST", 1),
    spec("USERS", 0),
    spec("VERSION", 0),
    spec("WALLOPS", 1),
    spec("WHO", 1),
    spec("WHOIS", 0),
    spec("WHOWAS", 1),
];

pub(super) fn command_spec(upper: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_command_once_in_upper_case() {
        let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        assert!(names
            .iter()
            .all(|n| n.bytes().all(|b| b.is_ascii_uppercase())));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COMMANDS.len());
        assert!(command_spec("PRIVMSG").is_some());
        assert!(
            command_spec("privmsg").is_none(),
            "callers upper-case first"
        );
    }
}
