"""Checks of the Helm chart deploy/helm/kiro-exporter, run by scripts/test-helm with Helm's own library
(helm-python-sdk: Helm v4 in-process, no cluster, no network).

    helm_check.py lint
        `helm lint --strict` with the default values and with every ci/*-values.yaml: no warning, no error;
        and values the schema must refuse are refused.
    helm_check.py render OUT_DIR
        Renders the chart with the default values (OUT_DIR/default/) and with every ci/*-values.yaml
        (OUT_DIR/<name>/), one file per object, for `kubernetes-validate --strict`.
    helm_check.py package OUT_DIR
        `helm package` into OUT_DIR: the archive (what an OCI push ships, .helmignore applied) is named after
        the crate's version, holds the copies in files/ but not ci/, and renders what the folder renders.
    helm_check.py objects
        What the rendered objects say:
        - defaults: exactly a Deployment, a Service and a ServiceAccount;
        - ci/kubernetes-values.yaml: the objects of deploy/kubernetes/ (Deployment, Service, ServiceAccount,
          ServiceMonitor, PrometheusRule), field for field where it matters: one replica, Recreate,
          non-root, read-only, probes, ports, resources, the flags, IRSA, the scrape endpoint, the rules;
        - ci/all-values.yaml: every option reaches its object (flags from the map, the config file and the
          web config mounted where the flags point, checksums, node selector, tolerations, affinity, env,
          ServiceMonitor, PrometheusRule, dashboards, NetworkPolicy) and selectors and ports agree;
        - a changed config, files or web config changes the pod's checksum annotations;
        - the PrometheusRule's groups are deploy/prometheus/kiro-exporter.rules.yml's, and the dashboard
          ConfigMaps hold exactly the files of dashboards/ with the sidecar's label and folder annotation.
"""
import copy
import glob
import json
import os
import re
import sys

import yaml
from helm_python.chart import Chart, lint, package

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CHART = os.path.join(ROOT, "deploy", "helm", "kiro-exporter")
RULES = os.path.join(ROOT, "deploy", "prometheus", "kiro-exporter.rules.yml")
DASHBOARDS = os.path.join(ROOT, "dashboards")
MANIFESTS = os.path.join(ROOT, "deploy", "kubernetes")
RELEASE, NAMESPACE = "kiro-exporter", "monitoring"


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def ci_values():
    """{name: values} of the default values and every ci/*-values.yaml."""
    out = {"default": None}
    for path in sorted(glob.glob(os.path.join(CHART, "ci", "*-values.yaml"))):
        out[os.path.basename(path)[: -len("-values.yaml")]] = load_yaml(path)
    return out


def render(values=None):
    """The rendered objects, as a list of dicts (NOTES.txt and empty documents left out)."""
    with Chart.load(CHART) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objs = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objs.append(doc)
    return objs


def by_kind(objs):
    out = {}
    for o in objs:
        out.setdefault(o["kind"], []).append(o)
    return out


def one(kinds, kind, where):
    if len(kinds.get(kind, [])) != 1:
        fail(f"{where}: want one {kind}, rendered {len(kinds.get(kind, []))}")
    return kinds[kind][0]


# ---------------------------------------------------------------- lint


# Values the schema must refuse, and why.
BAD_VALUES = [
    ({"args": {"web.listen-address": ":9999"}}, "the chart sets --web.listen-address from `port`"),
    ({"args": {"config.file": "/x.yml"}}, "the chart sets --config.file from `config`"),
    ({"args": {"cur.path": {"nested": 1}}}, "a flag's value is a scalar or a list"),
    ({"replicas": 2}, "unknown key (one replica, always)"),
    ({"port": 70000}, "port out of range"),
    ({"serviceMonitor": {"interval": "often"}}, "a duration"),
    ({"webConfig": {"scheme": "ftp"}}, "HTTP or HTTPS"),
    ({"configFiles": {"kiro-exporter.yml": "x: 1"}}, "the settings file's name is the chart's"),
    ({"livenessProbe": {"httpGet": {"path": "/"}}}, "the probe's path is the chart's"),
]


def cmd_lint():
    for name, values in ci_values().items():
        report = lint(CHART, values, strict=True, namespace=NAMESPACE)
        bad = [m for m in report["messages"] if m["severity"] >= 2] + [{"error": e} for e in report["errors"]]
        if bad:
            for m in bad:
                print(f"  {m.get('path', '')}: {m['error']}", file=sys.stderr)
            fail(f"helm lint --strict with {name} values")
        infos = "; ".join(m["error"] for m in report["messages"])
        print(f"  lint --strict ({name} values): no warnings{f' (info: {infos})' if infos else ''}")
    with Chart.load(CHART) as chart:
        for values, why in BAD_VALUES:
            try:
                chart.validate_schema(values)
            except Exception:  # noqa: BLE001 - the library raises HelmValuesError
                continue
            fail(f"values.schema.json accepts {json.dumps(values)} ({why})")
    print(f"  values.schema.json refuses {len(BAD_VALUES)} bad values")


# ---------------------------------------------------------------- render


def cmd_render(out_dir):
    for name, values in ci_values().items():
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        objs = render(values)
        for i, o in enumerate(objs):
            path = os.path.join(d, f"{i:02d}-{o['kind'].lower()}-{o['metadata']['name']}.yaml")
            with open(path, "w", encoding="utf-8") as f:
                yaml.safe_dump(o, f, sort_keys=False, allow_unicode=True)
        kinds = ", ".join(f"{k} {len(v)}" for k, v in sorted(by_kind(objs).items()))
        print(f"  {name}: {len(objs)} objects ({kinds}) in {d}")


def cmd_package(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    archive = package(CHART, destination=out_dir)
    with Chart.load(CHART) as chart:
        version = chart.version
    if os.path.basename(archive) != f"kiro-exporter-{version}.tgz":
        fail(f"helm package wrote {archive}, want kiro-exporter-{version}.tgz")
    with Chart.load(archive) as packed:
        names = {f["name"] for f in packed.files}
        if any(n.startswith("ci/") for n in names):
            fail(f"the packaged chart holds ci/: {sorted(names)}")
        want = {"files/kiro-exporter.rules.yml"} | {f"files/dashboards/{n}" for n in os.listdir(DASHBOARDS) if n.endswith(".json")}
        if not want <= names:
            fail(f"the packaged chart lacks {sorted(want - names)}")
        values = ci_values()["all"]
        got = packed.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    with Chart.load(CHART) as chart:
        if got != chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True):
            fail("the packaged chart renders differently from the folder")
    print(f"  helm package: {os.path.basename(archive)}, {len(names)} files (rules and dashboards, no ci/), "
          "renders as the folder does")


# ---------------------------------------------------------------- objects


def container(dep):
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    return c


def merged(values):
    with Chart.load(CHART) as chart:
        return chart.merge_values(values)


def check_core(kinds, where, values=None):
    """The invariants of every rendering: those of deploy/kubernetes/ (see observability_check.py kubernetes)."""
    eff = merged(values)
    dep = one(kinds, "Deployment", where)
    spec = dep["spec"]
    if spec.get("replicas") != 1 or spec.get("strategy", {}).get("type") != "Recreate":
        fail(f"{where}: the Deployment must run one replica with strategy Recreate")
    pod = spec["template"]["spec"]
    if pod.get("automountServiceAccountToken") is not False:
        fail(f"{where}: the pod must not mount a Kubernetes API token")
    c = container(dep)
    for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
        get = c.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") != "http-metrics":
            fail(f"{where}: {probe} must GET {path} on http-metrics")
    sc = {**pod.get("securityContext", {}), **c.get("securityContext", {})}
    if not sc.get("runAsNonRoot") or not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation") is not False:
        fail(f"{where}: the container must run as non-root, read-only, without privilege escalation")
    # Read-only root: the engine's spill files (state beyond --query.memory-limit) need a writable /tmp.
    tmp = [m["name"] for m in c.get("volumeMounts", []) if m.get("mountPath") == "/tmp"]
    empty_dir = {v["name"]: v for v in pod.get("volumes", [])}.get(tmp[0] if tmp else None, {}).get("emptyDir")
    if not isinstance(empty_dir, dict):
        fail(f"{where}: /tmp must be a writable emptyDir (the engine spills there)")
    if empty_dir.get("sizeLimit") != (eff.get("tmpSizeLimit") or None):
        fail(f"{where}: the /tmp emptyDir's sizeLimit {empty_dir.get('sizeLimit')!r} is not tmpSizeLimit")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    listen = [a for a in c["args"] if a.startswith("--web.listen-address=")]
    if listen != [f"--web.listen-address=:{ports.get('http-metrics')}"]:
        fail(f"{where}: --web.listen-address {listen} is not the container port {ports}")
    labels = spec["template"]["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in spec["selector"]["matchLabels"].items()):
        fail(f"{where}: the Deployment's selector does not match its pods")
    svc = one(kinds, "Service", where)
    if any(labels.get(k) != v for k, v in svc["spec"]["selector"].items()):
        fail(f"{where}: the Service does not select the pods")
    if any(p["targetPort"] not in ports for p in svc["spec"]["ports"]):
        fail(f"{where}: a Service port does not reach the container")
    sa_names = [s["metadata"]["name"] for s in kinds.get("ServiceAccount", [])]
    if sa_names and pod.get("serviceAccountName") not in sa_names:
        fail(f"{where}: the pod does not use the ServiceAccount")
    for sm in kinds.get("ServiceMonitor", []):
        if any(svc["metadata"]["labels"].get(k) != v for k, v in sm["spec"]["selector"]["matchLabels"].items()):
            fail(f"{where}: the ServiceMonitor does not select the Service")
        if NAMESPACE not in sm["spec"].get("namespaceSelector", {}).get("matchNames", [NAMESPACE]):
            fail(f"{where}: the ServiceMonitor looks in another namespace")
        svc_ports = {p["name"] for p in svc["spec"]["ports"]}
        if any(ep["port"] not in svc_ports for ep in sm["spec"]["endpoints"]):
            fail(f"{where}: a ServiceMonitor endpoint names a port the Service lacks")
    for pr in kinds.get("PrometheusRule", []):
        if pr["spec"]["groups"] != load_yaml(RULES)["groups"]:
            fail(f"{where}: the PrometheusRule's groups are not those of {os.path.relpath(RULES, ROOT)} "
                 "(run python3 scripts/gen_helm_chart.py)")
    for np in kinds.get("NetworkPolicy", []):
        if any(labels.get(k) != v for k, v in np["spec"]["podSelector"]["matchLabels"].items()):
            fail(f"{where}: the NetworkPolicy does not select the pods")
        for rule in np["spec"]["ingress"]:
            if any(p["port"] not in ports and p["port"] not in ports.values() for p in rule.get("ports", [])):
                fail(f"{where}: the NetworkPolicy opens a port the container lacks")
    dash = [cm for cm in kinds.get("ConfigMap", []) if "-dashboard-" in cm["metadata"]["name"]]
    if bool(dash) != bool(eff["dashboards"]["enabled"]):
        fail(f"{where}: dashboards.enabled is {eff['dashboards']['enabled']}, {len(dash)} dashboard ConfigMaps rendered")
    if dash:
        d = eff["dashboards"]
        check_dashboards(dash, where, d["label"], d["labelValue"], d["folderAnnotation"])
        if any(cm["metadata"]["namespace"] != (d["namespace"] or NAMESPACE) for cm in dash):
            fail(f"{where}: dashboard ConfigMaps not in {d['namespace'] or NAMESPACE}")
    return dep


def check_dashboards(cms, where, label="grafana_dashboard", value="1", annotation="grafana_folder"):
    files = {}
    for name in sorted(os.listdir(DASHBOARDS)):
        if name.endswith(".json"):
            with open(os.path.join(DASHBOARDS, name), encoding="utf-8") as f:
                files[name] = f.read()
    got = {}
    for cm in cms:
        if cm["metadata"]["labels"].get(label) != value:
            fail(f"{where}: dashboard ConfigMap {cm['metadata']['name']} lacks the label {label}: {value!r}")
        if annotation not in cm["metadata"].get("annotations", {}):
            fail(f"{where}: dashboard ConfigMap {cm['metadata']['name']} lacks the folder annotation {annotation}")
        got.update(cm["data"])
    if sorted(got) != sorted(files):
        fail(f"{where}: dashboard ConfigMaps hold {sorted(got)}, dashboards/ has {sorted(files)}")
    for name, text in files.items():
        if got[name] != text:
            fail(f"{where}: the chart's {name} differs from dashboards/{name} (run python3 scripts/gen_helm_chart.py)")


def check_defaults(objs):
    kinds = by_kind(objs)
    if sorted(kinds) != ["Deployment", "Service", "ServiceAccount"]:
        fail(f"defaults: want a Deployment, a Service and a ServiceAccount, rendered {sorted(kinds)}")
    check_core(kinds, "defaults")
    print("  defaults: Deployment, Service, ServiceAccount; one replica, Recreate, non-root, read-only, /tmp writable, probes")


def check_kubernetes_parity(objs, values):
    """ci/kubernetes-values.yaml renders what deploy/kubernetes/ holds."""
    where = "kubernetes values"
    kinds = by_kind(objs)
    check_core(kinds, where, values)
    want = {}
    for path in sorted(glob.glob(os.path.join(MANIFESTS, "*.yaml"))):
        for d in yaml.safe_load_all(open(path, encoding="utf-8")):
            if d and d["kind"] != "Kustomization":
                want.setdefault(d["kind"], []).append(d)
    if sorted(want) != sorted(kinds):
        fail(f"{where}: deploy/kubernetes/ has {sorted(want)}, the chart rendered {sorted(kinds)}")
    w_dep, g_dep = want["Deployment"][0], kinds["Deployment"][0]
    for key in ("replicas", "strategy", "revisionHistoryLimit"):
        if w_dep["spec"].get(key) != g_dep["spec"].get(key):
            fail(f"{where}: Deployment spec.{key} {g_dep['spec'].get(key)!r} != {w_dep['spec'].get(key)!r}")
    w_pod, g_pod = w_dep["spec"]["template"]["spec"], g_dep["spec"]["template"]["spec"]
    for key in ("automountServiceAccountToken", "securityContext", "terminationGracePeriodSeconds"):
        if w_pod.get(key) != g_pod.get(key):
            fail(f"{where}: pod {key} {g_pod.get(key)!r} != {w_pod.get(key)!r}")
    w_c, g_c = container(w_dep), container(g_dep)
    for key in ("name", "image", "env", "ports", "livenessProbe", "readinessProbe", "resources", "securityContext"):
        w, g = w_c.get(key), g_c.get(key)
        if key.endswith("Probe"):
            g = copy.deepcopy(g)
            g["httpGet"].pop("scheme", None)  # HTTP, the default
        if w != g:
            fail(f"{where}: container {key} {g!r} != {w!r}")
    g_args = [a for a in g_c["args"] if not a.startswith("--web.listen-address=")]
    if sorted(g_args) != sorted(w_c["args"]):
        fail(f"{where}: container args {g_args} != {w_c['args']}")
    w_sa, g_sa = want["ServiceAccount"][0], kinds["ServiceAccount"][0]
    if w_sa["metadata"]["annotations"] != g_sa["metadata"].get("annotations") or \
            w_sa.get("automountServiceAccountToken") != g_sa.get("automountServiceAccountToken"):
        fail(f"{where}: ServiceAccount annotations or token mount differ")
    w_svc, g_svc = want["Service"][0], kinds["Service"][0]
    if w_svc["spec"]["ports"] != g_svc["spec"]["ports"] or w_svc["spec"]["type"] != g_svc["spec"]["type"]:
        fail(f"{where}: Service ports {g_svc['spec']['ports']} != {w_svc['spec']['ports']}")
    w_sm, g_sm = want["ServiceMonitor"][0], kinds["ServiceMonitor"][0]
    g_eps = [{k: v for k, v in ep.items() if k != "scheme"} for ep in g_sm["spec"]["endpoints"]]
    if g_eps != w_sm["spec"]["endpoints"] or g_sm["metadata"]["labels"].get("release") != "prometheus":
        fail(f"{where}: ServiceMonitor endpoints {g_eps} != {w_sm['spec']['endpoints']}, or no release label")
    w_pr, g_pr = want["PrometheusRule"][0], kinds["PrometheusRule"][0]
    if w_pr["spec"] != g_pr["spec"]:
        fail(f"{where}: the PrometheusRule differs from deploy/kubernetes/prometheusrule.yaml")
    for key in ("release", "app.kubernetes.io/component"):
        if g_pr["metadata"]["labels"].get(key) != w_pr["metadata"]["labels"][key]:
            fail(f"{where}: PrometheusRule label {key} differs")
    n = sum(len(g["rules"]) for g in g_pr["spec"]["groups"])
    print(f"  kubernetes values: the objects of deploy/kubernetes/ ({', '.join(sorted(kinds))}), the same spec; "
          f"PrometheusRule {len(g_pr['spec']['groups'])} groups, {n} rules")


def pod_checksums(values):
    dep = by_kind(render(values))["Deployment"][0]
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    return ann["checksum/config"], ann["checksum/web-config"]


def check_all(objs, values):
    where = "all values"
    kinds = by_kind(objs)
    for kind in ("Deployment", "Service", "ServiceAccount", "ConfigMap", "Secret", "ServiceMonitor",
                 "PrometheusRule", "NetworkPolicy"):
        if kind not in kinds:
            fail(f"{where}: no {kind} rendered")
    dep = check_core(kinds, where, values)
    pod = dep["spec"]["template"]["spec"]
    c = container(dep)
    args = c["args"]
    # The flags map: a bare switch for true, nothing for false, a list repeated, whole numbers as such.
    for want in ("--cur.path=s3://my-billing-bucket/cur/kiro-cur", "--identity.identity-center",
                 "--kiro.plan=Pro Max=5000:100", "--kiro.plan=Team=3000:60", "--metrics.max-series=1000000",
                 "--kiro.overage-price=0.04", "--identity.team-group-pattern=^team-(.+)$", "--log.level=info",
                 "--web.health-without-auth"):
        if want not in args:
            fail(f"{where}: {want!r} missing from the container args {args}")
    if any(a.startswith("--kiro-cli.enabled") for a in args):
        fail(f"{where}: kiro-cli.enabled: false must give no flag")
    if args[-1] != "--log.level=info":
        fail(f"{where}: extraArgs must come last")
    # The config file and the web config: mounted where the flags point, with the values' content.
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    cfg_flag = next(a for a in args if a.startswith("--config.file=")).split("=", 1)[1]
    if os.path.dirname(cfg_flag) != mounts.get("config"):
        fail(f"{where}: --config.file {cfg_flag} is not in the config mount {mounts}")
    (cm,) = [m for m in kinds["ConfigMap"] if m["metadata"]["name"] == volumes["config"]["configMap"]["name"]]
    if yaml.safe_load(cm["data"][os.path.basename(cfg_flag)]) != values["config"]:
        fail(f"{where}: the config ConfigMap does not hold `config`")
    for name, text in values["configFiles"].items():
        if cm["data"].get(name) != text:
            fail(f"{where}: the config ConfigMap does not hold configFiles.{name} as given")
    web_flag = next(a for a in args if a.startswith("--web.config.file=")).split("=", 1)[1]
    if os.path.dirname(web_flag) != mounts.get("web-config"):
        fail(f"{where}: --web.config.file {web_flag} is not in the web config mount {mounts}")
    (secret,) = [s for s in kinds["Secret"] if s["metadata"]["name"] == volumes["web-config"]["secret"]["secretName"]]
    if yaml.safe_load(secret["stringData"][os.path.basename(web_flag)]) != values["webConfig"]["inline"]:
        fail(f"{where}: the web config Secret does not hold webConfig.inline")
    if c["livenessProbe"]["httpGet"]["scheme"] != "HTTPS" or kinds["ServiceMonitor"][0]["spec"]["endpoints"][0]["scheme"] != "https":
        fail(f"{where}: a web config with tls_server_config must make the probes and the scrape HTTPS")
    # Pod placement, environment, annotations, image.
    for key in ("nodeSelector", "tolerations", "affinity", "priorityClassName", "imagePullSecrets"):
        if pod.get(key) != values[key]:
            fail(f"{where}: pod {key} {pod.get(key)!r} != values {values[key]!r}")
    if c.get("env") != values["extraEnv"] or c.get("envFrom") != values["extraEnvFrom"]:
        fail(f"{where}: the container's env / envFrom are not extraEnv / extraEnvFrom")
    if c["image"] != f"{values['image']['repository']}:{values['image']['tag']}" or c["imagePullPolicy"] != values["image"]["pullPolicy"]:
        fail(f"{where}: image {c['image']} {c['imagePullPolicy']} is not the values'")
    for m in values["extraVolumeMounts"]:
        if m not in c["volumeMounts"]:
            fail(f"{where}: extraVolumeMounts {m} missing")
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    if any(ann.get(k) != v for k, v in values["podAnnotations"].items()):
        fail(f"{where}: podAnnotations missing")
    sa = kinds["ServiceAccount"][0]
    if sa["metadata"].get("annotations") != values["serviceAccount"]["annotations"]:
        fail(f"{where}: ServiceAccount annotations are not the values'")
    # Extra labels for the Prometheus selectors, the sidecar's label and folder.
    for kind, key in (("ServiceMonitor", "serviceMonitor"), ("PrometheusRule", "prometheusRule")):
        labels = kinds[kind][0]["metadata"]["labels"]
        if any(labels.get(k) != v for k, v in values[key]["additionalLabels"].items()):
            fail(f"{where}: {kind} lacks {values[key]['additionalLabels']}")
    sm_ep = kinds["ServiceMonitor"][0]["spec"]["endpoints"][0]
    for key in ("tlsConfig", "basicAuth", "metricRelabelings", "interval", "scrapeTimeout"):
        if sm_ep.get(key) != values["serviceMonitor"][key]:
            fail(f"{where}: ServiceMonitor endpoint {key} is not the values'")
    dash = [m for m in kinds["ConfigMap"] if "-dashboard-" in m["metadata"]["name"]]
    check_dashboards(dash, where)
    for m in dash:
        if m["metadata"]["annotations"]["grafana_folder"] != values["dashboards"]["folder"] or \
                m["metadata"]["labels"].get("team") != "finops":
            fail(f"{where}: dashboard ConfigMap {m['metadata']['name']}: folder or additional labels not the values'")
    # NetworkPolicy: from pods of the Prometheus namespace selected by labels, and the extra peers.
    (np,) = kinds["NetworkPolicy"]
    (rule,) = np["spec"]["ingress"]
    peer = rule["from"][0]
    if peer.get("namespaceSelector", {}).get("matchLabels") != {"kubernetes.io/metadata.name": values["networkPolicy"]["namespace"]} or \
            peer.get("podSelector", {}).get("matchLabels") != values["networkPolicy"]["podSelector"]:
        fail(f"{where}: the NetworkPolicy's first peer {peer} is not Prometheus' namespace and pods")
    if rule["from"][1:] != values["networkPolicy"]["extraFrom"] or np["spec"]["policyTypes"] != ["Ingress"]:
        fail(f"{where}: the NetworkPolicy's extra peers or policy types are wrong")
    # Checksums: a changed config, file or web config rolls the pod; an unrelated change does not.
    base = pod_checksums(values)
    changes = []
    for path, new, index in ((("config", "kiro.idle-after"), 11, 0), (("configFiles", "users.jsonl"), "{}\n", 0),
                             (("webConfig", "inline", "basic_auth_users"), {"other": "$2y$10$x"}, 1)):
        v = copy.deepcopy(values)
        d = v
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = new
        got = pod_checksums(v)
        if got[index] == base[index] or got[1 - index] != base[1 - index]:
            fail(f"{where}: changing {'.'.join(path)} must change checksum {index} only: {base} -> {got}")
        changes.append(".".join(path))
    v = copy.deepcopy(values)
    v["podLabels"] = {"team": "other"}
    if pod_checksums(v) != base:
        fail(f"{where}: the checksums change without a config change")
    # An existing Secret for the web config: no Secret rendered, the pod mounts the named one.
    v = copy.deepcopy(values)
    v["webConfig"] = {"existingSecret": "my-web-config", "existingSecretKey": "web.yml", "scheme": "HTTPS"}
    k2 = by_kind(render(v))
    d2 = k2["Deployment"][0]
    c2 = container(d2)
    vols = {x["name"]: x for x in d2["spec"]["template"]["spec"]["volumes"]}
    if "Secret" in k2 or vols["web-config"]["secret"]["secretName"] != "my-web-config" or \
            "--web.config.file=/etc/kiro-exporter/web/web.yml" not in c2["args"] or \
            c2["readinessProbe"]["httpGet"]["scheme"] != "HTTPS":
        fail(f"{where}: webConfig.existingSecret is not mounted and used as the web config")
    print(f"  all values: {len(objs)} objects; flags, config file, web config, placement, env, ServiceMonitor, "
          f"PrometheusRule, {len(dash)} dashboards, NetworkPolicy as the values say; checksums follow "
          f"{', '.join(changes)}; an existing web config Secret is used as named")


def cmd_objects():
    values = ci_values()
    check_defaults(render(None))
    check_kubernetes_parity(render(values["kubernetes"]), values["kubernetes"])
    check_all(render(values["all"]), values["all"])
    for name in sorted(set(values) - {"default", "kubernetes", "all"}):
        check_core(by_kind(render(values[name])), f"{name} values", values[name])
        print(f"  {name} values: consistent")


def main(argv):
    cmds = {"lint": cmd_lint, "render": cmd_render, "package": cmd_package, "objects": cmd_objects}
    if not argv or argv[0] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    cmds[argv[0]](*argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
