//! The one integration-test binary. Each module covers one part; `support`
//! holds what they share (locating the real upstream programs, ports).

mod actions;
mod actions_docker;
mod actions_system;
mod alerting;
mod bot;
mod bridge;
mod chat;
mod chat_actions;
mod chat_answers;
mod chat_config;
mod dbus_standin;
mod docker_standin;
mod docs;
mod e2e;
mod exporter_collectors;
mod exporter_compat;
mod exporter_dbus;
mod exporter_extras;
mod exporter_golden;
mod exporter_textfile;
mod exporter_web;
mod exposition;
mod fake_telegram;
mod generate;
mod ha;
mod ha_alertmanager;
mod ha_shards;
mod ha_victoria;
mod oncall;
mod oncall_state;
mod packaging;
mod probe;
mod stack;
mod state;
mod support;
