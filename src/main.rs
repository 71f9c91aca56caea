//! The `outpost` binary: parse flags, set up logging, run one subcommand,
//! map its error to an exit code.

use std::process::ExitCode;

use clap::Parser;
use outpost::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    outpost::logging::init(&cli.log_level, &cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("outpost: {err:#}");
            ExitCode::from(outpost::exit_code(&err))
        }
    }
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
