//! All integration tests in one binary (one link of DataFusion and the AWS SDK).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod activity;
mod athena;
mod bedrock;
mod cli;
mod common;
mod cost;
mod faults;
mod format;
mod golden;
mod hostile;
mod identity;
mod kiro_cli;
mod layers;
mod periods;
mod s3;
mod server;
mod web;
