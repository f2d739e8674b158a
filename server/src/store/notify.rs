//! Several instances on one PostgreSQL database: what one instance's transaction caused
//! (sessions ended, tabs ended, views changed) reaches the event streams every other
//! instance holds, through PostgreSQL's own `LISTEN`/`NOTIFY`.
//!
//! - The ending transaction sends `pg_notify` itself, so PostgreSQL delivers the notice
//!   only when (and if) it commits, to every instance listening on [`CHANNEL`].
//! - Each instance listens on one dedicated connection ([`listen`]). When that connection
//!   is lost the instance connects again, listens again, and then re-reads every session
//!   it holds streams for: an ending it missed meanwhile is pushed then (a termination
//!   during the outage still reaches its streams after recovery).
//! - A notice names the instance that sent it; that instance has already pushed to its own
//!   streams after the commit and skips it.
//!
//! `NOTIFY` payloads are limited to 8000 bytes, so a large ending (an emergency "everyone
//! else") is split into several notices.

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;

use super::{Conn, Effects, Ended, Store};
use crate::error::{AppError, Reason};

/// The notification channel every instance listens on.
pub(crate) const CHANNEL: &str = "session_guard_events";

/// Largest payload this server sends (PostgreSQL's limit is 8000 bytes).
const MAX_PAYLOAD: usize = 7_500;

/// Notices queued by one statement (each is at most [`MAX_PAYLOAD`] bytes of parameters).
const NOTICES_PER_STATEMENT: usize = 100;

/// How long to wait before connecting again after the listening connection failed.
const RECONNECT_EVERY: Duration = Duration::from_millis(250);

/// One notice: part of what one committed transaction caused.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Notice {
    /// The sending instance.
    from: String,
    /// Ended sessions: `(session_id, user_id, reason)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ended: Vec<(String, i64, String)>,
    /// Tabs an administrator ended: `(session_id, tab_id)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tabs: Vec<(String, String)>,
    /// Users whose permissions changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    users: Vec<i64>,
    /// Sessions whose view changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sessions: Vec<String>,
}

impl Notice {
    fn is_empty(&self) -> bool {
        self.ended.is_empty()
            && self.tabs.is_empty()
            && self.users.is_empty()
            && self.sessions.is_empty()
    }

    fn into_effects(self) -> Effects {
        Effects {
            ended: self
                .ended
                .into_iter()
                // A reason this version does not know (a newer instance's) is passed on
                // sanitized, as the contract's `Reason` does with any wire name.
                .map(|(session_id, user_id, reason)| Ended {
                    session_id,
                    user_id,
                    reason: Reason::from_wire(&reason),
                })
                .collect(),
            changed_users: self.users,
            changed_sessions: self.sessions,
            tabs_ended: self.tabs,
        }
    }
}

/// The payloads announcing `effects` from instance `from`, each under [`MAX_PAYLOAD`]
/// bytes; none when there is nothing to announce.
fn payloads(from: &str, effects: &Effects) -> Vec<String> {
    let empty = Notice {
        from: from.to_owned(),
        ..Notice::default()
    };
    let mut out = Vec::new();
    let mut current = empty.clone();
    let mut size = serde_json::to_string(&empty).map_or(0, |s| s.len());
    // Each item is added to the current notice unless that would overflow it.
    let mut add = |item_size: usize, add_to: &mut dyn FnMut(&mut Notice)| {
        if size + item_size + 16 > MAX_PAYLOAD && !current.is_empty() {
            if let Ok(text) = serde_json::to_string(&current) {
                out.push(text);
            }
            current = empty.clone();
            size = serde_json::to_string(&empty).map_or(0, |s| s.len());
        }
        add_to(&mut current);
        size += item_size + 1;
    };
    for ended in &effects.ended {
        let item = (
            ended.session_id.clone(),
            ended.user_id,
            ended.reason.wire_name().to_owned(),
        );
        let item_size = serde_json::to_string(&item).map_or(0, |s| s.len());
        add(item_size, &mut |n| n.ended.push(item.clone()));
    }
    for tab in &effects.tabs_ended {
        let item_size = serde_json::to_string(tab).map_or(0, |s| s.len());
        add(item_size, &mut |n| n.tabs.push(tab.clone()));
    }
    for &user in &effects.changed_users {
        add(20, &mut |n| n.users.push(user));
    }
    for session in &effects.changed_sessions {
        let item_size = session.len() + 2;
        add(item_size, &mut |n| n.sessions.push(session.clone()));
    }
    if !current.is_empty() {
        if let Ok(text) = serde_json::to_string(&current) {
            out.push(text);
        }
    }
    out
}

/// Queues the notices of `effects` in the transaction `conn` is in: PostgreSQL sends them
/// when it commits, and drops them when it rolls back. A large ending (5,000 sessions are
/// some forty notices) costs one round trip, not one per notice.
pub(crate) async fn send(conn: &mut Conn, from: &str, effects: &Effects) -> Result<(), AppError> {
    let payloads = payloads(from, effects);
    for batch in payloads.chunks(NOTICES_PER_STATEMENT) {
        let calls: Vec<String> = (0..batch.len())
            .map(|n| format!("pg_notify($1, ${})", n + 2))
            .collect();
        let sql = format!("SELECT {}", calls.join(", "));
        let mut query = sqlx::query(&sql).bind(CHANNEL);
        for payload in batch {
            query = query.bind(payload.as_str());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The listening task of one instance: runs until the store is dropped.
pub(crate) async fn listen(store: Weak<Store>, url: String) {
    loop {
        let mut listener = match connect(&url).await {
            Ok(listener) => listener,
            Err(e) => {
                if store.strong_count() == 0 {
                    return;
                }
                eprintln!("session-guard-server: cannot listen for other instances' events: {e}");
                tokio::time::sleep(RECONNECT_EVERY).await;
                continue;
            }
        };
        // Listening again before re-reading: an end committed from here on arrives as a
        // notice, one committed before is in the database.
        {
            let Some(store) = store.upgrade() else { return };
            if let Err(e) = catch_up(&store).await {
                eprintln!(
                    "session-guard-server: re-reading sessions after reconnecting failed: {e:?}"
                );
            }
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let Some(store) = store.upgrade() else { return };
                    deliver(&store, notification.payload()).await;
                }
                // The connection was lost: connect and catch up again.
                Ok(None) => break,
                Err(e) => {
                    eprintln!("session-guard-server: lost the connection for other instances' events: {e}");
                    tokio::time::sleep(RECONNECT_EVERY).await;
                    break;
                }
            }
        }
    }
}

async fn connect(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Pushes a notice of another instance to this instance's streams.
async fn deliver(store: &Store, payload: &str) {
    let Ok(notice) = serde_json::from_str::<Notice>(payload) else {
        eprintln!("session-guard-server: ignoring a malformed event notice");
        return;
    };
    if notice.from == store.instance {
        return;
    }
    store.publish(notice.into_effects()).await;
}

/// After (re)connecting: every session this instance holds streams for that has ended
/// meanwhile gets its `terminated` now.
async fn catch_up(store: &Arc<Store>) -> Result<(), AppError> {
    let watched = store.hub.session_ids();
    if watched.is_empty() {
        return Ok(());
    }
    let mut conn = store.reader().await?;
    let mut ended = Vec::new();
    for session_id in watched {
        // Every ended session has its reason (one end, one reason).
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT user_id, end_reason FROM sessions
             WHERE id = $1 AND ended_at IS NOT NULL AND end_reason IS NOT NULL",
        )
        .bind(&session_id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((user_id, reason)) = row {
            ended.push(Ended {
                session_id,
                user_id,
                reason: Reason::from_wire(&reason),
            });
        }
    }
    store
        .publish(Effects {
            ended,
            ..Effects::default()
        })
        .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(n: usize) -> Ended {
        Ended {
            session_id: format!("ses_{n:024}"),
            user_id: i64::try_from(n).unwrap_or(0),
            reason: Reason::RemoteTerminated,
        }
    }

    #[test]
    fn a_large_ending_is_split_under_the_payload_limit_and_read_back_whole() {
        let effects = Effects {
            ended: (0..5_000).map(ended).collect(),
            changed_users: vec![7, 8],
            changed_sessions: vec!["ses_view".into()],
            tabs_ended: vec![("ses_tab".into(), "t_1".into())],
        };
        let sent = payloads("instance-a", &effects);
        assert!(sent.len() > 1);
        assert!(
            sent.iter().all(|p| p.len() <= MAX_PAYLOAD),
            "{:?}",
            sent.iter().map(String::len).max()
        );
        let mut back = Effects::default();
        for payload in &sent {
            let notice: Notice = serde_json::from_str(payload).expect("payload parses");
            assert_eq!(notice.from, "instance-a");
            let part = notice.into_effects();
            back.ended.extend(part.ended);
            back.changed_users.extend(part.changed_users);
            back.changed_sessions.extend(part.changed_sessions);
            back.tabs_ended.extend(part.tabs_ended);
        }
        assert_eq!(back.ended, effects.ended);
        assert_eq!(back.changed_users, effects.changed_users);
        assert_eq!(back.changed_sessions, effects.changed_sessions);
        assert_eq!(back.tabs_ended, effects.tabs_ended);
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: SG_TEST_DATABASE_URL (cargo xtask test sets it)"]
    async fn an_ending_of_more_notices_than_one_statement_holds_arrives_whole_after_commit() {
        use sqlx::Connection;
        let url = crate::store::tests::postgres_if_configured()
            .await
            .expect("SG_TEST_DATABASE_URL names a PostgreSQL cluster");
        let mut listener = connect(&url).await.expect("listen");
        let effects = Effects {
            ended: (0..20_000).map(ended).collect(),
            ..Effects::default()
        };
        let expected = payloads("instance-a", &effects).len();
        assert!(expected > NOTICES_PER_STATEMENT, "{expected} notices");
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.expect("connect");
        let mut tx = conn.begin().await.expect("begin");
        send(&mut tx, "instance-a", &effects).await.expect("send");
        tx.commit().await.expect("commit");
        let mut back = Vec::new();
        for _ in 0..expected {
            let notification = tokio::time::timeout(Duration::from_secs(10), listener.recv())
                .await
                .expect("every notice arrives")
                .expect("notice");
            let notice: Notice = serde_json::from_str(notification.payload()).expect("parses");
            back.extend(notice.into_effects().ended);
        }
        assert_eq!(back, effects.ended);
    }

    #[test]
    fn nothing_to_announce_sends_nothing() {
        assert!(payloads("a", &Effects::default()).is_empty());
    }

    #[test]
    fn an_unknown_reason_is_passed_on_sanitized() {
        let notice: Notice = serde_json::from_str(
            r#"{"from":"b","ended":[["ses_1",1,"new_Reason!"],["ses_2",2,"suspended"]]}"#,
        )
        .expect("parses");
        let effects = notice.into_effects();
        assert_eq!(effects.ended.len(), 2);
        assert_eq!(effects.ended[0].reason, Reason::Other("new_eason".into()));
        assert_eq!(effects.ended[1].reason, Reason::Suspended);
    }
}
