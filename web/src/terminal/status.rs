//! How terminals and their devices look on the status bus: one `terminal`
//! entity per terminal (id: the terminal id) and one entity per device
//! (id: `TERMINAL/DEVICE`, the kind from the device's), all scoped to the
//! terminal's branch. Pure functions from a [`SessionView`] to
//! [`Update`]s; [`super::sessions`] publishes them.

use cardhub_actors::status::{
    Detail, DeviceDetail, EntityKey, EntityKind, Health, Scope, TerminalDetail, Update,
};
use cardhub_protocols::terminal::{DeviceKind, DeviceState};

use super::table::{SessionView, TerminalDevice};

/// The reason a device shows while its terminal's link is down.
pub const LINK_DOWN: &str = "terminal link down";

/// The entity kind of a device kind; `None` for a kind this hub does not
/// show.
pub fn entity_kind(kind: DeviceKind) -> Option<EntityKind> {
    match kind {
        DeviceKind::IdReader => Some(EntityKind::IdReader),
        DeviceKind::Camera => Some(EntityKind::Camera),
        DeviceKind::CardReader => Some(EntityKind::Reader),
        DeviceKind::Printer => Some(EntityKind::Printer),
        _ => None,
    }
}

/// A device's entity id.
pub fn device_entity_id(terminal_id: &str, device: &str) -> String {
    format!("{terminal_id}/{device}")
}

/// The key of a device's entity, if its kind is shown.
pub fn device_key(terminal_id: &str, device: &TerminalDevice) -> Option<EntityKey> {
    entity_kind(device.kind).map(|k| EntityKey::new(k, device_entity_id(terminal_id, &device.name)))
}

fn scope(view: &SessionView) -> Scope {
    Scope {
        branch: Some(view.branch.clone()),
        ..Scope::default()
    }
}

/// The terminal's entity: ok while linked (the reason names its software),
/// offline with `why` when not.
pub fn terminal_update(terminal_id: &str, view: &SessionView, why: Option<&str>) -> Update {
    let (health, reason) = if view.online {
        (
            Health::Ok,
            format!("linked from {}, {}", view.peer, view.software_version),
        )
    } else {
        (
            Health::Offline,
            format!("{LINK_DOWN}: {}", why.unwrap_or("the connection ended")),
        )
    };
    Update::new(EntityKind::Terminal, terminal_id, health)
        .reason(reason)
        .scope(scope(view))
        .detail(Detail::Terminal(TerminalDetail {
            branch_name: view.branch_name.clone(),
            devices: view.devices.len() as u32,
            connected_ms: view.connected_ms,
        }))
}

/// One device's entity (`None` for a kind the wall does not show). While
/// the terminal is not linked the device is offline, "terminal link down".
pub fn device_update(
    terminal_id: &str,
    view: &SessionView,
    device: &TerminalDevice,
) -> Option<Update> {
    let kind = entity_kind(device.kind)?;
    let (health, reason) = if view.online {
        let health = match device.state {
            DeviceState::Ready => Health::Ok,
            DeviceState::Busy => Health::Busy,
            DeviceState::Offline => Health::Offline,
            DeviceState::Fault => Health::Error,
            _ => Health::Warning,
        };
        let card = match device.card_present {
            Some(true) => Some("card present"),
            Some(false) => Some("card removed"),
            None => None,
        };
        let reason = match (device.detail.as_deref(), card) {
            (Some(detail), Some(card)) => Some(format!("{detail}; {card}")),
            (Some(detail), None) => Some(detail.to_owned()),
            (None, Some(card)) => Some(card.to_owned()),
            (None, None) => None,
        };
        (health, reason)
    } else {
        (Health::Offline, Some(LINK_DOWN.to_owned()))
    };
    Some(
        Update::new(kind, device_entity_id(terminal_id, &device.name), health)
            .maybe_reason(reason)
            .scope(scope(view))
            .detail(Detail::Device(DeviceDetail {
                card_present: device.card_present,
                ..DeviceDetail::default()
            })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(online: bool) -> SessionView {
        SessionView {
            session: "s-1".into(),
            online,
            connected_ms: 5,
            branch: "B001".into(),
            branch_name: "黄浦".into(),
            software_version: "cardhub 1.0.0".into(),
            peer: "10.0.0.7:50000".into(),
            devices: vec![TerminalDevice {
                name: "id-reader-1".into(),
                kind: DeviceKind::IdReader,
                state: DeviceState::Fault,
                detail: Some("SAM not answering".into()),
                card_present: Some(true),
            }],
            pushes_waiting: 0,
            last_event_seq: 0,
            last_push_seq: 0,
        }
    }

    #[test]
    fn a_linked_terminal_and_its_device() {
        let v = view(true);
        let t = terminal_update("T-1", &v, None);
        assert_eq!(t.key, EntityKey::new(EntityKind::Terminal, "T-1"));
        assert_eq!(t.health, Health::Ok);
        assert!(t.reason.as_deref().unwrap().contains("cardhub 1.0.0"));
        assert_eq!(t.scope.branch.as_deref(), Some("B001"));
        let d = device_update("T-1", &v, &v.devices[0]).unwrap();
        assert_eq!(
            d.key,
            EntityKey::new(EntityKind::IdReader, "T-1/id-reader-1")
        );
        assert_eq!(d.health, Health::Error);
        assert_eq!(d.reason.as_deref(), Some("SAM not answering; card present"));
    }

    #[test]
    fn a_cut_terminal_shows_its_devices_offline() {
        let v = view(false);
        let t = terminal_update("T-1", &v, Some("silent for 45 s"));
        assert_eq!(t.health, Health::Offline);
        assert_eq!(
            t.reason.as_deref(),
            Some("terminal link down: silent for 45 s")
        );
        let d = device_update("T-1", &v, &v.devices[0]).unwrap();
        assert_eq!(d.health, Health::Offline);
        assert_eq!(d.reason.as_deref(), Some(LINK_DOWN));
    }
}
