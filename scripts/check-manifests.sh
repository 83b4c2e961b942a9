#!/usr/bin/env bash
# Checks the Kubernetes manifests of deploy/kubernetes/ without a cluster or kubectl (issue 12,
# item 7), offline once kubernetes-validate (PyPI, with the Kubernetes schemas inside) is installed:
#   1. every manifest is valid against the Kubernetes schema (kubernetes-validate --strict:
#      unknown fields are errors too), and kustomization.yaml lists exactly the manifests there
#      (but secrets.yaml, whose placeholders are never applied);
#   2. they name only what exists:
#      - images: the image deploy/container/Containerfile builds (its ref.name label), nothing else;
#      - commands: each container's `ucp` subcommand and every --option it passes are in that
#        subcommand's --help of the ucp built from this tree (an init container's program is
#        installed in the image);
#      - ports: the port of --listen / --metrics-listen is the container's declared port, the
#        Containerfile EXPOSEs it, probes and Services and the Prometheus annotation name declared
#        ports;
#      - probes: every probe path is a route the subcommand serves (the routes of Sources/: the
#        telemetry listener's for worker and coordinator, serve's own for serve); exec probes run a
#        program the image installs and read files from mounted volumes;
#      - references: Secrets, ConfigMaps and their keys, volumes, the HPA's Deployment, and its
#        external metric (recorded by Sources/ and published by the adapter's rules).
# Prints one line per breach and exits 1 when there is any; ends with
#   check-manifests: ok (N manifests, M resources)
# A subcommand this build does not have (serve before it lands) is reported with `skip:` and its
# container's checks are left out.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if ! command -v kubernetes-validate >/dev/null 2>&1 && ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
    echo "[manifests] installing kubernetes-validate (PyPI)"
    PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet kubernetes-validate
fi
UCP=${UCP_BIN:-$ROOT/.build/debug/ucp}
if [[ ! -x $UCP ]]; then
    swift build --product ucp >&2
fi

manifests=()
for file in deploy/kubernetes/*.yaml deploy/kubernetes/adapter/*.yaml; do
    [[ $(basename "$file") == kustomization.yaml ]] || manifests+=("$file")
done
schema_ok=1
python3 -m kubernetes_validate --strict --quiet "${manifests[@]}" || schema_ok=0

UCP="$UCP" SCHEMA_OK=$schema_ok exec python3 - "${manifests[@]}" <<'PYTHON'
import os, re, subprocess, sys
import yaml

ucp = os.environ["UCP"]
breaches = []
def breach(where, what):
    breaches.append(f"{where}: {what}")
if os.environ["SCHEMA_OK"] != "1":
    # The checks below read the manifests as the schema says they are.
    print("deploy/kubernetes: kubernetes-validate found manifests invalid against the schema (above)")
    sys.exit(1)

files = sys.argv[1:]
resources = []  # (file, document)
for path in files:
    with open(path) as handle:
        for document in yaml.safe_load_all(handle):
            if document:
                resources.append((path, document))

# kustomization.yaml lists exactly the manifests of deploy/kubernetes/ (the adapter's are apart).
with open("deploy/kubernetes/kustomization.yaml") as handle:
    kustomization = yaml.safe_load(handle)
listed = set(kustomization.get("resources", []))
# secrets.yaml holds placeholders: applying it would overwrite the real Secrets.
present = {os.path.basename(p) for p in files if os.path.dirname(p) == "deploy/kubernetes"} - {"secrets.yaml"}
for name in sorted(present - listed):
    breach("deploy/kubernetes/kustomization.yaml", f"does not list {name}")
for name in sorted(listed - present):
    breach("deploy/kubernetes/kustomization.yaml", f"lists {name}, which does not exist")

# The image: what the Containerfile builds, exposes and installs.
containerfile = open("deploy/container/Containerfile").read()
image = re.search(r'org\.opencontainers\.image\.ref\.name="([^"]+)"', containerfile)
image = image.group(1) if image else None
if not image:
    breach("deploy/container/Containerfile", "no org.opencontainers.image.ref.name label")
exposed = {int(p) for line in re.findall(r"^EXPOSE (.+)$", containerfile, re.M) for p in line.split()}
final_stage = containerfile.split("\nFROM ")[-1]
installed_programs = {"install", "sh", "cp", "cat", "ucp"}
if re.search(r"\bcurl\b", final_stage):
    installed_programs.add("curl")
for entry in kustomization.get("images", []):
    if entry.get("name") != image:
        breach("deploy/kubernetes/kustomization.yaml", f"images: {entry.get('name')} is not the image the Containerfile builds ({image})")

# What ucp serves, from Sources/: the telemetry listener's routes, and serve's own.
def literal_routes(folder):
    routes = set()
    for directory, _, names in os.walk(folder):
        for name in names:
            if name.endswith(".swift"):
                text = open(os.path.join(directory, name)).read()
                routes |= {"/" + r for r in re.findall(r'router\.get\("([a-z]+)"\)', text)}
                routes |= set(re.findall(r'"(/[a-z]+)"', text))
    return routes
telemetry_routes = {"/" + r for r in re.findall(r'router\.get\("([a-z]+)"\)', open("Sources/Telemetry/MetricsListener.swift").read())}
serve_routes = telemetry_routes | literal_routes("Sources/APIServer")
routes_of = {"worker": telemetry_routes, "coordinator": telemetry_routes, "serve": serve_routes}
recorded_metrics = set()
for directory, _, names in os.walk("Sources"):
    for name in names:
        if name.endswith(".swift"):
            recorded_metrics |= set(re.findall(r'label: "(ucp_[a-z_]+)"', open(os.path.join(directory, name)).read()))

help_cache = {}
def subcommand_help(name):
    if name not in help_cache:
        # An unknown subcommand gets ucp's own help; a known one's starts "USAGE: ucp NAME".
        result = subprocess.run([ucp, name, "--help"], capture_output=True, text=True)
        known = result.returncode == 0 and re.search(r"^USAGE: ucp " + re.escape(name) + r"\b", result.stdout, re.M)
        help_cache[name] = result.stdout if known else None
    return help_cache[name]

by_kind = {}
for path, document in resources:
    by_kind.setdefault(document["kind"], {})[(document["metadata"].get("namespace"), document["metadata"]["name"])] = (path, document)

def secret_keys(namespace, name):
    found = by_kind.get("Secret", {}).get((namespace, name))
    if not found: return None
    return set(found[1].get("stringData", {})) | set(found[1].get("data", {}))
def config_keys(namespace, name):
    found = by_kind.get("ConfigMap", {}).get((namespace, name))
    return set(found[1].get("data", {})) if found else None

def pod_spec(document):
    kind = document["kind"]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return document["spec"]["template"]
    if kind == "CronJob":
        return document["spec"]["jobTemplate"]["spec"]["template"]
    return None

def listen_port(arguments, option):
    if option in arguments:
        index = arguments.index(option)
        if index + 1 < len(arguments):
            value = arguments[index + 1]
            return int(value.rsplit(":", 1)[-1]) if value.rsplit(":", 1)[-1].isdigit() else None
    return None

pods_ports = {}  # (namespace, deployment) → {name: port}
for path, document in resources:
    template = pod_spec(document)
    if template is None:
        continue
    namespace = document["metadata"].get("namespace")
    where = f"{path}: {document['kind']} {document['metadata']['name']}"
    spec = template["spec"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for volume in volumes.values():
        if "secret" in volume and secret_keys(namespace, volume["secret"]["secretName"]) is None:
            breach(where, f"volume {volume['name']}: no Secret {volume['secret']['secretName']} in the manifests")
    all_ports = {}
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        cwhere = f"{where}, container {container['name']}"
        name, _, tag = container["image"].partition(":")
        if name != image:
            breach(cwhere, f"image {container['image']} is not the image deploy/container/Containerfile builds ({image})")
        mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
        for volume in mounts:
            if volume not in volumes:
                breach(cwhere, f"mounts volume {volume}, which the pod does not declare")
        environment = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                keys = config_keys(namespace, source["configMapRef"]["name"])
                if keys is None:
                    breach(cwhere, f"envFrom: no ConfigMap {source['configMapRef']['name']}")
                else:
                    environment.update(by_kind["ConfigMap"][(namespace, source["configMapRef"]["name"])][1]["data"])
        for variable in container.get("env", []):
            reference = variable.get("valueFrom", {})
            if "secretKeyRef" in reference:
                keys = secret_keys(namespace, reference["secretKeyRef"]["name"])
                if keys is None or reference["secretKeyRef"]["key"] not in keys:
                    breach(cwhere, f"env {variable['name']}: no key {reference['secretKeyRef']['key']} in Secret {reference['secretKeyRef']['name']}")
            if "configMapKeyRef" in reference:
                keys = config_keys(namespace, reference["configMapKeyRef"]["name"])
                if keys is None or reference["configMapKeyRef"]["key"] not in keys:
                    breach(cwhere, f"env {variable['name']}: no key {reference['configMapKeyRef']['key']} in ConfigMap {reference['configMapKeyRef']['name']}")
        key_file = environment.get("UCP_SECRET_KEY_FILE")
        if key_file and "args" in container and not any(key_file.startswith(p.rstrip("/") + "/") for p in mounts.values()):
            breach(cwhere, f"UCP_SECRET_KEY_FILE {key_file} is on no mounted volume")
        ports = {p.get("name", str(p["containerPort"])): p["containerPort"] for p in container.get("ports", [])}
        all_ports.update(ports)
        for port in ports.values():
            if port not in exposed:
                breach(cwhere, f"port {port} is not EXPOSEd by the Containerfile")
        if "command" in container:
            if container["command"][0] not in installed_programs:
                breach(cwhere, f"runs {container['command'][0]}, which the image does not install")
            continue
        arguments = container.get("args", [])
        if not arguments:
            breach(cwhere, "no ucp subcommand in args")
            continue
        subcommand = arguments[0]
        text = subcommand_help(subcommand)
        if text is None:
            print(f"skip: {cwhere}: `ucp {subcommand}` is not in this build; its arguments and probes are not checked")
            continue
        for option in arguments[1:]:
            if option.startswith("--") and not re.search(r"(^|\s)" + re.escape(option) + r"(\s|$|=|,)", text, re.M):
                breach(cwhere, f"ucp {subcommand} has no option {option}")
        for option in ("--listen", "--metrics-listen"):
            port = listen_port(arguments, option)
            if option in arguments and port not in ports.values():
                breach(cwhere, f"{option} port {port} is not a declared container port ({sorted(ports.values())})")
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = container.get(kind)
            if not probe:
                continue
            if "httpGet" in probe:
                port = probe["httpGet"]["port"]
                if (port not in ports) and (port not in ports.values()):
                    breach(cwhere, f"{kind}: port {port} is not declared")
                if probe["httpGet"]["path"] not in routes_of.get(subcommand, set()):
                    breach(cwhere, f"{kind}: ucp {subcommand} serves no {probe['httpGet']['path']}")
            if "exec" in probe:
                command = probe["exec"]["command"]
                if command[0] not in installed_programs:
                    breach(cwhere, f"{kind}: runs {command[0]}, which the image does not install")
                for word in command:
                    url = re.match(r"https?://127\.0\.0\.1:(\d+)(/[^?]*)", word)
                    if url:
                        if int(url.group(1)) not in ports.values():
                            breach(cwhere, f"{kind}: port {url.group(1)} is not declared")
                        if url.group(2) not in routes_of.get(subcommand, set()):
                            breach(cwhere, f"{kind}: ucp {subcommand} serves no {url.group(2)}")
                    if word.startswith("@/") and not any(word[1:].startswith(p.rstrip("/") + "/") for p in mounts.values()):
                        breach(cwhere, f"{kind}: reads {word[1:]}, which is on no mounted volume")
    annotations = template.get("metadata", {}).get("annotations", {})
    if annotations.get("prometheus.io/scrape") == "true" and int(annotations.get("prometheus.io/port", 0)) not in all_ports.values():
        breach(where, f"prometheus.io/port {annotations.get('prometheus.io/port')} is not a declared container port")
    pods_ports[(namespace, document["metadata"]["name"])] = (template["metadata"].get("labels", {}), all_ports)

for (namespace, name), (path, service) in by_kind.get("Service", {}).items():
    selector = service["spec"].get("selector", {})
    targets = [ports for labels, ports in pods_ports.values() if selector.items() <= labels.items()]
    if not targets:
        breach(f"{path}: Service {name}", "selects no pod of the manifests")
    for port in service["spec"].get("ports", []):
        target = port.get("targetPort", port["port"])
        if targets and not any(target in ports or target in ports.values() for ports in targets):
            breach(f"{path}: Service {name}", f"targetPort {target} is no port of the pods it selects")

adapter_metrics = set()
for path, document in resources:
    if document["kind"] == "ConfigMap" and "config.yaml" in document.get("data", {}):
        config = yaml.safe_load(document["data"]["config.yaml"])
        for rule in config.get("externalRules", []) + config.get("rules", []):
            adapter_metrics.add(rule.get("name", {}).get("as"))
            series = re.match(r"[a-z_]+", rule.get("seriesQuery", ""))
            if series and series.group(0) not in recorded_metrics:
                breach(path, f"the adapter's rule reads {series.group(0)}, which Sources/ does not record")
for (namespace, name), (path, hpa) in by_kind.get("HorizontalPodAutoscaler", {}).items():
    target = hpa["spec"]["scaleTargetRef"]
    if (namespace, target["name"]) not in by_kind.get(target["kind"], {}):
        breach(f"{path}: HorizontalPodAutoscaler {name}", f"scales {target['kind']} {target['name']}, which the manifests do not define")
    for metric in hpa["spec"].get("metrics", []):
        if metric["type"] == "External":
            metric_name = metric["external"]["metric"]["name"]
            if metric_name not in recorded_metrics:
                breach(f"{path}: HorizontalPodAutoscaler {name}", f"external metric {metric_name} is not recorded by Sources/")
            if metric_name not in adapter_metrics:
                breach(f"{path}: HorizontalPodAutoscaler {name}", f"external metric {metric_name} is published by no adapter rule")

for line in breaches:
    print(line)
if breaches:
    sys.exit(1)
print(f"check-manifests: ok ({len(files)} manifests, {len(resources)} resources)")
PYTHON
