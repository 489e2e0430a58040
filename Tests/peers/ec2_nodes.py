#!/usr/bin/env python3
"""VM-like nodes behind the instances of a local EC2 (moto_server, Tests/peers/moto_peer.py).

moto keeps instances as records only. This companion, a client of moto like any other (boto3, an
IAM key of its own, never cloudc's code), makes them boot:

``amis``
    Prints a MOTO_AMIS_PATH file: the one AMI of this EC2, Debian 12 (owner 136693071363, Debian's
    account; root device /dev/xvda). Every instance boots the stock Debian 12 image whatever
    it names, so no other AMI is offered (with MOTO_ENABLE_AMI_VALIDATION others are refused).

``user --endpoint URL``
    Run before moto_setup.py turns authentication on: makes the IAM user ``cloud-peer-nodes``
    (DescribeInstances, DescribeKeyPairs, making the VPC) and prints its key as JSON.

``run --endpoint URL --credentials FILE --nodes DIR --node-subnet N ...``
    Makes a VPC and a subnet 10.92.N.0/24 for the peer (MapPublicIpOnLaunch false; an internet
    gateway as the route out), writes their ids to --network-file, then polls DescribeInstances:
    every pending or running instance in that subnet boots as a VM-like node (vm_nodes.py) at the
    private IP moto gave it, on the bridge ccvm-TAG where this machine is 10.92.N.1 (the VPC
    router's address, which EC2 and moto never give an instance: they keep .1-.3 back). The
    image's user ``admin`` (Debian's AMIs) gets the public key of the instance's KeyName
    (DescribeKeyPairs IncludePublicKey, read when the instance is first seen) a while after sshd
    answers, as cloud-init does; the node's own host keys then go to --host-keys/<instance-id>,
    where moto_peer.py's console reads them (MOTO_PEER_KEYS_FROM_NODES). Only an instance that
    moto says has a PublicIpAddress gets to the outside world (an apt proxy setting for the
    package cache); its public address itself is never used. An instance that stops or
    terminates loses its node (a later start boots a fresh one). A node that powers itself off
    (``systemctl poweroff`` inside) while moto says its instance is pending or running is told to
    moto_peer.py (``POST /_peer/instances/<id>/guest-poweroff``, at the same endpoint), which does
    what EC2 does by the instance's InstanceInitiatedShutdownBehavior: stopping then stopped
    ("stop", the default) or shutting-down then terminated ("terminate"); the node then goes as
    for any instance that stops or terminates. TERM removes every node and the bridge.
"""
import argparse
import ipaddress
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

DEBIAN_OWNER = "136693071363"
DEBIAN_AMI = {
    "ami_id": "ami-0deb12a0b1c2d3e4f", "name": "debian-12-amd64-20250210-2019", "state": "available",
    "public": True, "owner_id": DEBIAN_OWNER, "image_location": DEBIAN_OWNER + "/debian-12-amd64-20250210-2019",
    "description": "Debian 12 (20250210-2019)", "image_type": "machine", "architecture": "x86_64",
    "virtualization_type": "hvm", "hypervisor": "xen", "root_device_type": "ebs", "root_device_name": "/dev/xvda",
    "sriov": "simple", "creation_date": "2025-02-10T20:29:00.000Z",
}
LOGIN_USER = "admin"
SETUP_KEY = ("AKIASETUPSETUPSETUP0", "setup")  # any key works until moto_setup.py turns authentication on


def log(message):
    print(time.strftime("%H:%M:%S ") + "[ec2-nodes] " + message, flush=True)


def client(service, endpoint, region, key_id, secret):
    import boto3
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id=key_id, aws_secret_access_key=secret)


def make_user(args):
    iam = client("iam", args.endpoint, args.region, *SETUP_KEY)
    iam.create_user(UserName="cloud-peer-nodes")
    iam.put_user_policy(UserName="cloud-peer-nodes", PolicyName="nodes", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "ec2:Describe*", "ec2:CreateVpc", "ec2:CreateSubnet", "ec2:CreateTags", "ec2:CreateInternetGateway",
            "ec2:AttachInternetGateway", "ec2:CreateRoute"]}],
    }))
    key = iam.create_access_key(UserName="cloud-peer-nodes")["AccessKey"]
    print(json.dumps({"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}))


class Nodes:
    def __init__(self, ec2, backend, subnet_id, network, host_keys, endpoint=None):
        self.ec2 = ec2
        self.endpoint = endpoint  # moto_peer.py's, told of nodes powered off from inside
        self.host_keys = host_keys
        self.backend = backend
        self.subnet_id = subnet_id
        self.network = network
        self.router = str(next(network.hosts()))
        self.booted = {}    # instance id → private IP
        self.removing = {}  # private IP → thread removing the node that had it
        self.skipped = set()
        self.powered_off = set()  # instance ids whose node's poweroff moto_peer.py has been told

    def public_key(self, key_name):
        if not key_name:
            return None
        try:
            pairs = self.ec2.describe_key_pairs(KeyNames=[key_name], IncludePublicKey=True)["KeyPairs"]
        except Exception as error:  # deleted before the instance was seen
            log("key pair %s: %s" % (key_name, error))
            return None
        if not pairs or not (pairs[0].get("PublicKey") or "").strip():
            log("key pair %s: moto gives no public key" % key_name)
            return None
        return pairs[0]["PublicKey"].strip()

    def poll(self):
        instances = [i for page in self.ec2.get_paginator("describe_instances").paginate()
                     for r in page["Reservations"] for i in r["Instances"]]
        live = {}
        for instance in instances:
            if instance["State"]["Name"] in ("pending", "running"):
                live[instance["InstanceId"]] = instance
        for instance_id in [i for i in self.booted if i not in live]:
            self.remove(instance_id)
        for instance_id in [i for i in self.booted if i not in self.powered_off]:
            node = self.backend.get(instance_id)
            if node is not None and node.state() == "terminated":
                self.guest_poweroff(instance_id)
        for instance_id, instance in live.items():
            if instance_id not in self.booted and instance_id not in self.skipped:
                self.boot(instance)
        for address, thread in list(self.removing.items()):
            if not thread.is_alive():
                del self.removing[address]

    def boot(self, instance):
        instance_id = instance["InstanceId"]
        address = instance.get("PrivateIpAddress")
        if instance.get("SubnetId") != self.subnet_id or not address or ipaddress.ip_address(address) not in self.network:
            log("%s is not in the peer's subnet %s (%s, %s): no node" % (instance_id, self.network,
                                                                         instance.get("SubnetId"), address))
            self.skipped.add(instance_id)
            return
        if address == self.router:
            log("%s has %s, the VPC router's address (this machine): no node" % (instance_id, address))
            self.skipped.add(instance_id)
            return
        if address in self.removing:
            return  # moto gave the address of a terminated instance again: boot once its node is gone
        key = self.public_key(instance.get("KeyName"))
        public = instance.get("PublicIpAddress")
        hostname = "ip-" + address.replace(".", "-")
        node = self.backend.create(instance_id, hostname, address, None, 0, "%s:%s" % (LOGIN_USER, key) if key else "",
                                   internet=bool(public), folder=instance_id)
        if self.host_keys:
            threading.Thread(target=self.tell_host_keys, args=(instance_id, node), daemon=True).start()
        self.booted[instance_id] = address
        log("%s (%s, key %s): node %s at %s%s" % (instance_id, instance["State"]["Name"], instance.get("KeyName"),
                                                  hostname, address,
                                                  ", with internet (public IP %s)" % public if public else ""))

    def tell_host_keys(self, instance_id, node):
        """Once the node's sshd answers, its host keys go where moto_peer.py's console reads them."""
        if not node.sshd_answered.wait(300) or node.deleted:
            return
        os.makedirs(self.host_keys, exist_ok=True)
        path = os.path.join(self.host_keys, instance_id)
        with open(path + ".tmp", "w") as f:
            f.writelines("%s %s\n" % key for key in node.host_keys())
        os.rename(path + ".tmp", path)

    def guest_poweroff(self, instance_id):
        """The node powered itself off: moto_peer.py makes its instance stop or terminate, as EC2 does.
        Told once; again at the next poll only where moto could not be reached."""
        log("%s: its node powered off from inside" % instance_id)
        if not self.endpoint:
            self.powered_off.add(instance_id)
            return
        request = urllib.request.Request("%s/_peer/instances/%s/guest-poweroff" % (self.endpoint, instance_id),
                                         data=b"", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read() or b"{}")
            log("%s: InstanceInitiatedShutdownBehavior %s: %s" % (instance_id, answer.get("behavior"),
                                                                  answer.get("state")))
        except urllib.error.HTTPError as error:  # not pending or running any more, or no moto_peer.py
            log("%s: moto_peer.py answered %d: %s" % (instance_id, error.code,
                                                       error.read().decode("utf-8", "replace").strip()))
        except (urllib.error.URLError, OSError) as error:
            log("%s: moto_peer.py not reached (%s): again at the next poll" % (instance_id, error))
            return
        self.powered_off.add(instance_id)

    def remove(self, instance_id):
        address = self.booted.pop(instance_id)
        self.powered_off.discard(instance_id)
        log("%s is gone: removing its node at %s" % (instance_id, address))
        thread = threading.Thread(target=self.backend.delete, args=(instance_id,), daemon=True)
        thread.start()
        self.removing[address] = thread


def make_network(ec2, cidr):
    tags = [{"Key": "Name", "Value": "cloud-peer"}]
    vpc = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}])["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=ec2.meta.region_name + "a",
                               TagSpecifications=[{"ResourceType": "subnet", "Tags": tags}])["Subnet"]["SubnetId"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    table = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    return {"vpc": vpc, "subnet": subnet, "cidr": cidr, "internet_gateway": gateway}


def run(args):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import vm_nodes
    with open(args.credentials) as f:
        key = json.load(f)
    ec2 = client("ec2", args.endpoint, args.region, key["access_key_id"], key["secret_access_key"])
    cidr = "10.92.%d.0/24" % args.node_subnet
    network = make_network(ec2, cidr)
    # This machine is the VPC router (.1) on the subnet's bridge: it reaches every instance at its
    # private IP, as a machine in the VPC (or behind a VPN into it) does.
    backend = vm_nodes.Backend(args.nodes, args.node_images, args.node_tag, args.package_cache_port, args.user_delay,
                               internal=cidr, host_internal=True)
    stopping = threading.Event()

    def shut_down(*_):
        stopping.set()
        backend.shutdown()
        os._exit(0)
    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    if args.network_file:
        with open(args.network_file + ".tmp", "w") as f:
            json.dump(network, f)
        os.rename(args.network_file + ".tmp", args.network_file)
    log("VPC %s, subnet %s (%s), this machine at %s on ccvm-%s" % (network["vpc"], network["subnet"], cidr,
                                                                  next(ipaddress.ip_network(cidr).hosts()), args.node_tag))
    nodes = Nodes(ec2, backend, network["subnet"], ipaddress.ip_network(cidr), args.host_keys, args.endpoint.rstrip("/"))
    while not stopping.is_set():
        try:
            nodes.poll()
        except Exception as error:  # moto busy or restarting: try again
            log("polling failed: %s" % error)
        time.sleep(args.poll_seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("amis")
    user = commands.add_parser("user")
    user.add_argument("--endpoint", required=True)
    user.add_argument("--region", default="us-east-1")
    go = commands.add_parser("run")
    go.add_argument("--endpoint", required=True, help="moto_server's URL")
    go.add_argument("--region", default="us-east-1")
    go.add_argument("--credentials", required=True, help="JSON with access_key_id and secret_access_key (`user`)")
    go.add_argument("--nodes", required=True, help="the nodes' files go in this folder")
    go.add_argument("--node-images", default="/var/lib/cloudc/vm-images", help="where the stock image is built, once")
    go.add_argument("--node-tag", default="ec2", help="names the nodes' bridge (ccvm-TAG)")
    go.add_argument("--node-subnet", type=int, default=7, help="the VPC and subnet: 10.92.N.0/24")
    go.add_argument("--network-file", help="written (renamed into place) with the VPC's and subnet's ids")
    go.add_argument("--host-keys", help="each node's host keys go to a file of this folder named after its instance "
                                        "(moto_peer.py's MOTO_PEER_HOST_KEYS) once its sshd answers")
    go.add_argument("--package-cache-port", type=int, help="the package cache the instances with a public IP use")
    go.add_argument("--user-delay", type=float, default=float(os.environ.get("CLOUD_PEER_USER_DELAY", "5")),
                    help="seconds after sshd answers before the login user is made (CLOUD_PEER_USER_DELAY)")
    go.add_argument("--poll-seconds", type=float, default=1.0)
    args = parser.parse_args()
    if args.command == "amis":
        print(json.dumps([DEBIAN_AMI], indent=1))
    elif args.command == "user":
        make_user(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
