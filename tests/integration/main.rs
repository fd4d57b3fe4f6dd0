//! All integration tests in one binary (one link of DataFusion and the AWS SDK).

mod cli;
mod common;
mod format;
mod golden;
mod s3;
mod server;
