//! The operator command line for trip sagas: list, show, diagram, asl,
//! resume, abandon and recover, on a SQLite saga log.
//!
//! ```text
//! cargo run -p trip-saga --bin trip-ops -- --db target/book_trip.db list
//! ```

fn main() -> std::process::ExitCode {
    saga_core::cli::run(
        saga_core::Registry::new()
            .with::<trip_saga::BookTrip>()
            .with::<trip_saga::BookTripTogether>(),
    )
}
