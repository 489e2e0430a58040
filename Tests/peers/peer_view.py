#!/usr/bin/env python3
"""What a cloud peer started by scripts/cloud-peer.sh holds, in the peer's own words (its state
endpoint, or boto3 against moto), never cloudc's: which nodes run, which have a public address,
and what of a cluster is left.

usage: peer_view.py gce|ec2|openstack DIR
prints JSON: {"nodes": {NODE: {"group": G, "public": ADDRESS or null, "status": S}},
              "left": {KIND: [names of what is still there]}}
A node is an instance/server not yet deleted, named by its cloudc node label, tag or metadata.
"""
import json
import re
import sys
import urllib.request


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


if __name__ == "__main__":
    cloud, directory = sys.argv[1:3]
    nodes, left = {"gce": gce, "ec2": ec2, "openstack": openstack}[cloud](directory)
    print(json.dumps({"nodes": nodes, "left": left}, sort_keys=True))
