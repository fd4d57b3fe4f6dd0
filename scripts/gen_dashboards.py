"""Writes the Grafana dashboards in dashboards/ (Grafana JSON, schemaVersion 39).

    python3 scripts/gen_dashboards.py            # rewrite dashboards/*.json
    python3 scripts/gen_dashboards.py --check    # exit 1 if a committed dashboard differs

The panels are declared here, once, and laid out on Grafana's 24-column grid in order; edit this file
rather than the JSON (scripts/test-observability runs --check). Every query reads the Prometheus data
source chosen in the `datasource` variable, and uses only series kiro-exporter exports (the live check in
scripts/test-observability runs each one against a Prometheus that scraped the exporter and requires data).
"""
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DS = {"type": "prometheus", "uid": "${datasource}"}
# The labels that identify a licence (the per-user Kiro series); joins between them use these.
LICENCE = "billing_period, aws_account_id, aws_region, user_id"
# Every bill series carries billing_period, and the exporter serves several months at once
# (--billing-periods): a panel of one month filters on the `billing_period` variable, or it would add the
# months together.
PERIOD = 'billing_period="$billing_period"'
# Cost series by name: Kiro per licence (seats, credits, other operations); all of Kiro (with the
# account-level lines: discounts, tax); Kiro and Bedrock, both with a team label.
KIRO_COSTS = "kiro_(subscription|credits|other)_cost_usd"
KIRO_COSTS_ALL = "kiro_(subscription|credits|other|unattributed)_cost_usd"
TEAM_COSTS = "kiro_(subscription|credits|other)_cost_usd|bedrock_cost_usd"
# The month before the current (or latest) one: last month's invoice.
PREVIOUS = 'kiro_exporter_billing_period_info{selection="previous"}'
# Label columns hidden in tables: Grafana's own and the scrape target's.
HIDDEN = ["Time", "__name__", "job", "instance", "billing_period"]


def costs(names, *matchers):
    """The selector of the cost series whose names match the regex `names`, with more label matchers."""
    return "{" + ",".join([f'__name__=~"{names}"', *matchers]) + "}"


def unassigned(expr):
    """`expr` with an empty team named "unassigned", as the alerts name it."""
    return f'label_replace({expr}, "team", "unassigned", "team", "")'


def q(expr, legend="", ref=None, fmt=None, instant=False):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref or "A"}
    if fmt:
        t["format"] = fmt
    if instant:
        t["instant"] = True
        t["range"] = False
    else:
        t["range"] = True
    return t


def thresholds(*steps):
    """steps: (value, colour) pairs after the base colour green."""
    return {"mode": "absolute", "steps": [{"color": "green", "value": None}]
            + [{"color": c, "value": v} for v, c in steps]}


def single_value(kind, title, expr, legend, desc, w, h, defaults, options):
    """A panel of one instant query (stat, bar gauge): the shape both share."""
    return {
        "type": kind, "title": title, "description": desc, "w": w, "h": h,
        "targets": [q(expr, legend, instant=True)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
    }


LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}


def stat(title, expr, unit="none", desc="", legend="", steps=(), mappings=None, text_mode="auto", decimals=None, w=4, h=4):
    defaults = {"unit": unit, "color": {"mode": "thresholds"}, "thresholds": thresholds(*steps), "mappings": mappings or []}
    if decimals is not None:
        defaults["decimals"] = decimals
    return single_value("stat", title, expr, legend, desc, w, h, defaults,
                        {"reduceOptions": LAST, "colorMode": "value", "graphMode": "none", "justifyMode": "auto",
                         "orientation": "auto", "textMode": text_mode, "wideLayout": True, "showPercentChange": False})


def timeseries(title, targets, unit="none", desc="", w=12, h=8, stack=False):
    return {
        "type": "timeseries", "title": title, "description": desc, "w": w, "h": h,
        "targets": [q(e, l, ref=chr(65 + i)) for i, (e, l) in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit, "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                                               "showPoints": "never", "spanNulls": True,
                                                               "stacking": {"mode": "normal" if stack else "none", "group": "A"}},
                                     "color": {"mode": "palette-classic"}}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right", "showLegend": True, "calcs": ["lastNotNull"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def bargauge(title, expr, legend, unit="none", desc="", steps=(), w=8, h=8, max_=None):
    defaults = {"unit": unit, "color": {"mode": "thresholds"}, "thresholds": thresholds(*steps), "min": 0}
    if max_ is not None:
        defaults["max"] = max_
    return single_value("bargauge", title, expr, legend, desc, w, h, defaults,
                        {"displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True,
                         "valueMode": "color", "namePlacement": "left", "sizing": "auto", "minVizHeight": 16,
                         "maxVizHeight": 300, "reduceOptions": LAST})


def table(title, columns, desc="", w=12, h=8, hide=(), sort=None):
    """columns: (expr, column name, unit) per query, merged on their labels into one row per series."""
    targets = [q(e, "", ref=chr(65 + i), fmt="table", instant=True) for i, (e, _, _) in enumerate(columns)]
    if len(columns) == 1:
        rename = {"Value": columns[0][1]}
    else:
        rename = {f"Value #{chr(65 + i)}": name for i, (_, name, _) in enumerate(columns)}
    overrides = [{"matcher": {"id": "byName", "options": name},
                  "properties": [{"id": "unit", "value": unit}]} for _, name, unit in columns]
    transformations = []
    if len(columns) > 1:
        transformations.append({"id": "merge", "options": {}})
    transformations.append({"id": "organize", "options": {
        "excludeByName": {k: True for k in list(HIDDEN) + list(hide)}, "indexByName": {}, "renameByName": rename}})
    sort_by = [{"displayName": sort or columns[0][1], "desc": True}]
    return {
        "type": "table", "title": title, "description": desc, "w": w, "h": h,
        "targets": targets, "transformations": transformations,
        "fieldConfig": {"defaults": {"custom": {"align": "auto", "filterable": True}}, "overrides": overrides},
        "options": {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""},
                    "sortBy": sort_by},
    }


def barchart(title, expr, series, unit="currencyUSD", desc="", w=12, h=8):
    """Bars of one instant query by billing period: a group per month (oldest first), a bar per value of the
    label `series`. Grafana's groupingToMatrix turns the table (billing_period, series, Value) into one row
    per month and one column per series value."""
    month = f"billing_period\\{series}"  # the name groupingToMatrix gives its first column
    transformations = [
        {"id": "sortBy", "options": {"fields": {}, "sort": [{"field": "billing_period", "desc": False}]}},
        {"id": "groupingToMatrix", "options": {"columnField": series, "rowField": "billing_period",
                                               "valueField": "Value", "emptyValue": "null"}},
        {"id": "organize", "options": {"excludeByName": {}, "indexByName": {}, "renameByName": {month: "Month"}}},
    ]
    return {
        "type": "barchart", "title": title, "description": desc, "w": w, "h": h,
        "targets": [q(expr, "", fmt="table", instant=True)], "transformations": transformations,
        "fieldConfig": {"defaults": {"unit": unit, "color": {"mode": "palette-classic"},
                                     "custom": {"fillOpacity": 80, "lineWidth": 1, "gradientMode": "none",
                                                "axisPlacement": "auto"}}, "overrides": []},
        "options": {"xField": "Month", "orientation": "auto", "stacking": "none", "groupWidth": 0.7, "barWidth": 0.97,
                    "showValue": "auto", "xTickLabelRotation": 0, "xTickLabelSpacing": 0, "fullHighlight": False,
                    "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def row(title, collapsed=False):
    """A row; the panels after it, up to the next row, are its own. A collapsed row holds them in its
    `panels` and shows them when opened: for optional sources (Athena, kiro-cli, the activity report),
    so a dashboard shows no empty panels to someone who does not use them."""
    return {"type": "row", "title": title, "collapsed": collapsed}


UP_DOWN = [{"type": "value", "options": {"0": {"text": "down", "color": "red", "index": 0},
                                         "1": {"text": "up", "color": "green", "index": 1}}}]
OK_FAILED = [{"type": "value", "options": {"0": {"text": "failed", "color": "red", "index": 0},
                                           "1": {"text": "ok", "color": "green", "index": 1}}}]
YES_NO = [{"type": "value", "options": {"0": {"text": "no", "color": "orange", "index": 0},
                                        "1": {"text": "yes", "color": "green", "index": 1}}}]


def datasource_var():
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1, "regex": ""}


def query_var(name, label, query, multi=False, sort=1):
    """sort: Grafana's, 1 alphabetical ascending, 2 descending. With `current` empty Grafana selects the
    first value (a single-value variable) or All."""
    v = {"name": name, "label": label, "type": "query", "datasource": DS, "definition": query,
         "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
         "current": {}, "hide": 0, "includeAll": multi, "multi": multi, "options": [], "refresh": 2,
         "regex": "", "sort": sort}
    if multi:
        v["allValue"] = ".*"
        v["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return v


def period_var():
    """The billing period a dashboard shows, of those the exporter serves: newest first, so the current month
    (or the latest one with data, or the pinned one) is selected when the dashboard opens."""
    return query_var("billing_period", "Billing period", "label_values(kiro_exporter_billing_period_info, billing_period)",
                     sort=2)


def layout(items):
    """Places panels left to right, wrapping at 24 columns; a row starts a new line. The panels of a
    collapsed row go into its `panels`, placed below it as they appear when it is opened, and the next
    row follows the collapsed one directly."""
    panels, x, y, line_h, pid = [], 0, 0, 0, 1
    into, resume_y = panels, None
    for it in items:
        it = dict(it)
        if it["type"] == "row":
            y += line_h
            if resume_y is not None:
                y, resume_y = resume_y, None
            x, line_h = 0, 0
            collapsed = it.pop("collapsed")
            it.update({"id": pid, "collapsed": collapsed, "panels": [], "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
            y += 1
            panels.append(it)
            into = it["panels"] if collapsed else panels
            if collapsed:
                resume_y = y
        else:
            w, h = it.pop("w"), it.pop("h")
            if x + w > 24:
                y += line_h
                x, line_h = 0, 0
            it.update({"id": pid, "datasource": DS, "gridPos": {"h": h, "w": w, "x": x, "y": y}})
            x += w
            line_h = max(line_h, h)
            into.append(it)
        pid += 1
    return panels


def dashboard(uid, title, desc, variables, items, time_from="now-30d"):
    return {
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "description": desc,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [{"asDropdown": True, "icon": "external link", "includeVars": False, "keepTime": True,
                   "tags": ["kiro-exporter"], "targetBlank": False, "title": "kiro-exporter", "type": "dashboards"}],
        "panels": layout(items),
        "refresh": "5m",
        "schemaVersion": 39,
        "tags": ["kiro-exporter"],
        "templating": {"list": [datasource_var()] + variables},
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": "utc",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def overview():
    p = PERIOD
    return dashboard("kiro-overview", "Kiro overview",
                     "Kiro credits, plans and cost per user and team from the AWS bill (kiro-exporter).", [period_var()], [
        row("Billing period and freshness"),
        stat("Billing period", f"kiro_exporter_billing_period_info{{{p}}}", legend="{{billing_period}} ({{selection}})",
             text_mode="name", desc="The month shown (the billing_period variable, newest first) and how the exporter "
                                    "serves it: current, latest (the current month has no data yet), previous (last "
                                    "month), past or pinned."),
        stat("Bill reaches", "max(kiro_cur_data_last_usage_timestamp_seconds) * 1000", unit="dateTimeFromNow",
             desc="End of the latest Kiro credits usage in the CUR export (the newest month)."),
        stat("Bill age", "time() - max(kiro_cur_data_last_usage_timestamp_seconds)", unit="dtdurations",
             steps=((172800, "orange"),), desc="How far the bill lags; KiroBillingDataStale fires past 2 days."),
        stat("Snapshot age", "max(kiro_exporter_snapshot_age_seconds)", unit="dtdurations", steps=((7200, "orange"),),
             desc="Time since the exporter last refreshed the data successfully."),
        stat("Potential savings", f"sum(kiro_plan_savings_usd{{{p}}})", unit="currencyUSD",
             desc="USD a month saved if every user switched to the recommended plan."),
        stat("Cost basis", f"kiro_exporter_cost_basis_info{{{p}}}", legend="{{basis}}", text_mode="name",
             desc="The cost the USD panels sum: net (after discounts, line_item_net_unblended_cost; the default) or unblended (list price). See --cost.basis."),

        row("Credits and cost in $billing_period"),
        stat("Credits used", f"sum(kiro_credits_used{{{p}}})", decimals=0),
        stat("Plan credits", f"sum(kiro_plan_credits{{{p}}})", decimals=0, desc="Credits included in the users' plans."),
        stat("Overage credits", f"sum(kiro_overage_credits{{{p}}})", decimals=0, steps=((1, "orange"),)),
        stat("Overage cost", f"sum(kiro_credits_cost_usd{{{p}}})", unit="currencyUSD",
             desc="Credits cost billed so far (the credits beyond the plans)."),
        stat("Seat cost", f"sum(kiro_subscription_cost_usd{{{p}}})", unit="currencyUSD",
             desc="Seat (subscription) cost billed so far."),
        stat("Kiro cost", f"sum({costs(KIRO_COSTS_ALL, p)})", unit="currencyUSD",
             desc="Everything Kiro billed so far: seats, credits, other operations, discounts and tax."),
        stat("Users over plan", f"count(kiro_overage_credits{{{p}}} > 0) or vector(0)", steps=((1, "orange"),)),
        stat("Users near the limit", f"count(kiro_plan_used_ratio{{{p}}} >= 0.8) or vector(0)", steps=((1, "orange"),),
             desc="Licences that used 80% of their plan or more."),
        stat("Idle seats", f"sum(kiro_idle_seat{{{p}}})", steps=((1, "orange"),)),
        stat("Duplicate licences", f"count(kiro_duplicate_licences{{{p}}} >= 2) or vector(0)", steps=((1, "orange"),),
             desc="Users who hold a seat in more than one profile or account."),
        stat("Seats", f'count(kiro_credits_used{{{p},plan!="unknown"}})', desc="Licences with a seat."),
        timeseries("Credits used vs plan, by plan", [(f"sum by (plan) (kiro_credits_used{{{p}}})", "{{plan}} used"),
                                                     (f"sum by (plan) (kiro_plan_credits{{{p}}})", "{{plan}} included")]),
        timeseries("Credits used vs plan, by team", [(f"sum by (team) (kiro_credits_used{{{p}}})", "{{team}} used"),
                                                     (f"sum by (team) (kiro_plan_credits{{{p}}})", "{{team}} included")]),
        bargauge("Plan used, by team",
                 f"sort_desc(sum by (team) (kiro_credits_used{{{p}}} and kiro_plan_credits) / sum by (team) (kiro_plan_credits{{{p}}}))",
                 "{{team}}", unit="percentunit", steps=((0.8, "orange"), (1, "red")), max_=1.5,
                 desc="Credits used over the credits included, for the licences on a configured plan."),
        bargauge("Seats by plan", f'sort_desc(count by (plan) (kiro_credits_used{{{p},plan!="unknown"}}))', "{{plan}}"),
        bargauge("Cost by team", f"sort_desc(sum by (team) ({costs(KIRO_COSTS, p)}))", "{{team}}", unit="currencyUSD"),

        row("Month by month"),
        barchart("Cost per team per month", unassigned(f"sum by (billing_period, team) ({costs(TEAM_COSTS)})"), "team",
                 w=16, desc="Kiro (seats, credits, other operations) and Bedrock cost of each team in every billing period "
                            "the exporter serves (--billing-periods); the account-level lines (discounts, tax) are in no team."),
        stat("Last month, as invoiced", unassigned(f"sum by (team) ({costs(TEAM_COSTS)} and on (billing_period) {PREVIOUS})"),
             unit="currencyUSD", legend="{{team}}", w=8, h=8,
             desc="Kiro and Bedrock cost of each team last month (the period served as previous): closed, as AWS "
                  "restated it after the month ended. Not shown when the exporter serves one month or a pinned one."),

        row("Users in $billing_period"),
        table("Top users by credits", [(f"topk(20, kiro_credits_used{{{p}}})", "Credits used", "none")], hide=["user_id"]),
        table("Over plan", [(f"kiro_overage_credits{{{p}}} > 0", "Overage credits", "none"),
                            (f"kiro_credits_cost_usd{{{p}}} and on ({LICENCE}) kiro_overage_credits > 0", "Overage cost", "currencyUSD"),
                            (f"kiro_plan_used_ratio{{{p}}} and on ({LICENCE}) kiro_overage_credits > 0", "Plan used", "percentunit")],
              hide=["user_id"], desc="Licences over their plan's credits, with the credits cost billed so far."),
        table("Near the limit", [(f"kiro_plan_used_ratio{{{p}}} >= 0.8", "Plan used", "percentunit")], w=8, hide=["user_id"]),
        table("Projected over the plan", [(f"kiro_credits_projected{{{p}}} > kiro_plan_credits", "Projected credits", "none")], w=8,
              hide=["user_id"], desc="Month-end projection (last 7 billed days) above the plan's credits."),
        table("Recommended plan changes",
              [(f"(kiro_plan_savings_usd{{{p}}} > 0) * on ({LICENCE}) group_left (recommended_plan) kiro_recommended_plan_info",
                "Savings a month", "currencyUSD")], w=8, hide=["user_id"],
              desc="The cheapest priced plan for the projected credits, where it differs from the current one."),
        table("Idle seats", [(f"kiro_idle_seat{{{p}}} > 0", "Idle", "none"),
                             (f"kiro_subscription_cost_usd{{{p}}} and on ({LICENCE}) kiro_idle_seat > 0", "Seat cost", "currencyUSD")],
              hide=["user_id"], sort="Seat cost"),
        table("Duplicate licences", [(f"kiro_duplicate_licences{{{p}}} >= 2", "Licences", "none")], hide=["user_id"]),

        row("Activity report (--kiro.activity-report.path)", collapsed=True),
        stat("Activity report age", "time() - max(kiro_activity_report_last_date_timestamp_seconds)", unit="dtdurations",
             steps=((172800, "orange"),), desc="Time since the latest day in the Kiro user activity report."),
        stat("Credits the bill missed", f"sum(kiro_credits_used_reported{{{p}}}) - sum(kiro_credits_used_billed{{{p}}})",
             decimals=0, desc="Credits in the user activity report that the bill does not show (yet)."),
        table("Reported vs billed credits", [(f"kiro_credits_used_reported{{{p}}}", "Reported", "none"),
                                             (f"kiro_credits_used_billed{{{p}}}", "Billed", "none"),
                                             (f"kiro_credits_used_reported{{{p}}} - kiro_credits_used_billed", "Missing from the bill", "none")],
              w=24, hide=["user_id"], sort="Missing from the bill",
              desc="Credits in the Kiro user activity report against the credits in the bill, per licence."),
        timeseries("Messages by model and client", [(f"sum by (model, client) (kiro_messages{{{p}}})", "{{model}} / {{client}}")]),
        timeseries("Chat conversations by client", [(f"sum by (client) (kiro_chat_conversations{{{p}}})", "{{client}}")]),
        table("Overage settings", [(f"kiro_overage_enabled{{{p}}}", "Overage enabled", "none"),
                                   (f"kiro_overage_cap_credits{{{p}}}", "Overage cap (credits)", "none")], w=24),
    ])


def team():
    team_only = 'team="$team"'
    t = f"{PERIOD},{team_only}"
    return dashboard("kiro-team", "Kiro per team", "One team's Kiro credits, plans and projections (kiro-exporter).",
                     [period_var(), query_var("team", "Team", f"label_values(kiro_credits_used{{{PERIOD}}}, team)")], [
        row("Team $team in $billing_period"),
        stat("Members", f"count(count by (user_id) (kiro_credits_used{{{t}}}))"),
        stat("Credits used", f"sum(kiro_credits_used{{{t}}})", decimals=0),
        stat("Plan used", f"sum(kiro_credits_used{{{t}}} and kiro_plan_credits) / sum(kiro_plan_credits{{{t}}})",
             unit="percentunit", steps=((0.8, "orange"), (1, "red"))),
        stat("Overage credits", f"sum(kiro_overage_credits{{{t}}})", decimals=0, steps=((1, "orange"),)),
        stat("Projected overage", f"sum(clamp_min(kiro_credits_projected{{{t}}} - kiro_plan_credits{{{t}}}, 0))", decimals=0,
             steps=((1, "orange"),), desc="Credits over the plans at the end of the month, at the pace of the last 7 billed days."),
        stat("Kiro cost", f"sum({costs(KIRO_COSTS, t)})", unit="currencyUSD",
             desc="On the basis of the Cost basis panel of the overview (net of discounts by default)."),
        table("Members", [
            (f"kiro_credits_used{{{t}}}", "Credits used", "none"),
            (f"kiro_plan_credits{{{t}}}", "Plan credits", "none"),
            (f"kiro_plan_used_ratio{{{t}}}", "Plan used", "percentunit"),
            (f"kiro_credits_projected{{{t}}}", "Projected", "none"),
            (f"kiro_overage_credits{{{t}}}", "Overage credits", "none"),
            (f"kiro_credits_cost_usd{{{t}}}", "Credits cost", "currencyUSD"),
            (f"kiro_subscription_cost_usd{{{t}}}", "Seat cost", "currencyUSD"),
            (f"kiro_idle_seat{{{t}}}", "Idle", "none"),
        ], w=24, h=10, hide=["user_id", "team"], desc="Each member's licences: credits against the plan, projection and cost."),
        bargauge("Plan used per member", f"sort_desc(kiro_plan_used_ratio{{{t}}})", "{{user}} ({{plan}})", unit="percentunit",
                 steps=((0.8, "orange"), (1, "red")), max_=1.5, w=12, h=10),
        bargauge("Projected vs plan per member", f"sort_desc(kiro_credits_projected{{{t}}} / kiro_plan_credits{{{t}}})",
                 "{{user}} ({{plan}})", unit="percentunit", steps=((0.8, "orange"), (1, "red")), max_=1.5, w=12, h=10),
        timeseries("Credits used per member", [(f"kiro_credits_used{{{t}}}", "{{user}} ({{plan}})")]),
        timeseries("Overage credits per member", [(f"kiro_overage_credits{{{t}}}", "{{user}} ({{plan}})")]),
        table("Recommended plans", [
            (f"kiro_plan_savings_usd{{{t}}} * on ({LICENCE}) group_left (recommended_plan) kiro_recommended_plan_info",
             "Savings a month", "currencyUSD")], w=12, hide=["user_id", "team"]),
        table("Duplicate licences", [(f"kiro_duplicate_licences{{{t}}}", "Licences", "none")], w=12, hide=["user_id", "team"]),
        row("Team $team month by month"),
        barchart("Cost per month: Kiro and Bedrock",
                 f'sum by (billing_period, service) (label_replace(label_replace({costs(TEAM_COSTS, team_only)}, '
                 '"service", "Kiro", "__name__", "kiro_.*"), "service", "Bedrock", "__name__", "bedrock_.*"))',
                 "service", w=24,
                 desc="The team's Kiro (seats, credits, other operations) and Bedrock cost in every billing period the "
                      "exporter serves, side by side; the closed months as AWS restated them."),
    ])


def bedrock():
    f = f'{PERIOD},team=~"$team"'
    return dashboard("kiro-bedrock", "Bedrock spend",
                     "Amazon Bedrock cost from the AWS bill by team, IAM principal, model and token type (kiro-exporter).",
                     [period_var(),
                      query_var("team", "Team", f"label_values(bedrock_cost_usd{{{PERIOD}}}, team)", multi=True)], [
        row("Bedrock in $billing_period"),
        stat("Bedrock spend", f"sum(bedrock_cost_usd{{{f}}})", unit="currencyUSD"),
        stat("Tokens", f"sum(bedrock_tokens{{{f}}})", unit="short"),
        stat("Principals", f"count(count by (principal) (bedrock_cost_usd{{{f}}}))"),
        stat("Cost basis", f"kiro_exporter_cost_basis_info{{{PERIOD}}}", legend="{{basis}}", text_mode="name",
             desc="The cost the USD panels sum: net (after discounts, line_item_net_unblended_cost; the default) or unblended (list price). See --cost.basis."),
        stat("Spend linked to people", f'sum(bedrock_cost_usd{{{f},user!=""}})', unit="currencyUSD",
             desc="Cost of principals linked to an Identity Center user."),
        stat("IAM principal data", "max(kiro_exporter_bedrock_principal_data)", mappings=YES_NO, steps=((1, "green"),),
             desc="Whether the export has line_item_iam_principal (Data Exports: include caller identity)."),
        stat("Models", f"count(count by (model) (bedrock_cost_usd{{{f}}}))"),
        timeseries("Spend by team", [(f"sum by (team) (bedrock_cost_usd{{{f}}})", "{{team}}")], unit="currencyUSD",
                   desc="Month-to-date cost; the team is the principal's tag, else the linked user's team."),
        bargauge("Spend by model", f"sort_desc(sum by (model) (bedrock_cost_usd{{{f}}}))", "{{model}}", unit="currencyUSD", w=12),
        table("Top principals", [(f"topk(20, sum by (principal_type, principal_name, user, team) (bedrock_cost_usd{{{f}}}))",
                                  "Cost", "currencyUSD")]),
        bargauge("Spend by token type", f"sort_desc(sum by (token_type) (bedrock_cost_usd{{{f}}}))", "{{token_type}}",
                 unit="currencyUSD", w=6),
        table("Tokens by model and type", [(f"sum by (model, token_type) (bedrock_tokens{{{f}}})", "Tokens", "short")], w=6),
        table("Spend by project and cost center",
              [(f"sum by (project, cost_center) (bedrock_cost_usd{{{f}}})", "Cost", "currencyUSD")]),
        table("Spend by account and region",
              [(f"sum by (aws_account_id, aws_region) (bedrock_cost_usd{{{f}}})", "Cost", "currencyUSD")]),
        row("Per person: Kiro and Bedrock in $billing_period"),
        table("Kiro and Bedrock cost per person", [
            (f"sum by (user) ({costs(KIRO_COSTS, PERIOD)}) and on (user) sum by (user) (bedrock_cost_usd{{{f},user!=\"\"}})",
             "Kiro", "currencyUSD"),
            (f"sum by (user) (bedrock_cost_usd{{{f},user!=\"\"}})", "Bedrock", "currencyUSD"),
            (f"sum by (user) ({costs(KIRO_COSTS, PERIOD)}) + on (user) sum by (user) (bedrock_cost_usd{{{f},user!=\"\"}})",
             "Total", "currencyUSD"),
        ], w=24, h=10, sort="Total",
              desc="People whose Bedrock principals are linked to their Identity Center user: Kiro seats and credits plus Bedrock."),
    ])


def health():
    i = 'instance=~"$instance"'
    return dashboard("kiro-exporter-health", "kiro-exporter health",
                     "Refreshes, errors, durations, Athena usage and the identity directory of kiro-exporter.",
                     [query_var("instance", "Instance", "label_values(kiro_exporter_build_info, instance)", multi=True)], [
        row("State"),
        stat("Up", f'up{{job=~".*kiro.*",{i}}}', legend="{{instance}}", mappings=UP_DOWN),
        stat("Last refresh", f"kiro_exporter_last_refresh_success{{{i}}}", legend="{{instance}}", mappings=OK_FAILED),
        stat("Snapshot age", f"kiro_exporter_snapshot_age_seconds{{{i}}}", legend="{{instance}}", unit="dtdurations",
             steps=((7200, "orange"),)),
        stat("Since last success", f"time() - kiro_exporter_last_success_timestamp_seconds{{{i}}}", legend="{{instance}}",
             unit="dtdurations", steps=((7200, "orange"),)),
        stat("Version", f"kiro_exporter_build_info{{{i}}}", legend="{{version}}", text_mode="name"),
        stat("Billing periods", f"kiro_exporter_billing_period_info{{{i}}}", legend="{{billing_period}} ({{selection}})",
             text_mode="name", desc="The months the exporter serves (--billing-periods, or the pinned --billing-period)."),
        row("Refreshes"),
        timeseries("Refreshes per hour, by result",
                   [(f"sum by (result) (increase(kiro_exporter_refreshes_total{{{i}}}[1h]))", "{{result}}")],
                   desc="success, unchanged (the export had not changed: no query ran), failure."),
        timeseries("Period refreshes per hour, by billing period and result",
                   [(f"sum by (billing_period, result) (increase(kiro_exporter_period_refreshes_total{{{i}}}[1h]))",
                     "{{billing_period}} {{result}}")],
                   desc="Each served month's refreshes: a closed month is queried again only when its delivery changes "
                        "(unchanged otherwise)."),
        timeseries("Errors per hour, by source and kind",
                   [(f"sum by (source, kind) (increase(kiro_exporter_refresh_errors_total{{{i}}}[1h]))", "{{source}}/{{kind}}")]),
        timeseries("Refresh duration", [
            (f"histogram_quantile(0.9, sum by (le) (increase(kiro_exporter_refresh_duration_seconds_bucket{{{i}}}[6h])))", "p90 (6h)"),
            (f"sum(increase(kiro_exporter_refresh_duration_seconds_sum{{{i}}}[6h])) / sum(increase(kiro_exporter_refresh_duration_seconds_count{{{i}}}[6h]))",
             "mean (6h)")], unit="s"),
        table("Errors since start", [(f"sum by (instance, source, kind) (kiro_exporter_refresh_errors_total{{{i}}})", "Errors", "none")]),
        barchart("Period refreshes in the time range, by result",
                 f"sum by (billing_period, result) (increase(kiro_exporter_period_refreshes_total{{{i}}}[$__range]))", "result",
                 unit="short", desc="Refreshes of each served month over the dashboard's time range: success, unchanged, failure."),
        timeseries("Data read per hour", [(f"sum by (instance) (increase(kiro_exporter_bytes_read_total{{{i}}}[1h]))", "{{instance}}")],
                   unit="decbytes", desc="Bytes fetched from the export: manifests, Parquet footers, needed column chunks."),
        timeseries("CUR rows covered per hour", [(f"sum by (instance) (increase(kiro_exporter_rows_read_total{{{i}}}[1h]))", "{{instance}}")],
                   unit="short"),
        row("Athena (--athena.*)", collapsed=True),
        stat("Athena cost, last 30 days", f"sum(increase(kiro_exporter_athena_estimated_cost_usd_total{{{i}}}[30d]))",
             unit="currencyUSD", w=6, desc="Estimated: $5 per TB scanned, at least 10 MB per query."),
        stat("Athena scanned since start", f"sum(kiro_exporter_athena_data_scanned_bytes_total{{{i}}})", unit="decbytes", w=6),
        stat("Athena queries since start", f"sum(kiro_exporter_athena_queries_total{{{i}}})", w=6),
        stat("Athena estimated cost since start", f"sum(kiro_exporter_athena_estimated_cost_usd_total{{{i}}})",
             unit="currencyUSD", w=6),
        timeseries("Athena queries per hour, by result",
                   [(f"sum by (result) (increase(kiro_exporter_athena_queries_total{{{i}}}[1h]))", "{{result}}")]),
        timeseries("Athena data scanned per day",
                   [(f"sum by (instance) (increase(kiro_exporter_athena_data_scanned_bytes_total{{{i}}}[1d]))", "{{instance}}")],
                   unit="decbytes"),
        row("Identity directory and sources"),
        stat("Identity directory", f"kiro_exporter_identity_up{{{i}}}", legend="{{instance}}", mappings=UP_DOWN),
        stat("Directory users", f"kiro_exporter_identity_users{{{i}}}", legend="{{instance}}"),
        stat("Unresolved users", f"kiro_exporter_identity_unresolved_users{{{i}}}", legend="{{instance}}", steps=((1, "orange"),),
             desc="Users in the bill the directory does not know: shown by id, in the default team."),
        stat("Directory read age", f"time() - kiro_exporter_identity_last_success_timestamp_seconds{{{i}}}",
             legend="{{instance}}", unit="dtdurations", steps=((43200, "orange"),)),
        stat("Rolled-up users", f"kiro_exporter_rolled_up_users{{{i}}}", legend="{{instance}}",
             desc="Users summed into __other__ by --metrics.max-users."),
        stat("Bedrock principal data", f"kiro_exporter_bedrock_principal_data{{{i}}}", legend="{{instance}}", mappings=YES_NO,
             steps=((1, "green"),)),
        timeseries("Snapshot age", [(f"kiro_exporter_snapshot_age_seconds{{{i}}}", "{{instance}}")], unit="s", w=24),
        row("kiro-cli (--kiro-cli.enabled)", collapsed=True),
        stat("kiro-cli", f"kiro_cli_up{{{i}}}", legend="{{instance}}", mappings=UP_DOWN, w=6,
             desc="The kiro-cli /usage source: up when its last run succeeded."),
        table("kiro-cli errors since start",
              [(f'sum by (instance, kind) (kiro_exporter_refresh_errors_total{{source="kiro_cli",{i}}})', "Errors", "none")],
              w=18, h=4, desc="Failed kiro-cli runs by kind: not_found, not_logged_in, timeout, exit, unparseable, ..."),
    ], time_from="now-7d")


DASHBOARDS = {
    "kiro-overview.json": overview,
    "kiro-team.json": team,
    "bedrock-spend.json": bedrock,
    "kiro-exporter-health.json": health,
}


def render(fn):
    return json.dumps(fn(), indent=2, ensure_ascii=False) + "\n"


def main(argv):
    check = "--check" in argv
    stale = []
    for name, fn in DASHBOARDS.items():
        path = os.path.join(ROOT, "dashboards", name)
        text = render(fn)
        if check:
            if not os.path.exists(path):
                stale.append(name)
                continue
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    stale.append(name)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        print(f"dashboards out of date with scripts/gen_dashboards.py: {', '.join(stale)} "
              "(run python3 scripts/gen_dashboards.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
