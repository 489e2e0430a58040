#!/usr/bin/env python3
"""What a cloud peer started by scripts/cloud-peer.sh holds, in the peer's own words (its state
endpoint, or boto3 against moto), never cloudc's: which nodes run, which have a public address,
and what of a cluster is left.

usage: peer_view.py gce|ec2|openstack DIR
prints JSON: {"nodes": {NODE: {"group": G, "public": ADDRESS or null, "status": S}},
              "left": {KIND: [names of what is still there]}}
A node is an instance/server not yet deleted, named by its cloudc node label, tag or metadata.

usage: peer_view.py ssh DIR
The machines of `cloud-peer.sh start ssh`, seen from inside each (nsenter into its init's
namespaces, never over SSH): prints JSON {"hosts": {HOST: {"address", "port", "running",
"hostname" (now), "hosts_sha256", "hostname_file_sha256", "daemons": [those of slurmd, slurmctld,
munged, apt-cacher-ng that run], "enabled": {UNIT: `systemctl is-enabled` or "absent"},
"cloudc_paths": [those of CLOUDC_PATHS that exist], "baseline_ok": {"hosts", "hostname_file",
"hostname": same as DIR/baseline/HOST.txt}}}, "baseline_ok": every host's all true}.
"""
import json
import os
import re
import subprocess
import sys
import urllib.request

DAEMONS = ["slurmd", "slurmctld", "munged", "apt-cacher-ng"]
UNITS = ["slurmd", "slurmctld", "munge"]
CLOUDC_PATHS = ["/var/lib/cloudc", "/var/lib/cloudc/own-machine", "/etc/slurm/slurm.conf", "/etc/slurm/cgroup.conf", "/etc/slurm/gres.conf",
                "/etc/apt/apt.conf.d/99cloudc-proxy"]


def peer_state(directory):
    port = open(directory + "/peer.port").read().strip()
    return json.load(urllib.request.urlopen("http://127.0.0.1:%s/_peer/state" % port, timeout=30))


def gce(directory):
    state = peer_state(directory)
    nodes = {i["labels"].get("cloudc-node", i["name"]): {"group": i["labels"].get("cloudc-group"), "public": i["natIP"],
                                                         "status": i["status"]}
             for i in state["instances"]}
    left = {"instances": [i["name"] for i in state["instances"]], "disks": [d["name"] for d in state["disks"]],
            "firewalls": [f["name"] for f in state["firewalls"] if f["name"].startswith("cloudc-")]}
    return nodes, left


def openstack(directory):
    state = peer_state(directory)
    servers = [s for s in state["servers"] if not s["deleting"]]
    nodes = {s["metadata"].get("cloudc-node", s["name"]): {"group": s["metadata"].get("cloudc-group"), "public": s["floating_ip"],
                                                           "status": s["status"]}
             for s in servers}
    left = {"servers": [s["name"] for s in state["servers"]],
            "floating_ips": [f["address"] for f in state["floating_ips"]],
            "security_groups": [g["name"] for g in state["security_groups"] if g["name"].startswith("cloudc-")],
            "keypairs": [k["name"] for k in state["keypairs"] if k["name"].startswith("cloudc-")]}
    return nodes, left


def ec2(directory):
    import boto3
    config = open(directory + "/config.yaml").read()
    endpoint = re.search(r"^\s+endpoint: (\S+)$", config, re.M).group(1)
    key = json.load(open(directory + "/ec2/key.json"))
    client = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=key["access_key_id"], aws_secret_access_key=key["secret_access_key"])
    tagged = [{"Name": "tag-key", "Values": ["cloudc:cluster"]}]
    instances = [i for r in client.describe_instances(Filters=tagged)["Reservations"] for i in r["Instances"]
                 if i["State"]["Name"] != "terminated"]
    nodes = {}
    for instance in instances:
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        nodes[tags.get("cloudc:node", instance["InstanceId"])] = {
            "group": tags.get("cloudc:group"), "public": instance.get("PublicIpAddress"), "status": instance["State"]["Name"]}
    left = {"instances": [i["InstanceId"] for i in instances],
            "security_groups": [g["GroupName"] for g in client.describe_security_groups(Filters=tagged)["SecurityGroups"]],
            "key_pairs": [k["KeyName"] for k in client.describe_key_pairs(Filters=tagged)["KeyPairs"]],
            "volumes": [v["VolumeId"] for v in client.describe_volumes(Filters=tagged)["Volumes"]]}
    return nodes, left


def init_pid(folder):
    """The init of the node whose root is FOLDER/root: the child of its systemd-nspawn, or None."""
    nspawn = None
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = open("/proc/%s/cmdline" % entry, "rb").read().split(b"\0")
            stat = open("/proc/%s/stat" % entry).read()
        except OSError:
            continue
        parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
        if argv[0].endswith(b"systemd-nspawn") and ("--directory=%s/root" % folder).encode() in argv:
            nspawn = int(entry)
    return next((pid for pid, parent in parents.items() if nspawn and parent == nspawn), None)


def inside(pid, script):
    # Its PID namespace too: systemctl asks its systemd.
    command = ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--", "/bin/sh", "-c", script]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def ssh(directory):
    hosts = json.load(open(directory + "/hosts.json"))
    view = {}
    for name, host in sorted(hosts.items()):
        entry = view[name] = {"address": host["address"], "port": host["port"], "running": False}
        pid = init_pid(host["folder"])
        if pid is None:
            continue
        script = "; ".join([
            "echo hostname $(hostname)",
            "echo hosts_sha256 $(sha256sum < /etc/hosts | cut -d' ' -f1)",
            "echo hostname_file_sha256 $(sha256sum < /etc/hostname | cut -d' ' -f1)",
            *("pgrep -x %s > /dev/null && echo daemon %s" % (d, d) for d in DAEMONS),
            *("echo enabled %s $(systemctl is-enabled %s.service 2>/dev/null)" % (u, u) for u in UNITS),
            *("[ -e %s ] && echo path %s" % (p, p) for p in CLOUDC_PATHS),
            "true"])
        result = inside(pid, script)
        if result.returncode != 0:
            entry["error"] = result.stderr.strip()
            continue
        entry.update(running=True, daemons=[], enabled={}, cloudc_paths=[])
        for line in result.stdout.splitlines():
            key, _, value = line.partition(" ")
            if key == "daemon":
                entry["daemons"].append(value)
            elif key == "enabled":
                unit, _, state = value.partition(" ")
                entry["enabled"][unit] = state or "absent"
            elif key == "path":
                entry["cloudc_paths"].append(value)
            else:
                entry[key] = value
        baseline = dict(line.split(" ", 1) for line in open("%s/baseline/%s.txt" % (directory, name)).read().splitlines())
        entry["baseline_ok"] = {"hosts": entry["hosts_sha256"] == baseline["hosts_sha256"],
                                "hostname_file": entry["hostname_file_sha256"] == baseline["hostname_file_sha256"],
                                "hostname": entry["hostname"] == baseline["hostname"]}
    all_ok = all(h["running"] and all(h["baseline_ok"].values()) for h in view.values())
    return {"hosts": view, "baseline_ok": all_ok}


if __name__ == "__main__":
    cloud, directory = sys.argv[1:3]
    if cloud == "ssh":
        print(json.dumps(ssh(directory), sort_keys=True))
        sys.exit(0)
    nodes, left = {"gce": gce, "ec2": ec2, "openstack": openstack}[cloud](directory)
    print(json.dumps({"nodes": nodes, "left": left}, sort_keys=True))
