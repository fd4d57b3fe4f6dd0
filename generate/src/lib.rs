//! A deterministic generator of realistic CUR 2.0 Data Exports.
//!
//! It writes the full CUR 2.0 column set with the real Parquet types (maps included) in the Data Exports
//! layout (`data/BILLING_PERIOD=.../<name>-0000N.snappy.parquet`, `metadata/.../<name>-Manifest.json`,
//! plus a zero-row leftover chunk), and a matching users file. Content: the hand-made Kiro [`scenario`]
//! (every plan, an upgrade, idle seats, two-profile users, refunds, credits, discounts, tax, a seatless
//! user), `bulk_users` more Kiro users with daily usage, and non-Kiro rows of other services up to `rows`.
//! The same options always give byte-identical files.

pub mod activity;
pub mod bedrock;
pub mod columns;
pub mod scenario;

use std::borrow::Cow;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, MapBuilder, MapFieldNames, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;

use columns::{CUR2_COLUMNS, Ty};
use kiro_exporter::model::BillingPeriod;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    pub period: BillingPeriod,
    /// Total rows of the period (scenario + bulk Kiro + other services); at least the Kiro rows.
    pub rows: usize,
    /// Kiro users besides the scenario's.
    pub bulk_users: usize,
    /// Credits rows per bulk user and active day.
    pub credits_rows_per_day: u32,
    /// Rows per data file.
    pub chunk_rows: usize,
    pub seed: u64,
    pub export_name: String,
    /// Where the manifest says the export lives (`s3://bucket/prefix`).
    pub s3_root: String,
    /// Write the manifest.
    pub manifest: bool,
    /// Also write a small previous period.
    pub previous_period: bool,
    /// A discount (EDP, private pricing) as a fraction of the cost, recorded on each `Usage` and
    /// `FlatRateSubscription` line the way CUR 2.0 does by default: `line_item_net_unblended_cost` is the
    /// cost less the discount, `discount_total_discount` the (negative) discount. 0: no discount (net = cost).
    pub discount: f64,
    /// `line_item_currency_code` (and `pricing_currency`) of every line.
    pub currency: &'static str,
}

impl Options {
    /// The committed sample: October 2026, 20,000 rows, 40 bulk users.
    pub fn sample() -> Self {
        Self {
            period: BillingPeriod::new(2026, 10).unwrap_or_else(|| BillingPeriod::containing(Utc::now())),
            rows: 20_000,
            bulk_users: 40,
            credits_rows_per_day: 1,
            chunk_rows: 8_000,
            seed: 42,
            export_name: "kiro-cur".to_owned(),
            s3_root: "s3://kiro-billing-sample/cur".to_owned(),
            manifest: true,
            previous_period: true,
            discount: 0.0,
            currency: "USD",
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub files: Vec<PathBuf>,
    pub rows: usize,
    pub kiro_rows: usize,
    pub users_file: PathBuf,
}

/// One CUR line item, with the fields the generator varies; the rest are derived or NULL.
#[derive(Debug, Clone)]
pub struct Row {
    pub account: &'static str,
    pub product_code: Cow<'static, str>,
    pub operation: Cow<'static, str>,
    pub usage_type: Cow<'static, str>,
    pub line_item_type: &'static str,
    pub resource_id: Option<String>,
    pub usage_amount: f64,
    pub cost: f64,
    /// Day of the period, 0-based; the row covers that whole day.
    pub day: u32,
    pub pricing_unit: &'static str,
    pub region_code: &'static str,
    /// `product['region']`; `None` leaves the key out of the map.
    pub product_region: Option<&'static str>,
    pub product_name: &'static str,
    pub family: &'static str,
    pub entity: &'static str,
    pub description: Cow<'static, str>,
    pub resource_tags: Vec<(&'static str, &'static str)>,
    /// `line_item_iam_principal`.
    pub principal: Option<&'static str>,
    /// Principal and session tags, written to `tags` as `iamPrincipal/<key>`.
    pub principal_tags: Vec<(&'static str, &'static str)>,
    /// `product['model']`; `None` leaves the key out of the map.
    pub product_model: Option<&'static str>,
}

impl Row {
    /// A row with neutral defaults, to be adjusted.
    pub fn new(account: &'static str, product_code: &'static str, day: u32) -> Self {
        Self {
            account,
            product_code: Cow::Borrowed(product_code),
            operation: Cow::Borrowed(""),
            usage_type: Cow::Borrowed(""),
            line_item_type: "Usage",
            resource_id: None,
            usage_amount: 0.0,
            cost: 0.0,
            day,
            pricing_unit: "",
            region_code: "us-east-1",
            product_region: Some("us-east-1"),
            product_name: "",
            family: "",
            entity: "AWS",
            description: Cow::Borrowed(""),
            resource_tags: Vec::new(),
            principal: None,
            principal_tags: Vec::new(),
            product_model: None,
        }
    }
}

/// SplitMix64: small, fast and stable across platforms and versions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn map_type(value: DataType) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "key_value",
            DataType::Struct(vec![Field::new("key", DataType::Utf8, false), Field::new("value", value, true)].into()),
            false,
        )),
        false,
    )
}

fn arrow_type(ty: Ty) -> DataType {
    match ty {
        Ty::Str => DataType::Utf8,
        Ty::F64 => DataType::Float64,
        Ty::Ts => DataType::Timestamp(TimeUnit::Millisecond, None),
        Ty::MapStr => map_type(DataType::Utf8),
        Ty::MapF64 => map_type(DataType::Float64),
    }
}

/// The CUR 2.0 schema the generator writes.
pub fn cur2_schema() -> SchemaRef {
    Arc::new(Schema::new(
        CUR2_COLUMNS.iter().map(|(name, ty)| Field::new(*name, arrow_type(*ty), true)).collect::<Vec<_>>(),
    ))
}

fn map_names() -> MapFieldNames {
    MapFieldNames { entry: "key_value".to_owned(), key: "key".to_owned(), value: "value".to_owned() }
}

enum Builder {
    Str(StringBuilder),
    F64(Float64Builder),
    Ts(TimestampMillisecondBuilder),
    MapStr(MapBuilder<StringBuilder, StringBuilder>),
    MapF64(MapBuilder<StringBuilder, Float64Builder>),
}

/// Accumulates rows into Arrow builders for every CUR 2.0 column.
struct Chunk {
    builders: Vec<(&'static str, Builder)>,
    rows: usize,
    period: BillingPeriod,
    next_id: u64,
    discount: f64,
    currency: &'static str,
}

fn ts_ms(period: BillingPeriod, day: u32) -> i64 {
    (period.start() + Duration::days(i64::from(day))).timestamp_millis()
}

impl Chunk {
    fn new(period: BillingPeriod, first_id: u64, opts: &Options) -> Self {
        let builders = CUR2_COLUMNS
            .iter()
            .map(|(name, ty)| {
                let b = match ty {
                    Ty::Str => Builder::Str(StringBuilder::new()),
                    Ty::F64 => Builder::F64(Float64Builder::new()),
                    Ty::Ts => Builder::Ts(TimestampMillisecondBuilder::new()),
                    Ty::MapStr => {
                        Builder::MapStr(MapBuilder::new(Some(map_names()), StringBuilder::new(), StringBuilder::new()))
                    }
                    Ty::MapF64 => {
                        Builder::MapF64(MapBuilder::new(Some(map_names()), StringBuilder::new(), Float64Builder::new()))
                    }
                };
                (*name, b)
            })
            .collect();
        Self { builders, rows: 0, period, next_id: first_id, discount: opts.discount, currency: opts.currency }
    }

    fn push(&mut self, r: &Row) -> io::Result<()> {
        let period = self.period;
        let start = ts_ms(period, r.day);
        let end = ts_ms(period, r.day + 1);
        let id = format!("{:040x}", self.next_id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.next_id += 1;
        let interval = format!(
            "{}/{}",
            Utc.timestamp_millis_opt(start)
                .single()
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default(),
            Utc.timestamp_millis_opt(end)
                .single()
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default()
        );
        let rate = if r.usage_amount != 0.0 { format!("{}", r.cost / r.usage_amount) } else { String::new() };
        let discounted = matches!(r.line_item_type, "Usage" | "FlatRateSubscription");
        let discount = if discounted { -(r.cost * self.discount) } else { 0.0 };
        let currency = self.currency;
        for (name, b) in &mut self.builders {
            match b {
                Builder::Str(b) => {
                    let v: Option<&str> = match *name {
                        "bill_bill_type" => Some("Anniversary"),
                        "bill_billing_entity" => Some(r.entity),
                        "bill_invoicing_entity" => Some("Amazon Web Services, Inc."),
                        "bill_payer_account_id" => Some("999999999999"),
                        "bill_payer_account_name" => Some("Example Org Payer"),
                        "identity_line_item_id" => Some(&id),
                        "identity_time_interval" => Some(&interval),
                        "line_item_currency_code" => Some(currency),
                        "line_item_legal_entity" => Some("Amazon Web Services, Inc."),
                        "line_item_line_item_description" => Some(&r.description),
                        "line_item_line_item_type" => Some(r.line_item_type),
                        "line_item_operation" => Some(&r.operation),
                        "line_item_product_code" => Some(&r.product_code),
                        "line_item_resource_id" => r.resource_id.as_deref(),
                        "line_item_iam_principal" => r.principal,
                        "line_item_unblended_rate" | "line_item_blended_rate" | "line_item_net_unblended_rate" => {
                            Some(rate.as_str()).filter(|s| !s.is_empty())
                        }
                        "line_item_usage_account_id" => Some(r.account),
                        "line_item_usage_account_name" => {
                            Some(if r.account == scenario::ACCOUNT_B { "platform" } else { "engineering" })
                        }
                        "line_item_usage_type" | "product_usagetype" => Some(&r.usage_type),
                        "pricing_currency" => Some(currency),
                        "pricing_unit" | "product_pricing_unit" => Some(r.pricing_unit).filter(|s| !s.is_empty()),
                        "product_location" => Some(match r.region_code {
                            "us-east-1" => "US East (N. Virginia)",
                            "eu-central-1" => "EU (Frankfurt)",
                            "us-west-2" => "US West (Oregon)",
                            _ => "Any",
                        }),
                        "product_location_type" => Some("AWS Region"),
                        "product_operation" => Some(&r.operation),
                        "product_product_family" => Some(r.family).filter(|s| !s.is_empty()),
                        "product_region_code" => Some(r.region_code).filter(|s| !s.is_empty()),
                        "product_servicecode" => Some(&r.product_code),
                        "line_item_tax_type" if r.line_item_type == "Tax" => Some("VAT"),
                        _ => None,
                    };
                    b.append_option(v);
                }
                Builder::F64(b) => {
                    let v = match *name {
                        "line_item_unblended_cost" | "line_item_blended_cost" => Some(r.cost),
                        "line_item_net_unblended_cost" => Some(r.cost + discount),
                        "discount_total_discount" if discount != 0.0 => Some(discount),
                        "line_item_usage_amount" | "line_item_normalized_usage_amount" => Some(r.usage_amount),
                        "pricing_public_on_demand_cost" => Some(r.cost.max(0.0)),
                        _ => None,
                    };
                    b.append_option(v);
                }
                Builder::Ts(b) => {
                    let v = match *name {
                        "line_item_usage_start_date" => Some(start),
                        "line_item_usage_end_date" => Some(end),
                        "bill_billing_period_start_date" => Some(period.start().timestamp_millis()),
                        "bill_billing_period_end_date" => Some(period.end().timestamp_millis()),
                        _ => None,
                    };
                    b.append_option(v);
                }
                Builder::MapStr(b) => {
                    match *name {
                        "product" => {
                            if let Some(region) = r.product_region {
                                b.keys().append_value("region");
                                b.values().append_value(region);
                            }
                            if !r.product_name.is_empty() {
                                b.keys().append_value("product_name");
                                b.values().append_value(r.product_name);
                            }
                            if let Some(model) = r.product_model {
                                b.keys().append_value("model");
                                b.values().append_value(model);
                            }
                        }
                        "resource_tags" | "tags" => {
                            for (k, v) in &r.resource_tags {
                                b.keys().append_value(if *name == "tags" {
                                    format!("user:{k}")
                                } else {
                                    format!("user_{k}")
                                });
                                b.values().append_value(v);
                            }
                            if *name == "tags" {
                                for (k, v) in &r.principal_tags {
                                    b.keys().append_value(format!("iamPrincipal/{k}"));
                                    b.values().append_value(v);
                                }
                            }
                        }
                        _ => {}
                    }
                    b.append(true).map_err(io::Error::other)?;
                }
                Builder::MapF64(b) => {
                    if r.line_item_type.ends_with("Discount") {
                        b.keys().append_value(r.line_item_type);
                        b.values().append_value(r.cost);
                    }
                    b.append(true).map_err(io::Error::other)?;
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self, schema: &SchemaRef) -> io::Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|(_, b)| -> ArrayRef {
                match b {
                    Builder::Str(b) => Arc::new(b.finish()),
                    Builder::F64(b) => Arc::new(b.finish()),
                    Builder::Ts(b) => Arc::new(b.finish()),
                    Builder::MapStr(b) => Arc::new(b.finish()),
                    Builder::MapF64(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(schema.clone(), arrays).map_err(io::Error::other)
    }
}

fn write_parquet(path: &Path, schema: &SchemaRef, batch: Option<&RecordBatch>) -> io::Result<()> {
    let file = fs::File::create(path)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(128 * 1024))
        .set_created_by("kiro-exporter generator".to_owned())
        .build();
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(io::Error::other)?;
    if let Some(b) = batch {
        w.write(b).map_err(io::Error::other)?;
    }
    w.close().map_err(io::Error::other)?;
    Ok(())
}

const SERVICES: &[(&str, &str, &str, &str)] = &[
    ("AmazonEC2", "BoxUsage:m7i.large", "RunInstances", "Compute Instance"),
    ("AmazonEC2", "EBS:VolumeUsage.gp3", "CreateVolume-Gp3", "Storage"),
    ("AmazonS3", "TimedStorage-ByteHrs", "StandardStorage", "Storage"),
    ("AmazonS3", "Requests-Tier1", "PutObject", "API Request"),
    ("AWSLambda", "Lambda-GB-Second", "Invoke", "Serverless"),
    ("AmazonCloudWatch", "CW:MetricMonitorUsage", "MetricStorage", "Metric"),
    ("AmazonRDS", "InstanceUsage:db.r6g.large", "CreateDBInstance", "Database Instance"),
    ("AmazonDynamoDB", "ReadRequestUnits", "PayPerRequestThroughput", "Amazon DynamoDB PayPerRequest Throughput"),
    ("AmazonVPC", "NatGateway-Hours", "NatGateway", "NAT Gateway"),
    // No Bedrock here: the Bedrock rows are the hand-made `bedrock` scenario's, so every figure is known.
    ("AmazonSNS", "Requests-Tier1", "Publish", "API Request"),
];

fn filler_row(rng: &mut Rng, days: u32) -> Row {
    let (code, ut, op, family) = SERVICES[rng.below(SERVICES.len() as u64) as usize];
    let region = ["us-east-1", "us-west-2", "eu-central-1"][rng.below(3) as usize];
    let prefix = match region {
        "us-west-2" => "USW2",
        "eu-central-1" => "EUC1",
        _ => "USE1",
    };
    let mut r = Row::new(
        if rng.below(3) == 0 { scenario::ACCOUNT_B } else { scenario::ACCOUNT_A },
        code,
        rng.below(u64::from(days)) as u32,
    );
    r.usage_type = Cow::Owned(format!("{prefix}-{ut}"));
    r.operation = Cow::Borrowed(op);
    r.usage_amount = (rng.unit() * 100.0 * 1000.0).round() / 1000.0;
    r.cost = (rng.unit() * 5.0 * 1e6).round() / 1e6;
    r.region_code = region;
    r.product_region = Some(region);
    r.family = family;
    r.pricing_unit = "Hrs";
    r.resource_id = (rng.below(2) == 0)
        .then(|| format!("arn:aws:ec2:{region}:{}:instance/i-{:017x}", r.account, rng.next_u64() >> 4));
    if rng.below(4) == 0 {
        r.resource_tags = vec![("team", ["payments", "search", "platform"][rng.below(3) as usize])];
    }
    r
}

/// Writes one period's data files and manifest under `root`: the given rows spread among generated
/// non-Kiro rows up to `total_rows` (also for tests that need users of their own).
pub fn write_period(
    root: &Path,
    opts: &Options,
    period: BillingPeriod,
    kiro: Vec<Row>,
    total_rows: usize,
    rng: &mut Rng,
) -> io::Result<Vec<PathBuf>> {
    let part = format!("BILLING_PERIOD={period}");
    let data_dir = root.join("data").join(&part);
    fs::create_dir_all(&data_dir)?;
    let schema = cur2_schema();
    let days = period.days();
    let total = total_rows.max(kiro.len());
    let mut kiro = kiro.into_iter();
    let mut kiro_left = kiro.len();
    let mut files = Vec::new();
    let mut chunk = Chunk::new(period, rng.next_u64() >> 16, opts);
    let mut written = 0;
    let chunk_rows = opts.chunk_rows.max(1);
    while written < total {
        let left = total - written;
        // Spread the Kiro rows evenly but randomly among the others.
        let take_kiro = kiro_left > 0 && rng.below(left as u64) < kiro_left as u64;
        let row = if take_kiro {
            kiro_left -= 1;
            kiro.next()
        } else {
            None
        };
        match row {
            Some(r) => chunk.push(&r)?,
            None => chunk.push(&filler_row(rng, days))?,
        }
        written += 1;
        if chunk.rows == chunk_rows || written == total {
            let batch = chunk.finish(&schema)?;
            let path = data_dir.join(format!("{}-{:05}.snappy.parquet", opts.export_name, files.len() + 1));
            write_parquet(&path, &schema, Some(&batch))?;
            files.push(path);
        }
    }
    // A leftover chunk of an earlier, larger delivery, overwritten with an empty file as AWS does.
    let leftover = data_dir.join(format!("{}-{:05}.snappy.parquet", opts.export_name, files.len() + 1));
    write_parquet(&leftover, &schema, None)?;
    if opts.manifest {
        let meta_dir = root.join("metadata").join(&part);
        fs::create_dir_all(&meta_dir)?;
        let data_files: Vec<String> = files
            .iter()
            .filter_map(|f| f.file_name().and_then(|n| n.to_str()))
            .map(|n| format!("{}/{}/data/{part}/{n}", opts.s3_root.trim_end_matches('/'), opts.export_name))
            .collect();
        let manifest = serde_json::json!({
            "executionId": format!("{:016x}-{period}", opts.seed),
            "billingPeriod": { "start": period.start().to_rfc3339(), "end": period.end().to_rfc3339() },
            "bucket": opts.s3_root.trim_start_matches("s3://").split('/').next().unwrap_or_default(),
            "dataFiles": data_files,
            "reportName": opts.export_name,
        });
        let text = serde_json::to_string_pretty(&manifest).map_err(io::Error::other)?;
        fs::write(meta_dir.join(format!("{}-Manifest.json", opts.export_name)), text)?;
    }
    files.push(leftover);
    Ok(files)
}

/// Teams of the users file.
const TEAMS: &[&str] = &["search", "payments", "platform"];

/// Writes a whole export into `dir` (the export folder: `dir/data`, `dir/metadata`) and `dir/users.jsonl`.
pub fn write_export(dir: &Path, opts: &Options) -> io::Result<Summary> {
    let mut rng = Rng::new(opts.seed);
    let mut users = scenario::users();
    let mut kiro = scenario::rows(opts.period);
    let bulk = scenario::bulk(opts.period, opts.bulk_users, opts.credits_rows_per_day, &mut rng);
    kiro.extend(bulk.rows);
    users.extend(bulk.users);
    let kiro_rows = kiro.len();
    let mut scenario_rows = kiro;
    scenario_rows.extend(bedrock::rows());
    let n = scenario_rows.len();
    let mut files = write_period(dir, opts, opts.period, scenario_rows, opts.rows, &mut rng)?;
    let mut rows = opts.rows.max(n);
    if opts.previous_period {
        let prev = BillingPeriod::new(
            if opts.period.month() == 1 { opts.period.year() - 1 } else { opts.period.year() },
            if opts.period.month() == 1 { 12 } else { opts.period.month() - 1 },
        );
        if let Some(prev) = prev {
            let prev_rows = scenario::previous_rows();
            let n = (opts.rows / 10).max(prev_rows.len());
            files.extend(write_period(dir, opts, prev, prev_rows, n, &mut rng)?);
            rows += n;
        }
    }
    let users_file = dir.join("users.jsonl");
    let mut text = String::new();
    for (id, name) in &users {
        // Every user gets a team (a stable pick from the id), so the sample shows the team label.
        let team = TEAMS[id.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b))) % TEAMS.len()];
        let mut user = serde_json::json!({ "Username": name, "UserId": id, "Team": team });
        if let Some(email) = scenario::email(id) {
            user["Email"] = email.into();
        }
        text.push_str(&user.to_string());
        text.push('\n');
    }
    fs::write(&users_file, text)?;
    Ok(Summary { files, rows, kiro_rows, users_file })
}
