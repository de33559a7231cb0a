//! The command line's arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    about = "Operate sagas in a saga log: list, inspect, draw, cancel, resume, abandon, recover",
    after_help = "Examples:\n  \
        saga-ops --db sagas.db list --status stuck\n  \
        saga-ops --db sagas.db show trip-42\n  \
        saga-ops --db sagas.db diagram BookTrip --run trip-42 --format html --output trip-42.html\n  \
        saga-ops diagram BookTrip --format mermaid\n  \
        saga-ops asl BookTrip > book_trip.asl.json\n  \
        saga-ops --db sagas.db cancel trip-42 --reason \"customer withdrew\"\n  \
        saga-ops --db sagas.db resume trip-42 --by alice\n  \
        saga-ops --db sagas.db abandon trip-42 --reason \"refunded by hand, ticket 7\"\n  \
        saga-ops --db sagas.db recover\n\n\
        Exit codes: 0 done, 1 the operation did not succeed, 2 usage, 3 unknown saga or id,\n\
        4 the saga log cannot be used."
)]
pub(super) struct Cli {
    /// The SQLite saga log.
    #[arg(long, global = true, env = "SAGA_DB", default_value = "sagas.db")]
    pub(super) db: PathBuf,
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand, Debug)]
pub(super) enum Command {
    /// Lists the sagas in the log, optionally only those in one status.
    #[command(after_help = "Example: saga-ops --db sagas.db list --status stuck")]
    List {
        /// running, compensating, completed, compensated, stuck or abandoned.
        #[arg(long)]
        status: Option<String>,
    },
    /// Shows one saga's execution history as a table.
    #[command(after_help = "Example: saga-ops --db sagas.db show trip-42")]
    Show {
        /// The saga id.
        id: String,
    },
    /// Draws a saga: its definition, or one run's path over it.
    #[command(
        after_help = "Examples:\n  saga-ops diagram BookTrip --format dot | dot -Tsvg > book_trip.svg\n  saga-ops --db sagas.db diagram BookTrip --run trip-42 --format html --output trip-42.html"
    )]
    Diagram {
        /// The saga's name.
        saga: String,
        /// A run (saga id) to overlay, read from the log.
        #[arg(long)]
        run: Option<String>,
        /// The format.
        #[arg(long, value_enum, default_value_t = Format::Mermaid)]
        format: Format,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Prints a saga as an AWS Step Functions state machine (ASL JSON).
    #[command(after_help = "Example: saga-ops asl BookTrip > book_trip.asl.json")]
    Asl {
        /// The saga's name.
        saga: String,
    },
    /// Cancels an unfinished saga whose process died: `recover` then stops it
    /// before its next step and compensates what completed. Refused once its
    /// pivot (or last step) has started.
    #[command(
        after_help = "Example: saga-ops --db sagas.db cancel trip-42 --reason \"customer withdrew\" && saga-ops --db sagas.db recover"
    )]
    Cancel {
        /// The saga id.
        id: String,
        /// Why, for the record.
        #[arg(long)]
        reason: String,
    },
    /// Resumes a stuck saga (or drives on one whose process died).
    #[command(after_help = "Example: saga-ops --db sagas.db resume trip-42 --by alice")]
    Resume {
        /// The saga id.
        id: String,
        /// Who resumes it, for the record.
        #[arg(long, default_value = "saga-ops")]
        by: String,
    },
    /// Gives up on a stuck saga, recording why. Nothing is deleted.
    #[command(
        after_help = "Example: saga-ops --db sagas.db abandon trip-42 --reason \"refunded by hand\""
    )]
    Abandon {
        /// The saga id.
        id: String,
        /// Why, for the record.
        #[arg(long)]
        reason: String,
    },
    /// Finishes every unfinished saga in the log.
    #[command(after_help = "Example: saga-ops --db sagas.db recover")]
    Recover,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    /// A Mermaid flowchart.
    Mermaid,
    /// Graphviz DOT.
    Dot,
    /// A standalone SVG image.
    Svg,
    /// A self-contained HTML report (needs --run).
    Html,
}
