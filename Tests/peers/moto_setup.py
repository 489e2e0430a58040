#!/usr/bin/env python3
"""Prepare a fresh moto_server for signed EC2 calls.

Creates an IAM user allowed ec2:*, gives it an access key, then turns moto's
authentication on (every later request must carry a valid SigV4 signature from
a known key). Prints the key as JSON: {"access_key_id": ..., "secret_access_key": ...}.

usage: moto_setup.py ENDPOINT [DENIED_ACTION ...]   (e.g. ec2:GetConsoleOutput, denied to the user)
"""
import json
import sys
import urllib.request

import boto3

endpoint = sys.argv[1]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="AKIASETUPSETUPSETUP0", aws_secret_access_key="setup")
iam.create_user(UserName="cloudc-test")
iam.put_user_policy(UserName="cloudc-test", PolicyName="ec2-all", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["ec2:*"], "Resource": "*"}]
    + ([{"Effect": "Deny", "Action": sys.argv[2:], "Resource": "*"}] if sys.argv[2:] else []),
}))
key = iam.create_access_key(UserName="cloudc-test")["AccessKey"]
# From now on moto checks every request's signature and the caller's IAM policy.
request = urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                 headers={"Content-Type": "text/plain"})
urllib.request.urlopen(request).read()
print(json.dumps({"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}))
