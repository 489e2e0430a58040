#!/usr/bin/env python3
"""Count what EC2 (moto) holds for a cluster, through boto3: an independent view.

usage: ec2_inventory.py ENDPOINT ACCESS_KEY_ID SECRET_ACCESS_KEY CLUSTER
prints JSON: {"live_instances": [...ids], "all_instances": n, "key_pairs": [...names],
              "security_groups": [...ids], "instance_tags": {id: {k: v}}, "volumes": [...ids of every volume]}
"""
import json
import sys

import boto3

endpoint, key_id, secret, cluster = sys.argv[1:5]
ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id=key_id, aws_secret_access_key=secret)
tag_filter = [{"Name": "tag:cloudc:cluster", "Values": [cluster]}]
instances = [i for r in ec2.describe_instances(Filters=tag_filter)["Reservations"] for i in r["Instances"]]
live = [i for i in instances if i["State"]["Name"] not in ("terminated",)]
keys = ec2.describe_key_pairs(Filters=tag_filter)["KeyPairs"]
groups = ec2.describe_security_groups(Filters=tag_filter)["SecurityGroups"]
print(json.dumps({
    "live_instances": sorted(i["InstanceId"] for i in live),
    "all_instances": len(instances),
    "key_pairs": sorted(k["KeyName"] for k in keys),
    "security_groups": sorted(g["GroupId"] for g in groups),
    "instance_tags": {i["InstanceId"]: {t["Key"]: t["Value"] for t in i.get("Tags", [])} for i in live},
    "instance_types": {i["InstanceId"]: i["InstanceType"] for i in live},
    "private_ips": {i["InstanceId"]: i.get("PrivateIpAddress") for i in live},
    "public_ips": {i["InstanceId"]: i.get("PublicIpAddress") for i in live},
    # The address cloudc reaches each instance at: its public one, else its private one.
    "addresses": {i["InstanceId"]: i.get("PublicIpAddress") or i.get("PrivateIpAddress") for i in live},
    # Every volume of the account (a test's moto holds one cluster): what would still be billed.
    "volumes": sorted(v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]),
    "ssh_cidrs": sorted({r["CidrIp"] for g in groups for p in g["IpPermissions"]
                         if p.get("FromPort") == 22 for r in p.get("IpRanges", [])}),
}, default=str))
