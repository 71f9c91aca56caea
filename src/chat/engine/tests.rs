use super::*;
use crate::chat::zone;

fn engine(tz: &str) -> Engine {
    Engine::new(
        Config {
            // Nothing listens on port 9 here; unit tests never reach it.
            prometheus_url: "http://127.0.0.1:9".into(),
            alertmanager_url: "http://127.0.0.1:9".into(),
            agents: super::super::agents::parse("agents.txt", "web1 10.0.0.1:9100\n").unwrap(),
            roles: {
                let mut r = Roles::default();
                r.grant([42], Role::Admin)
                    .grant([43], Role::Viewer)
                    .grant([44], Role::Operator);
                r
            },
            timezone: zone::parse(tz).unwrap(),
            timeout: Duration::from_millis(500),
            actions_key: None,
            actions_timeout: Duration::from_secs(1),
            config_change: None,
        },
        super::super::audit::Audit::in_memory().unwrap(),
    )
}

fn alice() -> Caller {
    Caller {
        user_id: 42,
        chat_id: -100,
        username: Some("alice".into()),
    }
}

#[test]
fn generator_url_expression() {
    assert_eq!(
        generator_expr("http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1").as_deref(),
        Some("up == 0")
    );
    assert_eq!(generator_expr("http://prom:9090/graph"), None);
    assert_eq!(generator_expr("not a url"), None);
}

#[test]
fn created_by_names_the_user_and_front_end() {
    assert_eq!(alice().created_by(), "@alice (telegram 42)");
    assert_eq!(Caller::local("ops").created_by(), "ops (outpost ask)");
    let anon = Caller {
        username: None,
        ..alice()
    };
    assert_eq!(anon.created_by(), "telegram user 42");
}

#[tokio::test]
async fn strangers_get_one_refusal_then_nothing() {
    let e = engine("UTC");
    let stranger = Caller {
        user_id: 7,
        chat_id: 7,
        username: None,
    };
    let first = e.handle(&stranger, "/status").await.expect("one refusal");
    assert!(first.text.contains("<code>7</code>"));
    assert!(first.chart.is_none() && first.buttons.is_empty());
    assert!(e.handle(&stranger, "/mon_cpu").await.is_none());
    assert!(e.press(&stranger, "s1:abcd").await.is_none());
    assert!(e.handle(&stranger, "/whoami").await.is_none());
    // Only the refusal is audited; every refused message is counted.
    let log = e.audit.latest(10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].result, "refused");
    assert_eq!(log[0].action, "/status");
    assert_eq!(e.refused(), 4);
}

#[tokio::test]
async fn allowed_user_commands_that_need_no_network() {
    let e = engine("UTC");
    let r = e.handle(&alice(), "/help@OutpostBot").await.unwrap();
    assert!(r.text.contains("/mon_cpu_picture"));
    assert!(e.handle(&alice(), "just chatting").await.is_none());
    let r = e.handle(&alice(), "/whoami").await.unwrap();
    assert!(r.text.contains("Allowed: yes"));
    // unknown agents and injection attempts never reach Prometheus (port 9
    // would answer "unreachable")
    for text in [
        r#"/mon_cpu web1"}"#,
        "/status nosuch",
        "/mon_disk_picture web1\"} 5",
        "/silence x\"} 1h",
    ] {
        let r = e.handle(&alice(), text).await.unwrap();
        assert!(r.text.starts_with("Unknown agent"), "{text}: {}", r.text);
        assert!(r.text.contains("<code>web1</code>"));
    }
    let r = e
        .handle(&alice(), "/silence agent=nosuch 1h")
        .await
        .unwrap();
    assert!(r.text.starts_with("Unknown agent"));
    let r = e.handle(&alice(), "/silence bad-name=x 1h").await.unwrap();
    assert!(r.text.contains("Usage: <code>/silence"), "{}", r.text);
    let r = e
        .handle(&alice(), "/mon_cpu_picture web1 99999")
        .await
        .unwrap();
    assert!(r.text.contains("Usage:"));
    let r = e.press(&alice(), "s1:not/hex").await.unwrap();
    assert!(r.text.contains("not valid"));
    let r = e.handle(&alice(), "/audit").await.unwrap();
    assert!(r.text.contains("button:s1:not/hex"), "{}", r.text);
}

#[tokio::test]
async fn each_command_and_button_needs_its_role() {
    let e = engine("UTC");
    let as_user = |id| Caller {
        user_id: id,
        chat_id: -100,
        username: Some(format!("u{id}")),
    };
    let (viewer, operator) = (as_user(43), as_user(44));
    let r = e.answer(&viewer, "/whoami").await.unwrap();
    assert_eq!(r.verdict, Verdict::Ok);
    assert!(r.reply.text.contains("yes, as viewer"), "{}", r.reply.text);
    let help = e.handle(&viewer, "/help").await.unwrap().text;
    assert!(
        !help.contains("/silence ") && help.contains("/status"),
        "{help}"
    );
    assert!(help.contains("Your role is viewer; 15 more"), "{help}");
    // Refused before anything reaches Alertmanager (port 9 would answer
    // "unreachable"), with the role it needs; audited.
    for (who, text, needs) in [
        (&viewer, "/silence web1 1h", "operator"),
        (
            &viewer,
            "/unsilence 0f9a8b7c-1d2e-4f30-8a9b-0c1d2e3f4a5b",
            "operator",
        ),
        (&operator, "/audit", "admin"),
    ] {
        let a = e.answer(who, text).await.unwrap();
        assert_eq!(a.verdict, Verdict::Refused, "{text}");
        assert!(
            a.reply.text.contains(&format!("needs the {needs} role")),
            "{text}: {}",
            a.reply.text
        );
    }
    // A button is checked like the command it stands for.
    let a = e.answer_press(&viewer, "s1:abcd").await.unwrap();
    assert_eq!(a.verdict, Verdict::Refused);
    let a = e
        .answer_press(&viewer, "u:0f9a8b7c-1d2e-4f30-8a9b-0c1d2e3f4a5b")
        .await
        .unwrap();
    assert_eq!(a.verdict, Verdict::Refused);
    // A viewer may chart (reaches Alertmanager, which is not there).
    let a = e.answer_press(&viewer, "c:abcd").await.unwrap();
    assert_eq!(a.verdict, Verdict::Failed);
    let log = e.audit.latest(10).await.unwrap();
    assert!(log
        .iter()
        .any(|l| l.action == "/audit" && l.result == "refused: needs admin"));
    assert_eq!(e.refused(), 0, "known users are not strangers");
    // A confirmation nobody asked for (forged, used or from before a
    // restart) is refused and audited.
    let a = e
        .answer_press(&operator, "k:0123456789abcdef")
        .await
        .unwrap();
    assert_eq!(a.verdict, Verdict::Refused);
    assert!(a.reply.text.contains("unknown or was already used"));
}

#[tokio::test]
async fn unreachable_prometheus_is_named_quickly() {
    let e = engine("UTC");
    let t = std::time::Instant::now();
    let r = e.handle(&alice(), "/mon_cpu web1").await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(
        r.text
            .starts_with("⚠️ Prometheus at http://127.0.0.1:9 is unreachable"),
        "{}",
        r.text
    );
    let r = e.handle(&alice(), "/alerts").await.unwrap();
    assert!(r
        .text
        .starts_with("⚠️ Alertmanager at http://127.0.0.1:9 is unreachable"));
    let log = e.audit.latest(1).await.unwrap();
    assert!(log[0].result.starts_with("error: Alertmanager"));
}
