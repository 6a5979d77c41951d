"""Facts of the Kubernetes manifests, one per line, for tests/images.rs (which has no YAML
parser). Each `---` document is loaded on its own, as Kubernetes does.

Usage: manifests.py DIR   (DIR/kustomization.yaml lists the resource files)
Lines:
  file NAME                                    a resource file the kustomization lists
  kind KIND NAME                               every object
  workload KIND NAME replicas=N strategy=S grace=N fsGroup=N
  role NAME ROLE                               `--role ROLE` of a workload's container
  env NAME VAR                                 a variable a Pulp container gets (env, envFrom)
  probe NAME readiness|liveness ARGV...        exec probes
  mount NAME PATH CLAIM_OR_SECRET
  service NAME TYPE PORT...                    TYPE: ClusterIP or None (headless)
  claim NAME ACCESS_MODE...
"""
import os
import sys

import yaml

root = sys.argv[1]
with open(os.path.join(root, "kustomization.yaml")) as f:
    kustomization = yaml.safe_load(f)
objects = []
for name in kustomization["resources"]:
    print("file", name)
    with open(os.path.join(root, name)) as f:
        objects += [doc for doc in yaml.safe_load_all(f) if doc]

config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
for o in objects:
    kind, name = o["kind"], o["metadata"]["name"]
    print("kind", kind, name)
    spec = o.get("spec", {})
    if kind == "Service":
        ports = " ".join(str(p["port"]) for p in spec["ports"])
        print("service", name, "None" if spec.get("clusterIP") == "None" else spec.get("type", "ClusterIP"), ports)
    if kind == "PersistentVolumeClaim":
        print("claim", name, *spec["accessModes"])
    if kind not in ("Deployment", "StatefulSet"):
        continue
    pod = spec["template"]["spec"]
    strategy = spec.get("strategy", {}).get("type", "-")
    print("workload", kind, name, f"replicas={spec.get('replicas', 1)}", f"strategy={strategy}",
          f"grace={pod.get('terminationGracePeriodSeconds', '-')}",
          f"fsGroup={pod.get('securityContext', {}).get('fsGroup', '-')}")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for c in pod["containers"]:
        args = c.get("args", [])
        if "--role" in args:
            print("role", name, args[args.index("--role") + 1])
            for e in c.get("env", []):
                print("env", name, e["name"])
            for src in c.get("envFrom", []):
                for var in config_maps[src["configMapRef"]["name"]]:
                    print("env", name, var)
        for which in ("readiness", "liveness"):
            probe = c.get(which + "Probe", {})
            if "exec" in probe:
                print("probe", name, which, *probe["exec"]["command"])
        for m in c.get("volumeMounts", []):
            v = volumes.get(m["name"], {})
            source = (v.get("persistentVolumeClaim", {}).get("claimName")
                      or v.get("secret", {}).get("secretName") or "-")
            print("mount", name, m["mountPath"], source)
