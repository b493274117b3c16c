//! The `spoke` command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use spoke_core::ids::AccountId;
use spoke_server::serve::{self, ServeConfig};
use spoke_store::{Durability, Store};

#[derive(Parser)]
#[command(
    name = "spoke",
    version,
    about = "A self-hosted CRM server that speaks HubSpot's CRM API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum DurabilityArg {
    /// Acknowledged writes survive a crash or kill -9 of the server.
    Process,
    /// Acknowledged writes survive power loss (fsync before every acknowledgement).
    Full,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[arg(long, env = "SPOKE_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[arg(long, env = "SPOKE_DATA_DIR", default_value = "./spoke-data")]
        data_dir: PathBuf,
        /// Make this token valid for the default account (for CI and test suites).
        #[arg(long, env = "SPOKE_TOKEN")]
        token: Option<String>,
        #[arg(long, env = "SPOKE_DURABILITY", value_enum, default_value = "process")]
        durability: DurabilityArg,
        /// Let search page past HubSpot's 10,000-result cap.
        #[arg(long, env = "SPOKE_UNLIMITED_SEARCH")]
        unlimited_search: bool,
    },
    /// Manage accounts.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Mint a token for an existing account.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Print the API coverage table (COVERAGE.md) from the specs.
    Coverage {
        #[arg(long, default_value = "../shared/specs")]
        specs: PathBuf,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Create a new account and print its id and a token for it.
    Create {
        #[arg(long, env = "SPOKE_DATA_DIR", default_value = "./spoke-data")]
        data_dir: PathBuf,
    },
    /// List account ids.
    List {
        #[arg(long, env = "SPOKE_DATA_DIR", default_value = "./spoke-data")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Mint a new token for an account and print it.
    Create {
        #[arg(long)]
        account: i64,
        #[arg(long, env = "SPOKE_DATA_DIR", default_value = "./spoke-data")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("spoke: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(Cli::parse().command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spoke: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve {
            listen,
            data_dir,
            token,
            durability,
            unlimited_search,
        } => {
            let durability = match durability {
                DurabilityArg::Process => Durability::Process,
                DurabilityArg::Full => Durability::Full,
            };
            serve::run(ServeConfig {
                listen,
                data_dir,
                token,
                durability,
                unlimited_search,
            })
            .await
        }
        Command::Accounts {
            command: AccountsCommand::Create { data_dir },
        } => {
            let store = serve::open_store(&data_dir, Durability::Full)?;
            let account = store.create_account().await.map_err(|e| e.to_string())?;
            let token = serve::new_token();
            store
                .add_token(account, &token)
                .await
                .map_err(|e| e.to_string())?;
            println!("account {account}\ntoken {token}");
            Ok(())
        }
        Command::Accounts {
            command: AccountsCommand::List { data_dir },
        } => {
            let store = serve::open_store(&data_dir, Durability::Full)?;
            for a in store.accounts().await.map_err(|e| e.to_string())? {
                println!("{a}");
            }
            Ok(())
        }
        Command::Tokens {
            command: TokensCommand::Create { account, data_dir },
        } => {
            let store = serve::open_store(&data_dir, Durability::Full)?;
            let account = AccountId(account);
            let known = store.accounts().await.map_err(|e| e.to_string())?;
            if !known.contains(&account) {
                return Err(format!("no account {account} in {}", data_dir.display()));
            }
            let token = serve::new_token();
            store
                .add_token(account, &token)
                .await
                .map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(())
        }
        Command::Coverage { specs } => {
            print!("{}", spoke_server::coverage::markdown(&specs)?);
            Ok(())
        }
    }
}
