//! The `outpost` binary: parse flags, set up logging, run one subcommand,
//! map its error to an exit code.

use std::process::ExitCode;

use clap::Parser;
use outpost::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = parse_flags();
    outpost::logging::init(&cli.log_level, &cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("outpost: {err:#}");
            ExitCode::from(outpost::exit_code(&err))
        }
    }
}

/// Parses the flags on a short-lived thread. clap's derived builders take
/// about 90 KB of stack, once: pages a thread touches on the main stack stay
/// resident for the life of the process (an exporter runs for months on
/// every host), while glibc hands an exited thread's stack back to the
/// kernel. `parse` still exits the process itself on `--help` or a usage
/// error.
fn parse_flags() -> Cli {
    std::thread::scope(|s| s.spawn(Cli::parse).join())
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Exporter(args) => outpost::exporter::main(outpost::cli::exporter::config(args)?),
        Command::Bridge(args) => outpost::bridge::main(args),
        Command::Ask(args) => {
            let oncall = match &args.chat.oncall {
                Some(path) => outpost::chat::oncall::read(path)?,
                None => Default::default(),
            };
            // One runtime for opening the state and the engine: a
            // PostgreSQL pool's connections run as tasks on it.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let location = outpost::bridge::state::Location::parse(&args.state);
            let retention = outpost::chat::audit_retention(&args.chat);
            let (desk, audit) = runtime.block_on(outpost::bridge::desk::for_state(
                &location, oncall, retention,
            ))?;
            outpost::chat::main(args, &runtime, audit, Some(std::sync::Arc::new(desk)))
        }
        Command::Generate(args) => outpost::generate::main(args),
        Command::Keygen(args) => outpost::signing::keygen(args),
        Command::Actions(outpost::cli::ActionsCommand::Fingerprint(args)) => {
            outpost::pin::fingerprint(args)
        }
        Command::Healthcheck(args) => outpost::healthcheck::main(args),
    }
}
