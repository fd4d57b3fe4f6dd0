"""Checks of the dashboards, alerts and deployment files, run by scripts/test-observability.

    observability_check.py dashboards RULES_OUT
        Structure of every dashboard in dashboards/ (schemaVersion, the datasource variable on every panel and
        query, unique ids, known variables, the optional sources' panels in collapsed rows) and every query
        expression (those in collapsed rows too), variables substituted, written as recording rules to
        RULES_OUT for `promtool check rules`.
    observability_check.py live PROM_URL
        Runs every dashboard expression against the Prometheus at PROM_URL, variables set as Grafana would
        (a single-value variable to the first value its query finds, in the variable's sort order, so the
        billing period to the newest month; "All" to its allValue); each must return
        at least one finite sample. For `X or vector(0)` X itself must. KIRO_E2E_ALLOW_EMPTY (a regex,
        development only) names expressions allowed to be empty; they are listed.
    observability_check.py alerts PROM_URL EXPORTER_URL RULES_FILE
        The per-user Kiro alerts pending or firing in Prometheus are exactly those the exporter's own
        /metrics calls for (recomputed here from the samples), with the rule's severity, the series' team
        (or "unassigned"), and a summary and description naming the user, the plan and the numbers; the
        exporter and Bedrock alerts are quiet. Waits up to 90 s for Prometheus to evaluate.
    observability_check.py rules-equal RULES_FILE PROMETHEUSRULE
        The PrometheusRule's groups are the rules file's.
    observability_check.py compose COMPOSE_FILE
        The docker-compose stack parses, has the exporter, Prometheus, Alertmanager and Grafana, publishes
        ports on 127.0.0.1 only, and every file it mounts or builds from exists; the Grafana provisioning
        parses and points at the dashboards.
    observability_check.py kubernetes DIR
        Deployment: one replica, Recreate, probes, non-root; ServiceAccount with the IRSA annotation; the
        Service and ServiceMonitor select the Deployment's pods by the port name; kustomization lists all.
    observability_check.py runbook RULES_FILE DOC
        Every alert has a runbook section in DOC and its `runbook` annotation points at it.
    observability_check.py env-file ENV_FILE EXPORTER_BIN
        Every KIRO_EXPORTER_* variable in ENV_FILE (commented examples too) is one the exporter reads.
    observability_check.py ministack ENDPOINT EXPORT_DIR
        Uploads EXPORT_DIR to the Athena emulator and creates the table of deploy/athena-cur2-table.sql.
    observability_check.py e2e-configs RULES_FILE ALERTMANAGER_YML WEBHOOK_URL OUT_DIR
        For the live run: OUT_DIR/firing.rules.yml, the alerts of RULES_FILE with `for: 0s` (so they reach
        Alertmanager at once), and OUT_DIR/alertmanager.yml, the example's routes and inhibitions with
        every receiver replaced by a webhook to WEBHOOK_URL/<receiver> and short group timers.
    observability_check.py webhook PORT OUT_FILE
        Records the notifications Alertmanager posts (one JSON per line) until killed.
    observability_check.py notifications OUT_FILE EXPORTER_URL ALERTMANAGER_YML
        Waits (up to 90 s) until each team's receiver was notified of exactly that team's licences over
        their plan, every notification went to the receiver of its team, and no licence over its plan was
        also notified as near its limit (the inhibition), while those only near it were.
    observability_check.py wait PROM_URL JOB... 
        Waits (up to 120 s) until Prometheus has scraped each job at least 10 times and evaluated the rules.
"""
import json
import math
import os
import re
import sys
import time
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DASHBOARDS = os.path.join(ROOT, "dashboards")
# Grafana's built-in interval variables, with the values the checks use.
BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1d", "__range_s": "86400"}
VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- dashboards


def load_dashboards():
    out = []
    for name in sorted(os.listdir(DASHBOARDS)):
        if name.endswith(".json"):
            with open(os.path.join(DASHBOARDS, name), encoding="utf-8") as f:
                out.append((name, json.load(f)))
    if not out:
        fail("no dashboards in dashboards/")
    return out


def all_panels(d):
    """Every panel, those inside collapsed rows (a row's `panels`) included."""
    for p in d.get("panels", []):
        yield p
        yield from p.get("panels", [])


# Series of the optional sources (Athena, kiro-cli, the activity report): their panels must sit in
# collapsed rows, so a dashboard shows no empty panels to someone who does not use that source.
OPTIONAL_SOURCE = re.compile(r"kiro_exporter_athena_|kiro_cli_|kiro_credits_used_(reported|billed)|kiro_messages\b|"
                             r"kiro_chat_conversations|kiro_overage_(enabled|cap_credits)|kiro_activity_report_|"
                             r'source="(kiro_cli|activity_report)"')


def variables(d):
    return {v["name"]: v for v in d.get("templating", {}).get("list", [])}


def var_query(v):
    q = v.get("query")
    return q.get("query", "") if isinstance(q, dict) else (q or "")


def label_values_parts(query):
    """label_values(selector, label) -> (selector, label); label_values(label) -> (None, label)."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query, re.DOTALL)
    if m:
        return m.group(1).strip(), m.group(2)
    m = re.fullmatch(r"\s*label_values\(\s*(\w+)\s*\)\s*", query)
    if m:
        return None, m.group(1)
    fail(f"unsupported variable query {query!r} (use label_values(selector, label))")


def expressions(d):
    """(panel title, refId, expr) for every query of every panel."""
    for p in all_panels(d):
        for t in p.get("targets", []):
            yield p.get("title", ""), t.get("refId", ""), t.get("expr", "")


def substitute(expr, values):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in BUILTINS:
            return BUILTINS[name]
        if name not in values:
            fail(f"unknown variable ${name} in {expr!r}")
        return values[name]
    return VAR_RE.sub(repl, expr)


def check_structure(name, d, uids):
    where = f"dashboards/{name}"
    if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 39:
        fail(f"{where}: schemaVersion {d.get('schemaVersion')} < 39")
    for key in ("uid", "title"):
        if not d.get(key):
            fail(f"{where}: no {key}")
    if d["uid"] in uids:
        fail(f"{where}: uid {d['uid']} used twice")
    uids.add(d["uid"])
    if d.get("id") is not None:
        fail(f"{where}: id must be null (Grafana assigns it)")
    vs = variables(d)
    ds = [v for v in vs.values() if v.get("type") == "datasource"]
    if len(ds) != 1 or ds[0].get("query") != "prometheus":
        fail(f"{where}: needs exactly one datasource variable of type prometheus")
    ds_ref = "${" + ds[0]["name"] + "}"
    for v in vs.values():
        if v.get("type") == "query":
            if v.get("datasource", {}).get("uid") != ds_ref:
                fail(f"{where}: variable {v['name']} does not use {ds_ref}")
            label_values_parts(var_query(v))
    for p in d.get("panels", []):
        nested = p.get("panels", [])
        if p.get("type") != "row":
            if OPTIONAL_SOURCE.search(json.dumps(p.get("targets", []))):
                fail(f"{where}: panel {p.get('title')!r} shows an optional source: put it in a collapsed row")
        elif p.get("collapsed") and not nested:
            fail(f"{where}: collapsed row {p.get('title')!r} holds no panels")
        elif not p.get("collapsed") and nested:
            fail(f"{where}: open row {p.get('title')!r} holds panels (only a collapsed row keeps them in `panels`)")
        if any(c.get("type") == "row" for c in nested):
            fail(f"{where}: row {p.get('title')!r} holds a row")
    ids = set()
    for p in all_panels(d):
        if p.get("id") in ids:
            fail(f"{where}: panel id {p.get('id')} used twice")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if g.get("x", 0) + g.get("w", 0) > 24 or g.get("w", 0) <= 0 or g.get("h", 0) <= 0:
            fail(f"{where}: panel {p.get('title')!r} has a bad gridPos {g}")
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != ds_ref:
            fail(f"{where}: panel {p.get('title')!r} does not use {ds_ref}")
        if not p.get("targets"):
            fail(f"{where}: panel {p.get('title')!r} has no query")
        for t in p["targets"]:
            if t.get("datasource", {}).get("uid") != ds_ref:
                fail(f"{where}: panel {p.get('title')!r} query {t.get('refId')} does not use {ds_ref}")
            if not t.get("expr", "").strip():
                fail(f"{where}: panel {p.get('title')!r} query {t.get('refId')} has no expression")
    # No data source pinned anywhere else (a uid of some Grafana instance).
    text = json.dumps(d)
    for uid in re.findall(r'"uid": "([^"]*)"', text):
        if uid not in (ds_ref, d["uid"], "-- Grafana --"):
            fail(f"{where}: hard-coded uid {uid!r}")


def cmd_dashboards(rules_out):
    groups, uids, n, k, nested = [], set(), 0, 0, 0
    for name, d in load_dashboards():
        check_structure(name, d, uids)
        nested += sum(len(t.get("targets", [])) for p in d.get("panels", []) for t in p.get("panels", []))
        # Static values: a multi-value variable as its "All" regex, others as a plain value.
        values = {v["name"]: (v.get("allValue") or ".*") if v.get("includeAll") else "x"
                  for v in variables(d).values()}
        rules = []
        for v in variables(d).values():
            if v.get("type") == "query":
                sel, _ = label_values_parts(var_query(v))
                if sel:
                    k += 1
                    rules.append({"record": f"dashboard_check:query_{k:03d}", "expr": substitute(sel, values)})
        for title, ref, expr in expressions(d):
            k += 1
            rules.append({"record": f"dashboard_check:query_{k:03d}", "expr": substitute(expr, values)})
            n += 1
        groups.append({"name": name, "rules": rules})
    with open(rules_out, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": groups}, f, sort_keys=False, allow_unicode=True)
    print(f"dashboards: {len(uids)} dashboards, {n} panel expressions ({nested} in collapsed rows) written to {rules_out}")


# ---------------------------------------------------------------- live queries


def get(url, params=None):
    if params:
        url = url + "?" + urllib.parse.urlencode(params, doseq=True)
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read().decode("utf-8")


def prom(prom_url, path, params=None):
    body = json.loads(get(prom_url.rstrip("/") + path, params))
    if body.get("status") != "success":
        raise RuntimeError(f"{path} {params}: {body}")
    return body["data"]


def finite_samples(data):
    rt, res = data["resultType"], data["result"]
    if rt == "vector":
        vals = [s["value"][1] for s in res]
    elif rt == "matrix":
        vals = [v[1] for s in res for v in s["values"]]
    elif rt == "scalar":
        vals = [res[1]]
    else:
        vals = []
    return [float(v) for v in vals if not math.isnan(float(v)) and not math.isinf(float(v))]


# Grafana's variable sorts in descending order: alphabetical, numerical, case-insensitive, natural.
DESCENDING_SORTS = (2, 4, 6, 8)


def live_values(prom_url, d):
    values = {}
    for v in variables(d).values():
        if v.get("type") == "datasource":
            values[v["name"]] = "unused"
        elif v.get("includeAll"):
            values[v["name"]] = v.get("allValue") or ".*"
        else:
            sel, label = label_values_parts(var_query(v))
            params = {"match[]": substitute(sel, values)} if sel else None
            # Grafana sorts the values as the variable says (1 alphabetical, 2 alphabetical descending, ...)
            # and selects the first: the billing period variable lists the newest month first.
            found = sorted((x for x in prom(prom_url, f"/api/v1/label/{label}/values", params) if x),
                           reverse=v.get("sort") in DESCENDING_SORTS)
            if not found:
                values[v["name"]] = None
            else:
                values[v["name"]] = found[0]
    return values


def cmd_live(prom_url):
    allow = os.environ.get("KIRO_E2E_ALLOW_EMPTY")
    allow_re = re.compile(allow) if allow else None
    checked, empty, allowed = 0, [], []
    for name, d in load_dashboards():
        values = live_values(prom_url, d)
        for vname, val in values.items():
            if val is None:
                sel, label = label_values_parts(var_query(variables(d)[vname]))
                msg = f"{name}: variable ${vname} (label_values({sel}, {label})) finds no value"
                (allowed if allow_re and allow_re.search(var_query(variables(d)[vname])) else empty).append(msg)
                values[vname] = "none"
        for title, ref, expr in expressions(d):
            concrete = substitute(expr, values)
            candidates = [concrete]
            m = re.fullmatch(r"(.*\S)\s+or\s+vector\(0\)\s*", concrete, re.DOTALL)
            if m:
                candidates.append(m.group(1))  # the fallback must not hide a query that finds nothing
            for c in candidates:
                checked += 1
                samples = finite_samples(prom(prom_url, "/api/v1/query", {"query": c}))
                if not samples:
                    msg = f"{name}: panel {title!r} {ref}: {c}"
                    if allow_re and allow_re.search(expr):
                        allowed.append(msg)
                    else:
                        empty.append(msg)
    for a in allowed:
        print(f"  allowed empty (KIRO_E2E_ALLOW_EMPTY): {a}")
    if empty:
        for e in empty:
            print(f"  EMPTY: {e}", file=sys.stderr)
        fail(f"{len(empty)} of {checked} dashboard queries returned no data")
    print(f"live: {checked - len(allowed)} of {checked} dashboard queries returned data"
          + (f", {len(allowed)} allowed to be empty by KIRO_E2E_ALLOW_EMPTY" if allowed else ""))


# ---------------------------------------------------------------- alerts


def parse_metrics(text):
    """{name: [(labels, value)]} from the classic text format."""
    from prometheus_client.parser import text_string_to_metric_families
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


LICENCE = ("billing_period", "aws_account_id", "aws_region", "user_id")


def expected_alerts(m):
    current = {l["billing_period"] for l, v in m.get("kiro_exporter_billing_period_info", [])
               if l.get("selection") == "current" and v == 1}

    def per_licence(name):
        return {tuple(l[k] for k in LICENCE): (l, v) for l, v in m.get(name, [])
                if l["billing_period"] in current and l["user_id"] != "__other__"}

    ratio, over, proj, plan = (per_licence(n) for n in (
        "kiro_plan_used_ratio", "kiro_overage_credits", "kiro_credits_projected", "kiro_plan_credits"))
    savings, idle = per_licence("kiro_plan_savings_usd"), per_licence("kiro_idle_seat")
    projected_over = {k for k in proj if k in plan and proj[k][1] > plan[k][1]}
    over_plan = {k for k, (_, v) in over.items() if v > 0}
    exp = {
        "KiroUserNearPlanLimit": {k for k, (_, v) in ratio.items() if v >= 0.8},
        "KiroUserOverPlan": over_plan,
        "KiroUserProjectedOverPlan": projected_over - over_plan,
        "KiroUpgradeRecommended": {k for k, (_, v) in savings.items() if v > 0} & projected_over,
        "KiroIdleSeat": {k for k, (_, v) in idle.items() if v > 0},
        "KiroDuplicateLicence": {(l["billing_period"], l["user_id"]) for l, v in m.get("kiro_duplicate_licences", [])
                                 if l["billing_period"] in current and l["user_id"] != "__other__" and v >= 2},
    }
    series = {}
    for name in ("kiro_plan_used_ratio", "kiro_overage_credits", "kiro_credits_projected", "kiro_idle_seat",
                 "kiro_plan_savings_usd"):
        for l, _ in m.get(name, []):
            series[tuple(l[k] for k in LICENCE)] = l
    for l, _ in m.get("kiro_duplicate_licences", []):
        series[(l["billing_period"], l["user_id"])] = l
    values = {n: per_licence(n) for n in ("kiro_credits_used", "kiro_plan_credits", "kiro_overage_credits",
                                           "kiro_credits_projected", "kiro_plan_savings_usd")}
    return current, exp, series, values


def alert_key(name, labels):
    if name == "KiroDuplicateLicence":
        return (labels.get("billing_period"), labels.get("user_id"))
    return tuple(labels.get(k) for k in LICENCE)


def cmd_alerts(prom_url, exporter_url, rules_file):
    with open(rules_file, encoding="utf-8") as f:
        severities = {r["alert"]: r["labels"]["severity"] for g in yaml.safe_load(f)["groups"]
                      for r in g["rules"] if "alert" in r}
    m = parse_metrics(get(exporter_url))
    current, exp, series, values = expected_alerts(m)
    if not current:
        fail("the exporter shows no billing period with selection=\"current\" (generate the current month)")
    for name in ("KiroUserOverPlan", "KiroUserNearPlanLimit"):
        if not exp[name]:
            fail(f"the generated export has no licence for {name}: the check would prove nothing")
    quiet = ("KiroExporterDown", "KiroExporterRefreshFailing", "KiroExporterBillingPeriodFailing",
             "KiroBillingDataStale", "BedrockSpendSpike")
    deadline = time.time() + 90
    while True:
        active = prom(prom_url, "/api/v1/alerts")["alerts"]
        got = {}
        for a in active:
            if a["state"] in ("pending", "firing"):
                got.setdefault(a["labels"]["alertname"], []).append(a)
        problems = []
        for name, keys in exp.items():
            have = {alert_key(name, a["labels"]) for a in got.get(name, [])}
            if have != keys:
                problems.append(f"{name}: missing {sorted(keys - have)}, unexpected {sorted(have - keys)}")
        for name in quiet:
            if got.get(name):
                problems.append(f"{name} is {got[name][0]['state']}: {got[name][0]['labels']}")
        if not problems or time.time() > deadline:
            break
        time.sleep(2)
    if problems:
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        fail("the alerts in Prometheus differ from what the exporter's metrics call for")

    # Labels and annotations of each active per-user alert.
    for name in exp:
        for a in got.get(name, []):
            lab, ann = a["labels"], a["annotations"]
            s = series[alert_key(name, lab)]
            team = s.get("team") or "unassigned"
            if lab.get("severity") != severities[name] or lab.get("team") != team:
                fail(f"{name} {lab}: want severity={severities[name]} team={team}")
            text = ann.get("summary", "") + " " + ann.get("description", "")
            needed = [s["user"]]
            if name != "KiroDuplicateLicence":
                k = alert_key(name, lab)
                needed.append(s["plan"])
                if name in ("KiroUserNearPlanLimit", "KiroUserOverPlan", "KiroIdleSeat", "KiroUserProjectedOverPlan"):
                    needed.append(f"{values['kiro_credits_used'][k][1]:.2f}")
                if name in ("KiroUserNearPlanLimit", "KiroUserOverPlan", "KiroUserProjectedOverPlan", "KiroUpgradeRecommended"):
                    needed.append(f"{values['kiro_plan_credits'][k][1]:.0f}")
                if name == "KiroUserOverPlan":
                    needed.append(f"{values['kiro_overage_credits'][k][1]:.2f}")
                if name == "KiroUpgradeRecommended":
                    needed += [lab["recommended_plan"], f"{values['kiro_plan_savings_usd'][k][1]:.2f}"]
            missing = [x for x in needed if x not in text]
            if missing:
                fail(f"{name} for {s['user']}: annotations lack {missing}: {text!r}")
            if not ann.get("runbook", "").startswith("docs/operations.md#"):
                fail(f"{name}: no runbook annotation")
    counts = ", ".join(f"{n} {len(exp[n])}" for n in exp)
    print(f"alerts: pending or firing exactly as the exporter's metrics call for ({counts}); "
          f"{', '.join(quiet)} quiet")


# ---------------------------------------------------------------- deployment files


def cmd_rules_equal(rules_file, prometheusrule):
    with open(rules_file, encoding="utf-8") as f:
        rules = yaml.safe_load(f)
    with open(prometheusrule, encoding="utf-8") as f:
        pr = yaml.safe_load(f)
    if pr.get("kind") != "PrometheusRule" or pr["spec"]["groups"] != rules["groups"]:
        fail(f"{prometheusrule} does not carry the groups of {rules_file}")
    n = sum(len(g["rules"]) for g in rules["groups"])
    print(f"PrometheusRule: the same {len(rules['groups'])} groups and {n} rules as the rules file")


def cmd_compose(path):
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as f:
        c = yaml.safe_load(f)
    services = c.get("services") or fail("compose: no services")
    for want in ("kiro-exporter", "prometheus", "alertmanager", "grafana"):
        if want not in services:
            fail(f"compose: no service {want}")
    mounted = []
    for name, s in services.items():
        if "image" not in s and "build" not in s:
            fail(f"compose: {name} has neither image nor build")
        if "image" in s and ":" not in s["image"].split("/")[-1]:
            fail(f"compose: {name} image {s['image']} has no tag")
        if "build" in s:
            b = s["build"]
            ctx = os.path.join(base, b["context"] if isinstance(b, dict) else b)
            if not os.path.isdir(ctx):
                fail(f"compose: {name} build context {ctx} missing")
            if isinstance(b, dict) and "dockerfile" in b and not os.path.isfile(os.path.join(ctx, b["dockerfile"])):
                fail(f"compose: {name} dockerfile {b['dockerfile']} missing")
        for p in s.get("ports", []):
            if not str(p).startswith("127.0.0.1:"):
                fail(f"compose: {name} publishes {p} beyond loopback")
        for v in s.get("volumes", []):
            src = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
            if src.startswith((".", "/")):
                full = os.path.normpath(os.path.join(base, src))
                if not os.path.exists(full):
                    fail(f"compose: {name} mounts {src}, which does not exist")
                mounted.append(full)
        for dep in (s.get("depends_on") or []):
            if dep not in services:
                fail(f"compose: {name} depends on unknown {dep}")
    # Grafana provisioning: the data source and the dashboards folder it mounts.
    for full in mounted:
        if os.path.isdir(full):
            for dp, _, files in os.walk(full):
                for fn in files:
                    if fn.endswith((".yml", ".yaml")):
                        with open(os.path.join(dp, fn), encoding="utf-8") as f:
                            yaml.safe_load(f)
    # Grafana: the provisioned dashboards path is where dashboards/ is mounted.
    dash_dir = os.path.normpath(os.path.join(ROOT, "dashboards"))
    targets = {os.path.normpath(os.path.join(base, v.split(":")[0])): v.split(":")[1]
               for v in services["grafana"].get("volumes", []) if isinstance(v, str) and v.startswith(".")}
    if dash_dir not in targets:
        fail("compose: the dashboards/ folder is not mounted into Grafana")
    prov_host = next((h for h, t in targets.items() if t == "/etc/grafana/provisioning"), None)
    if not prov_host:
        fail("compose: Grafana's provisioning folder is not mounted")
    paths = []
    for dp, _, files in os.walk(os.path.join(prov_host, "dashboards")):
        for fn in files:
            with open(os.path.join(dp, fn), encoding="utf-8") as f:
                paths += [p["options"]["path"] for p in yaml.safe_load(f).get("providers", [])]
    if targets[dash_dir] not in paths:
        fail(f"compose: Grafana provisions dashboards from {paths}, dashboards/ is mounted at {targets[dash_dir]}")
    sources = []
    for dp, _, files in os.walk(os.path.join(prov_host, "datasources")):
        for fn in files:
            with open(os.path.join(dp, fn), encoding="utf-8") as f:
                sources += yaml.safe_load(f).get("datasources", [])
    if not any(d.get("type") == "prometheus" and d.get("url", "").startswith("http://prometheus:") for d in sources):
        fail("compose: no Prometheus data source pointing at the prometheus service")
    print(f"compose: {len(services)} services, {len(mounted)} mounted paths exist, ports on 127.0.0.1 only")


def load_manifests(directory):
    docs = []
    for name in sorted(os.listdir(directory)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                for d in yaml.safe_load_all(f):
                    if d:
                        docs.append((name, d))
    return docs


def cmd_kubernetes(directory):
    docs = load_manifests(directory)
    by_kind = {}
    for name, d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    for kind in ("Deployment", "Service", "ServiceAccount", "ServiceMonitor", "PrometheusRule", "Kustomization"):
        if len(by_kind.get(kind, [])) != 1:
            fail(f"kubernetes: want one {kind}, have {len(by_kind.get(kind, []))}")
    dep = by_kind["Deployment"][0]
    spec = dep["spec"]
    if spec.get("replicas") != 1 or spec.get("strategy", {}).get("type") != "Recreate":
        fail("kubernetes: the Deployment must run one replica with strategy Recreate (no two pods paying for the same queries)")
    pod = spec["template"]["spec"]
    sa = by_kind["ServiceAccount"][0]
    if pod.get("serviceAccountName") != sa["metadata"]["name"]:
        fail("kubernetes: the pod does not use the ServiceAccount")
    if "eks.amazonaws.com/role-arn" not in sa["metadata"].get("annotations", {}):
        fail("kubernetes: the ServiceAccount has no IRSA annotation (eks.amazonaws.com/role-arn)")
    (c,) = pod["containers"]
    for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
        if c.get(probe, {}).get("httpGet", {}).get("path") != path:
            fail(f"kubernetes: {probe} must GET {path}")
    sc = {**pod.get("securityContext", {}), **c.get("securityContext", {})}
    if not sc.get("runAsNonRoot") or not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation") is not False:
        fail("kubernetes: the container must run as non-root, read-only, without privilege escalation")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    pod_labels = spec["template"]["metadata"]["labels"]
    if any(pod_labels.get(k) != v for k, v in spec["selector"]["matchLabels"].items()):
        fail("kubernetes: the Deployment's selector does not match its pods")
    svc = by_kind["Service"][0]
    if any(pod_labels.get(k) != v for k, v in svc["spec"]["selector"].items()):
        fail("kubernetes: the Service does not select the pods")
    svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
    sm = by_kind["ServiceMonitor"][0]
    if any(svc["metadata"]["labels"].get(k) != v for k, v in sm["spec"]["selector"]["matchLabels"].items()):
        fail("kubernetes: the ServiceMonitor does not select the Service")
    for ep in sm["spec"]["endpoints"]:
        if ep["port"] not in svc_ports or svc_ports[ep["port"]]["targetPort"] not in ports:
            fail(f"kubernetes: ServiceMonitor port {ep['port']} does not reach the container")
    kust = by_kind["Kustomization"][0]
    files = {n for n, d in docs if d["kind"] != "Kustomization"}
    if set(kust.get("resources", [])) != files:
        fail(f"kubernetes: kustomization resources {sorted(kust.get('resources', []))} != files {sorted(files)}")
    print(f"kubernetes: {len(docs)} documents consistent (one replica, Recreate, IRSA, probes, non-root, selectors, ports)")


def cmd_runbook(rules_file, doc):
    with open(rules_file, encoding="utf-8") as f:
        alerts = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"] if "alert" in r]
    text = read_text(doc)
    headings = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.*)$", text, re.MULTILINE)}
    for r in alerts:
        anchor = r["alert"].lower()
        if anchor not in headings:
            fail(f"{doc}: no runbook section for {r['alert']}")
        if r["annotations"].get("runbook") != f"docs/operations.md#{anchor}":
            fail(f"{r['alert']}: runbook annotation should be docs/operations.md#{anchor}")
        for key in ("summary", "description"):
            if not r["annotations"].get(key):
                fail(f"{r['alert']}: no {key}")
        for key in ("severity", "team"):
            if not r["labels"].get(key):
                fail(f"{r['alert']}: no {key} label")
    print(f"runbook: {len(alerts)} alerts, each with severity, team, summary, description and a runbook section")


def cmd_env_file(env_file, exporter_bin):
    import subprocess
    help_text = subprocess.run([exporter_bin, "--help"], capture_output=True, text=True, check=True).stdout
    known = set(re.findall(r"env: (KIRO_EXPORTER_\w+)", help_text))
    used = re.findall(r"^#?\s*(KIRO_EXPORTER_\w+)=", read_text(env_file), re.MULTILINE)
    unknown = sorted(set(used) - known)
    if not used or unknown:
        fail(f"{env_file}: variables the exporter does not read: {unknown}")
    print(f"env file: {len(used)} KIRO_EXPORTER_* settings, all read by the exporter")


def cmd_ministack(endpoint, export_dir):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from ministack_setup import setup
    ddl = read_text(os.path.join(ROOT, "deploy", "athena-cur2-table.sql"))
    ddl = " ".join(line for line in ddl.splitlines() if not line.startswith("--"))
    ddl = ddl.replace("s3://CUR_BUCKET/CUR_PREFIX/EXPORT_NAME/data/", "s3://cur/exp/data/").rstrip().rstrip(";")
    setup(endpoint, export_dir, [ddl])


def cmd_wait(prom_url, *jobs):
    deadline = time.time() + 120
    while True:
        try:
            counts = {j: finite_samples(prom(prom_url, "/api/v1/query", {"query": f'count_over_time(up{{job="{j}"}}[10m])'}))
                      for j in jobs}
            rules = prom(prom_url, "/api/v1/rules")["groups"]
            evaluated = rules and all(g.get("lastEvaluation", "").startswith("2") and
                                      not g["lastEvaluation"].startswith("0001") for g in rules)
            if all(c and c[0] >= 10 for c in counts.values()) and evaluated:
                return
        except OSError:
            pass
        if time.time() > deadline:
            fail(f"Prometheus did not scrape {jobs} 10 times and evaluate its rules within 120 s")
        time.sleep(1)


def cmd_e2e_configs(rules_file, am_file, webhook_url, out_dir):
    with open(rules_file, encoding="utf-8") as f:
        rules = yaml.safe_load(f)
    groups = []
    for g in rules["groups"]:
        alerts = [dict(r, **{"for": "0s"}) for r in g["rules"] if "alert" in r]
        if alerts:
            groups.append({"name": g["name"] + ".firing", "rules": alerts})
    with open(os.path.join(out_dir, "firing.rules.yml"), "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": groups}, f, sort_keys=False, allow_unicode=True)
    with open(am_file, encoding="utf-8") as f:
        am = yaml.safe_load(f)
    am["global"] = {"resolve_timeout": "5m"}
    am.pop("templates", None)
    am["route"].update({"group_wait": "2s", "group_interval": "2s", "repeat_interval": "24h"})
    am["receivers"] = [{"name": r["name"], "webhook_configs": [{"url": f"{webhook_url}/{r['name']}", "send_resolved": False}]}
                       for r in am["receivers"]]
    with open(os.path.join(out_dir, "alertmanager.yml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(am, f, sort_keys=False)


def cmd_webhook(port, out_file):
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with open(out_file, "a", encoding="utf-8") as f:
                f.write(json.dumps({"path": self.path, "body": json.loads(body)}) + "\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    HTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()


def cmd_notifications(out_file, exporter_url, am_file):
    with open(am_file, encoding="utf-8") as f:
        routes = yaml.safe_load(f)["route"]["routes"]
    by_team = {}
    for r in routes:
        for mt in r.get("matchers", []):
            m = re.fullmatch(r'team="([^"]*)"', mt)
            if m:
                by_team[m.group(1)] = r["receiver"]
    current, exp, series, _ = expected_alerts(parse_metrics(get(exporter_url)))
    over, near = exp["KiroUserOverPlan"], exp["KiroUserNearPlanLimit"]
    want = {}
    for k in over:
        want.setdefault(by_team.get(series[k].get("team") or "unassigned", "default"), set()).add(k)
    only_near = near - over
    deadline = time.time() + 90
    while True:
        notes = []
        if os.path.exists(out_file):
            notes = [json.loads(line) for line in read_text(out_file).splitlines() if line.strip()]
        got_over, got_near, problems = {}, set(), []
        for n in notes:
            receiver = n["body"]["receiver"]
            if n["path"] != "/" + receiver:
                problems.append(f"notification for {receiver} posted to {n['path']}")
            for a in n["body"]["alerts"]:
                lab = a["labels"]
                team = lab.get("team", "")
                if by_team.get(team, "default") != receiver:
                    problems.append(f"{lab['alertname']} of team {team!r} went to {receiver}")
                if a["status"] != "firing":
                    continue
                if lab["alertname"] == "KiroUserOverPlan":
                    got_over.setdefault(receiver, set()).add(alert_key("KiroUserOverPlan", lab))
                elif lab["alertname"] == "KiroUserNearPlanLimit":
                    got_near.add(alert_key("KiroUserNearPlanLimit", lab))
        inhibited_leak = got_near & over
        if inhibited_leak:
            problems.append(f"near-limit notifications for licences over their plan (not inhibited): {sorted(inhibited_leak)}")
        if not problems and got_over == want and got_near == only_near:
            break
        if time.time() > deadline:
            problems.append(f"over-plan notifications per receiver: want {want}, got {got_over}")
            problems.append(f"near-limit notifications: want {sorted(only_near)}, got {sorted(got_near)}")
            for p in problems:
                print(f"  {p}", file=sys.stderr)
            fail("Alertmanager's notifications differ from the routing and inhibition the example configures")
        time.sleep(1)
    teams = ", ".join(f"{r} {len(k)}" for r, k in sorted(want.items()))
    print(f"alertmanager: {len(notes)} notifications; over-plan licences per receiver ({teams}); "
          f"{len(only_near)} near-limit licences notified, {len(near & over)} over-plan ones inhibited")


def main(argv):
    cmds = {"dashboards": cmd_dashboards, "live": cmd_live, "alerts": cmd_alerts, "rules-equal": cmd_rules_equal,
            "compose": cmd_compose, "kubernetes": cmd_kubernetes, "runbook": cmd_runbook, "env-file": cmd_env_file,
            "ministack": cmd_ministack, "wait": cmd_wait, "e2e-configs": cmd_e2e_configs, "webhook": cmd_webhook,
            "notifications": cmd_notifications}
    if not argv or argv[0] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    cmds[argv[0]](*argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
