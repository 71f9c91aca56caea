use super::*;

fn bad(text: &str) -> String {
    match parse(text) {
        Err(UsageError::BadArgs { usage, .. }) => usage,
        other => panic!("{text}: expected a usage error, got {other:?}"),
    }
}

#[test]
fn gpu_takes_an_optional_agent() {
    assert_eq!(parse("/gpu").unwrap(), Command::Gpu { agent: None });
    assert_eq!(
        parse("/gpu@OutpostBot web1").unwrap(),
        Command::Gpu {
            agent: Some("web1".into())
        }
    );
    assert_eq!(bad("/gpu web1 web2"), "/gpu [agent]");
}

#[test]
fn plot_history_and_mem_picture_arguments() {
    assert_eq!(
        parse("/plot web1,web2 gpu 30 14:05").unwrap(),
        Command::Plot {
            agents: vec!["web1".into(), "web2".into()],
            metric: PlotMetric::Gpu,
            minutes: 30,
            at: Some(TimeOfDay {
                hour: 14,
                minute: 5
            })
        }
    );
    assert_eq!(
        parse("/plot web1 agent:node_load1_per_cpu:ratio").unwrap(),
        Command::Plot {
            agents: vec!["web1".into()],
            metric: PlotMetric::Record(crate::generate::recording::LOAD_PER_CPU),
            minutes: DEFAULT_MINUTES,
            at: None
        }
    );
    let usage = "/plot <agent[,agent…]> <metric> [minutes] [hhmm]";
    assert_eq!(bad("/plot web1"), usage);
    assert_eq!(bad("/plot web1 node_load1"), usage);
    assert_eq!(bad("/plot web1 cpu 0"), usage);
    assert_eq!(bad("/plot a,b,c,d,e,f,g,h,i cpu"), usage);
    match parse("/plot web1 sum(up)") {
        Err(UsageError::BadArgs { reason, .. }) => {
            assert!(reason.contains("not a metric /plot draws"), "{reason}");
            assert!(reason.contains("net_in"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parse("/history").unwrap(),
        Command::History {
            target: None,
            hours: 24
        }
    );
    assert_eq!(
        parse("/history 6 db").unwrap(),
        Command::History {
            target: Some("db".into()),
            hours: 6
        }
    );
    assert_eq!(bad("/history 0"), "/history [check|agent] [hours]");
    assert_eq!(bad("/history 169"), "/history [check|agent] [hours]");
    assert_eq!(bad("/history a b"), "/history [check|agent] [hours]");
    assert_eq!(bad("/mem_picture"), "/mem_picture <agent>");
}

#[test]
fn every_spec_parses_to_a_command_of_its_name() {
    let sample_args = |s: &Spec| match s.name {
        "silence" => " web1 1h".to_string(),
        "unsilence" => " 0f9a8b7c-1d2e-4f30-8a9b-0c1d2e3f4a5b".to_string(),
        "ps" | "ports" | "top" | "reboot" => " web1".to_string(),
        "logs" | "restart" => " web1 app".to_string(),
        "service" => " web1 nginx.service".to_string(),
        "kill_port" => " web1 8080".to_string(),
        "run" => " web1 app-logs".to_string(),
        "broadcast" => " top".to_string(),
        "agent_add" => " web2 10.0.0.9:9100".to_string(),
        "agent_rm" | "check_rm" => " web2".to_string(),
        "threshold" => " web1 cpu 95".to_string(),
        "check_add" => " pg 10.0.0.6:5432 from web1".to_string(),
        "plot" => " web1,web2 cpu".to_string(),
        "mem_picture" => " web1".to_string(),
        "ack" => " AgentDown".to_string(),
        "mute" => " web1 1h".to_string(),
        "unmute" => " web1".to_string(),
        _ => String::new(),
    };
    for s in SPECS {
        let cmd = parse(&format!("/{}{}", s.name, sample_args(s))).unwrap();
        assert_eq!(cmd.name(), s.name);
    }
    let mut names: Vec<_> = SPECS.iter().map(|s| s.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), SPECS.len(), "duplicate command");
}

#[test]
fn bot_suffix_case_and_whitespace() {
    assert_eq!(parse("/agents@OutpostBot").unwrap(), Command::Agents);
    assert_eq!(
        parse("  /MON_CPU@outpost_bot   web1  ").unwrap(),
        Command::Mon {
            metric: Metric::Cpu,
            agent: Some("web1".into())
        }
    );
    assert_eq!(parse("hello"), Err(UsageError::NotACommand));
    assert_eq!(
        parse("/nosuch x"),
        Err(UsageError::Unknown("nosuch".into()))
    );
    assert_eq!(parse("/"), Err(UsageError::Unknown("".into())));
}

#[test]
fn agent_args_are_kept_verbatim_for_validation_later() {
    // Injection attempts parse (the agent check refuses them), so the
    // reply can list the known agents.
    assert_eq!(
        parse(r#"/mon_cpu web1"}"#).unwrap(),
        Command::Mon {
            metric: Metric::Cpu,
            agent: Some(r#"web1"}"#.into())
        }
    );
    assert_eq!(bad("/status a b"), "/status [agent]");
    assert_eq!(bad("/help me"), "/help");
}

#[test]
fn picture_arguments() {
    let p = |t| parse(t).unwrap();
    assert_eq!(
        p("/mon_cpu_picture"),
        Command::Picture {
            metric: Metric::Cpu,
            agent: None,
            minutes: 5,
            at: None
        }
    );
    assert_eq!(
        p("/mon_mem_picture web1 30"),
        Command::Picture {
            metric: Metric::Mem,
            agent: Some("web1".into()),
            minutes: 30,
            at: None
        }
    );
    assert_eq!(
        p("/mon_disk_picture 60 1405"),
        Command::Picture {
            metric: Metric::Disk,
            agent: None,
            minutes: 60,
            at: Some(TimeOfDay {
                hour: 14,
                minute: 5
            })
        }
    );
    assert_eq!(
        p("/mon_cpu_picture web1 14:05"),
        Command::Picture {
            metric: Metric::Cpu,
            agent: Some("web1".into()),
            minutes: 5,
            at: Some(TimeOfDay {
                hour: 14,
                minute: 5
            })
        }
    );
    assert_eq!(p("/mon_cpu_picture web1 10 905").name(), "mon_cpu_picture");
    let usage = "/mon_cpu_picture [agent] [minutes] [hhmm]";
    assert_eq!(bad("/mon_cpu_picture web1 0"), usage);
    assert_eq!(bad("/mon_cpu_picture web1 1441"), usage);
    assert_eq!(bad("/mon_cpu_picture web1 x5"), usage);
    assert_eq!(bad("/mon_cpu_picture web1 5 2460"), usage);
    assert_eq!(bad("/mon_cpu_picture web1 5 12:60"), usage);
    assert_eq!(bad("/mon_cpu_picture web1 5 1:2:3"), usage);
    assert_eq!(bad("/mon_cpu_picture web1 5 1200 1300"), usage);
}

#[test]
fn times_and_durations() {
    assert_eq!(
        parse_time("0905").unwrap(),
        TimeOfDay { hour: 9, minute: 5 }
    );
    assert_eq!(parse_time("905").unwrap(), TimeOfDay { hour: 9, minute: 5 });
    assert_eq!(
        parse_time("23:59").unwrap(),
        TimeOfDay {
            hour: 23,
            minute: 59
        }
    );
    assert!(parse_time("24:00").is_err());
    assert!(parse_time("12:5").is_err());
    assert_eq!(
        parse_silence_duration("1h30m"),
        Some(Duration::from_secs(5400))
    );
    assert_eq!(
        parse_silence_duration("2d"),
        Some(Duration::from_secs(172800))
    );
    assert_eq!(parse_silence_duration("web1"), None);
    assert_eq!(parse_silence_duration("10"), None);
    assert_eq!(parse_silence_duration("0h"), None);
    assert_eq!(parse_silence_duration("99999999999999999999h"), None);
}

#[test]
fn silence_arguments() {
    assert_eq!(
        parse("/silence web1 1h deploy in progress").unwrap(),
        Command::Silence {
            target: vec!["web1".into()],
            duration: Duration::from_secs(3600),
            comment: "deploy in progress".into()
        }
    );
    assert_eq!(
        parse("/silence alertname=AgentHighCPU,agent=~web.* 30m").unwrap(),
        Command::Silence {
            target: vec!["alertname=AgentHighCPU".into(), "agent=~web.*".into()],
            duration: Duration::from_secs(1800),
            comment: String::new()
        }
    );
    let usage = "/silence <agent|matchers> <duration> [comment]";
    assert_eq!(bad("/silence web1"), usage);
    assert_eq!(bad("/silence 1h"), usage);
    assert_eq!(bad("/silence web1 30s"), usage);
    assert_eq!(bad("/silence web1 100d"), usage);
}

#[test]
fn action_commands_name_the_agent_action_its_args_and_whether_it_changes() {
    let act = |t: &str| match parse(t).unwrap() {
        Command::Act(a) => a,
        other => panic!("{t}: {other:?}"),
    };
    let a = act("/logs web1 app 20");
    assert_eq!((a.action.as_str(), a.change), ("docker.logs", false));
    assert_eq!(a.args["container"], "app");
    assert_eq!(a.args["lines"], 20);
    assert_eq!(act("/logs web1 app").args["lines"], 50);
    assert!(act("/restart web1 app").change);
    assert_eq!(act("/service web1 nginx").action, "service.status");
    let r = act("/service web1 nginx RESTART");
    assert_eq!((r.action.as_str(), r.change), ("service.restart", true));
    let k = act("/kill_port web1 8080");
    assert_eq!((k.action.as_str(), k.change), ("kill-port", true));
    assert_eq!(k.args["port"], 8080);
    let b = act("/broadcast top");
    assert_eq!((b.agent, b.change), (None, false));
    assert!(act("/broadcast docker.prune").change);
    // Custom actions always change; a parameter like `; rm -rf /` stays
    // one string value (the agent types it; no shell anywhere).
    let c = act("/run web1 echo v=$(id);rm");
    assert!(c.change);
    assert_eq!(c.args["v"], "$(id);rm");
    assert_eq!(bad("/kill_port web1 0"), "/kill_port <agent> <port>");
    assert_eq!(bad("/kill_port web1 x"), "/kill_port <agent> <port>");
    assert_eq!(
        bad("/logs web1 app 5000"),
        "/logs <agent> <container> [lines]"
    );
    assert_eq!(bad("/ports"), "/ports <agent>");
    assert_eq!(bad("/restart web1"), "/restart <agent> <container>");
    assert_eq!(
        bad("/run web1 ../x"),
        "/run <agent> <action> [name=value …]"
    );
    assert_eq!(
        bad("/run web1 echo v"),
        "/run <agent> <action> [name=value …]"
    );
    assert_eq!(
        bad("/broadcast top a=1 a=2"),
        "/broadcast <action> [name=value …]"
    );
}

#[test]
fn config_command_arguments() {
    use crate::alerts::Threshold;
    assert_eq!(
        parse("/threshold web1 cpu_threshold default").unwrap(),
        Command::Threshold {
            agent: "web1".into(),
            threshold: Threshold::Cpu,
            value: None
        }
    );
    assert_eq!(
        parse("/threshold web1 disk_fill 12h").unwrap(),
        Command::Threshold {
            agent: "web1".into(),
            threshold: Threshold::DiskFill,
            value: Some("12h".into())
        }
    );
    match parse("/threshold web1 temperature 90") {
        Err(UsageError::BadArgs { reason, .. }) => {
            assert!(
                reason.starts_with("unknown metric \"temperature\" (known: cpu, memory,"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parse("/agent_add web2 h:1 env=prod role=db").unwrap(),
        Command::AgentAdd {
            name: "web2".into(),
            address: "h:1".into(),
            labels: vec!["env=prod".into(), "role=db".into()]
        }
    );
    assert_eq!(
        bad("/agent_add web2"),
        "/agent_add <name> <host:port> [key=value ...]"
    );
    assert_eq!(
        bad("/check_add pg h:1 by web1"),
        "/check_add <name> <host:port> from <agent> [failures=N]"
    );
    assert_eq!(
        parse("/check_add pg h:1 from web1 failures=5").unwrap(),
        Command::CheckAdd {
            name: "pg".into(),
            target: "h:1".into(),
            from: "web1".into(),
            failures: Some("5".into())
        }
    );
    // The value is checked by the config editor, like agents.txt's.
    assert!(matches!(
        parse("/check_add pg h:1 from web1 failures=0").unwrap(),
        Command::CheckAdd { failures: Some(f), .. } if f == "0"
    ));
    assert_eq!(
        bad("/check_add pg h:1 from web1 retries=5"),
        "/check_add <name> <host:port> from <agent> [failures=N]"
    );
    assert_eq!(bad("/agent_rm"), "/agent_rm <agent>");
}

#[test]
fn subscription_mute_and_quiet_arguments() {
    assert_eq!(
        parse("/subscribe").unwrap(),
        Command::Subscribe {
            topics: vec!["all".into()]
        }
    );
    assert_eq!(
        parse("/unsubscribe web1,db1").unwrap(),
        Command::Unsubscribe {
            topics: vec!["web1".into(), "db1".into()]
        }
    );
    assert_eq!(bad("/subscribe all web1"), "/subscribe [agent…|all]");
    assert_eq!(
        parse("/mute AgentDown 2h").unwrap(),
        Command::Mute {
            target: "AgentDown".into(),
            duration: Duration::from_secs(7200)
        }
    );
    assert_eq!(bad("/mute web1 soon"), "/mute <agent|alert> <duration>");
    assert_eq!(bad("/mute web1"), "/mute <agent|alert> <duration>");
    assert_eq!(bad("/unmute"), "/unmute <agent|alert>");
    assert_eq!(bad("/quiet 25:00-07:00"), "/quiet [HH:MM-HH:MM|off]");
    assert_eq!(parse("/quiet off").unwrap(), Command::Quiet(QuietArg::Off));
    assert_eq!(bad("/subscriptions web1"), "/subscriptions");
}

#[test]
fn unsilence_takes_a_uuid_only() {
    assert_eq!(
        parse("/unsilence 0F9A8B7C-1D2E-4F30-8A9B-0C1D2E3F4A5B").unwrap(),
        Command::Unsilence {
            id: "0f9a8b7c-1d2e-4f30-8a9b-0c1d2e3f4a5b".into()
        }
    );
    assert_eq!(bad("/unsilence ../../api/v2/status"), "/unsilence <id>");
    assert_eq!(bad("/unsilence"), "/unsilence <id>");
}
