//! `--config.file`: a YAML file whose keys are the long flag names (`cur.path: ...`, or nested
//! `cur: {path: ...}`), merged under flags and environment variables.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{CommandFactory, Parser};

use super::{Args, ConfigError};

impl Args {
    /// Parses flags and environment, then fills what neither set from `--config.file`.
    pub fn load<I, T>(argv: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
        let cmd = Self::command();
        let matches = cmd.clone().try_get_matches_from(&argv)?;
        let Some(path) = matches.get_one::<PathBuf>("config_file").cloned() else {
            return Ok(Self::try_parse_from(&argv)?);
        };
        let file_err = |reason: String| ConfigError::File { path: path.clone(), reason };
        let text = std::fs::read_to_string(&path).map_err(|e| file_err(e.to_string()))?;
        let doc: serde_norway::Value = serde_norway::from_str(&text).map_err(|e| file_err(e.to_string()))?;
        if !matches!(doc, serde_norway::Value::Mapping(_) | serde_norway::Value::Null) {
            return Err(file_err("expected a mapping of settings".into()));
        }
        let mut settings = Vec::new();
        flatten_yaml("", &doc, &mut settings).map_err(file_err)?;
        for (key, values) in settings {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(key.as_str()))
                .filter(|a| a.get_id() != "config_file")
                .ok_or_else(|| {
                    file_err(format!("unknown setting {key:?} (keys are the long flag names, e.g. cur.path)"))
                })?;
            let id = arg.get_id().as_str();
            if matches!(matches.value_source(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable)) {
                continue;
            }
            let is_switch = matches!(arg.get_action(), clap::ArgAction::SetTrue);
            for v in values {
                if is_switch {
                    match v.as_str() {
                        "true" => argv.push(format!("--{key}").into()),
                        "false" => {}
                        _ => {
                            return Err(file_err(format!("{key}: expected true or false, found {v:?}")));
                        }
                    }
                } else {
                    argv.push(format!("--{key}={v}").into());
                }
            }
        }
        Ok(Self::try_parse_from(&argv)?)
    }
}

fn flatten_yaml(prefix: &str, v: &serde_norway::Value, out: &mut Vec<(String, Vec<String>)>) -> Result<(), String> {
    use serde_norway::Value;
    let scalar = |v: &Value| -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(format!("{prefix}: expected a scalar, found {other:?}")),
        }
    };
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                let k = k.as_str().ok_or_else(|| format!("{prefix}: keys must be strings"))?;
                let key = if prefix.is_empty() { k.to_owned() } else { format!("{prefix}.{k}") };
                flatten_yaml(&key, v, out)?;
            }
        }
        Value::Sequence(items) => out.push((prefix.to_owned(), items.iter().map(scalar).collect::<Result<_, _>>()?)),
        Value::Null => {}
        other => out.push((prefix.to_owned(), vec![scalar(other)?])),
    }
    Ok(())
}
