#!/usr/bin/env python3
"""Checks aws_pricing.py (GetProducts of the Price List Query API) through moto_peer.py, started
as Tests/TestSupport/MotoServer.swift starts it and prepared by moto_setup.py, with boto3 as the
client (and raw signed requests where boto3 would refuse to send what is checked). Stops the
server by its PID.

usage: python3 Tests/peers/test_aws_pricing.py [-v]
"""
import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from unittest import mock

import boto3
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

PEERS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, PEERS)
import aws_price_list  # noqa: E402

LINUX = [("operatingSystem", "Linux"), ("tenancy", "Shared"), ("preInstalledSw", "NA"),
         ("capacitystatus", "Used"), ("licenseModel", "No License required")]


def term_match(*pairs):
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in pairs]


def on_demand_hourly(item):
    product = json.loads(item)
    [term] = product["terms"]["OnDemand"].values()
    [dimension] = term["priceDimensions"].values()
    assert dimension["unit"] == "Hrs"
    return product["product"]["attributes"]["instanceType"], dimension["pricePerUnit"]["USD"]


class PricingPeer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cls.keys_dir = tempfile.mkdtemp(prefix="moto-pricing-test-")
        env = dict(os.environ, MOTO_PEER_HOST_KEYS=cls.keys_dir, MOTO_ENABLE_AMI_VALIDATION="true",
                   MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION="true", MOTO_ENABLE_KEYPAIR_VALIDATION="true",
                   PYTHONUNBUFFERED="1")
        cls.log = open(os.path.join(cls.keys_dir, "moto.log"), "w")
        cls.server = subprocess.Popen([sys.executable, os.path.join(PEERS, "moto_peer.py"), "-H", "127.0.0.1",
                                       "-p", str(port)], env=env, stdout=cls.log, stderr=subprocess.STDOUT)
        cls.endpoint = f"http://127.0.0.1:{port}"
        try:
            for _ in range(900):
                try:
                    urllib.request.urlopen(cls.endpoint + "/moto-api/data.json").read()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                raise RuntimeError("moto_peer.py did not answer")
            setup = subprocess.run([sys.executable, os.path.join(PEERS, "moto_setup.py"), cls.endpoint],
                                   capture_output=True, text=True, check=True)
            key = json.loads(setup.stdout)
            cls.key_id, cls.secret = key["access_key_id"], key["secret_access_key"]
            cls.denied_key = cls.user_denied_pricing()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()  # by its PID
        try:
            cls.server.wait(10)
        except subprocess.TimeoutExpired:
            cls.server.kill()
            cls.server.wait()
        cls.log.close()

    @classmethod
    def user_denied_pricing(cls):
        """A second user whose policy denies pricing:GetProducts (made with auth off a moment)."""
        def reset_auth(count):
            request = urllib.request.Request(cls.endpoint + "/moto-api/reset-auth", data=count.encode(), method="POST",
                                             headers={"Content-Type": "text/plain"})
            urllib.request.urlopen(request).read()
        reset_auth("inf")
        try:
            iam = boto3.client("iam", endpoint_url=cls.endpoint, region_name="us-east-1",
                               aws_access_key_id="AKIASETUPSETUPSETUP0", aws_secret_access_key="setup")
            iam.create_user(UserName="no-prices")
            iam.put_user_policy(UserName="no-prices", PolicyName="p", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": ["ec2:*", "pricing:*"], "Resource": "*"},
                    {"Effect": "Deny", "Action": ["pricing:GetProducts"], "Resource": "*"}]}))
            key = iam.create_access_key(UserName="no-prices")["AccessKey"]
        finally:
            reset_auth("0")
        return key["AccessKeyId"], key["SecretAccessKey"]

    def client(self, key_id=None, secret=None, region="us-east-1", validate=True):
        return boto3.client("pricing", region_name=region, endpoint_url=self.endpoint,
                            aws_access_key_id=key_id or self.key_id, aws_secret_access_key=secret or self.secret,
                            config=Config(parameter_validation=validate, retries={"max_attempts": 1}))

    def refused(self, call, code, status=400):
        with self.assertRaises(ClientError) as caught:
            call()
        error = caught.exception.response
        self.assertEqual(error["Error"]["Code"], code, error)
        self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], status)
        self.assertTrue(error["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid"))
        return error["Error"].get("Message", "")

    def raw(self, body, target="AWSPriceListService.GetProducts", service="pricing", region="us-east-1",
            key=None, sign=True, content_type="application/x-amz-json-1.1"):
        """A request signed by botocore's SigV4 (or not), as urllib sends it; (status, headers, body)."""
        request = AWSRequest(method="POST", url=self.endpoint + "/", data=body,
                             headers={"Content-Type": content_type, "X-Amz-Target": target})
        if sign:
            SigV4Auth(Credentials(*(key or (self.key_id, self.secret))), service, region).add_auth(request)
        prepared = request.prepare()
        http = urllib.request.Request(prepared.url, data=prepared.body, method="POST", headers=dict(prepared.headers))
        try:
            with urllib.request.urlopen(http) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def counts(self, reset=False):
        request = urllib.request.Request(self.endpoint + "/_peer/requests" + ("/reset" if reset else ""),
                                         method="POST" if reset else "GET")
        return json.loads(urllib.request.urlopen(request).read())

    # --- answers ---

    def test_linux_prices_of_a_region_in_pages_of_five(self):
        for region in aws_price_list.REGIONS:
            pages = list(self.client().get_paginator("get_products").paginate(
                ServiceCode="AmazonEC2", Filters=term_match(("regionCode", region), *LINUX),
                FormatVersion="aws_v1", PaginationConfig={"PageSize": 5}))
            self.assertEqual([len(page["PriceList"]) for page in pages], [5, 2])
            self.assertTrue(all(page["FormatVersion"] == "aws_v1" for page in pages))
            self.assertNotIn("NextToken", pages[-1])
            prices = dict(on_demand_hourly(item) for page in pages for item in page["PriceList"])
            expected = {t: aws_price_list.usd(by_region[region]) for t, by_region in aws_price_list.LINUX_ON_DEMAND.items()}
            self.assertEqual(prices, expected)
        self.assertEqual(expected["g4dn.xlarge"], "0.5260000000")  # us-east-1's, the last region above

    def test_the_product_is_the_offer_files(self):
        [item] = self.client().get_products(ServiceCode="AmazonEC2", Filters=term_match(
            ("regionCode", "us-east-1"), ("instanceType", "g5.xlarge"), *LINUX))["PriceList"]
        self.assertIsInstance(item, str)
        product = json.loads(item)
        attributes = product["product"]["attributes"]
        self.assertEqual(product["product"]["productFamily"], "Compute Instance")
        self.assertEqual((attributes["location"], attributes["usagetype"], attributes["operation"], attributes["gpu"],
                          attributes["gpuMemory"], attributes["vcpu"], attributes["memory"]),
                         ("US East (N. Virginia)", "BoxUsage:g5.xlarge", "RunInstances", "1", "24 GiB", "4", "16 GiB"))
        sku = product["product"]["sku"]
        [(code, term)] = product["terms"]["OnDemand"].items()
        self.assertEqual(code, f"{sku}.JRTCKXETXF")
        [(rate, dimension)] = term["priceDimensions"].items()
        self.assertEqual(dimension, {"unit": "Hrs", "endRange": "Inf", "appliesTo": [], "rateCode": rate,
                                     "description": "$1.006 per On Demand Linux g5.xlarge Instance Hour",
                                     "beginRange": "0", "pricePerUnit": {"USD": "1.0060000000"}})
        self.assertEqual(len(product["terms"]["Reserved"]), 1)
        self.assertEqual(product["serviceCode"], "AmazonEC2")

    def test_decoys_each_differ_in_one_attribute(self):
        items = self.client().get_products(ServiceCode="AmazonEC2", Filters=term_match(
            ("regionCode", "eu-west-1"), ("instanceType", "t3.medium")))["PriceList"]
        seen = {(a["operatingSystem"], a["tenancy"], a["preInstalledSw"], a["capacitystatus"], a["usagetype"])
                for a in (json.loads(item)["product"]["attributes"] for item in items)}
        self.assertEqual(seen, {
            ("Windows", "Shared", "NA", "Used", "EU-BoxUsage:t3.medium"),
            ("RHEL", "Shared", "NA", "Used", "EU-BoxUsage:t3.medium"),
            ("Linux", "Shared", "SQL Std", "Used", "EU-BoxUsage:t3.medium"),
            ("Linux", "Dedicated", "NA", "Used", "EU-DedicatedUsage:t3.medium"),
            ("Linux", "Shared", "NA", "AllocatedCapacityReservation", "EU-Reservation:t3.medium"),
            ("Linux", "Shared", "NA", "UnusedCapacityReservation", "EU-UnusedBox:t3.medium"),
            ("Linux", "Shared", "NA", "Used", "EU-BoxUsage:t3.medium")})
        self.assertEqual(json.loads(items[-1])["product"]["attributes"]["operatingSystem"], "Linux")  # wanted one last

    def test_a_region_alone_and_the_service_alone_take_pages(self):
        pages = list(self.client().get_paginator("get_products").paginate(
            ServiceCode="AmazonEC2", Filters=term_match(("regionCode", "us-west-2")), PaginationConfig={"PageSize": 5}))
        self.assertEqual(len(pages), 10)
        self.assertEqual(sum(len(page["PriceList"]) for page in pages), 50)
        pages = list(self.client().get_paginator("get_products").paginate(ServiceCode="AmazonEC2"))
        self.assertEqual([len(page["PriceList"]) for page in pages], [100, 53])
        families = {json.loads(item)["product"]["productFamily"] for page in pages for item in page["PriceList"]}
        self.assertEqual(families, {"Compute Instance", "Storage", "Data Transfer"})

    def test_filter_types(self):
        def count(*filters):
            return len(self.client().get_products(ServiceCode="AmazonEC2", Filters=list(filters))["PriceList"])
        region = {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"}
        self.assertEqual(count(region, {"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "windows"}), 7)
        self.assertEqual(count(region, {"Type": "EQUALS", "Field": "operatingSystem", "Value": "windows"}), 0)
        self.assertEqual(count(region, {"Type": "EQUALS", "Field": "operatingSystem", "Value": "Windows"}), 7)
        self.assertEqual(count(region, {"Type": "CONTAINS", "Field": "usagetype", "Value": "UnusedBox"}), 7)
        self.assertEqual(count(region, {"Type": "ANY_OF", "Field": "instanceType", "Value": "t3.medium, g5.xlarge"}), 14)
        self.assertEqual(count(region, {"Type": "NONE_OF", "Field": "instanceType", "Value": "t3.medium,g5.xlarge"}), 35)
        self.assertEqual(count(region, {"Type": "TERM_MATCH", "Field": "productFamily", "Value": "Storage"}), 1)
        self.assertEqual(count({"Type": "TERM_MATCH", "Field": "ServiceCode", "Value": "AmazonEC2"},
                               {"Type": "TERM_MATCH", "Field": "volumeApiName", "Value": "gp3"}), 3)
        self.assertEqual(count(region, {"Type": "TERM_MATCH", "Field": "noSuchAttribute", "Value": "x"}), 0)

    def test_counted_as_not_mutating_and_moto_still_answers(self):
        self.counts(reset=True)
        self.client().get_products(ServiceCode="AmazonEC2", MaxResults=1)
        counts = self.counts()
        self.assertEqual((counts["mutating"], counts["total"], counts["actions"]), (0, 1, {"GetProducts": 1}))
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=self.endpoint,
                           aws_access_key_id=self.key_id, aws_secret_access_key=self.secret)
        self.assertTrue(ec2.describe_regions()["Regions"])

    def test_other_scopes_of_the_real_endpoints(self):
        for region in ("eu-central-1", "ap-south-1"):
            self.assertEqual(len(self.client(region=region).get_products(ServiceCode="AmazonEC2", MaxResults=3)["PriceList"]), 3)

    # --- refusals ---

    def test_signatures(self):
        message = self.refused(lambda: self.client(secret="not-the-secret").get_products(ServiceCode="AmazonEC2"),
                               "InvalidSignatureException")
        self.assertTrue(message.startswith("The request signature we calculated does not match"), message)
        self.assertIn("The Canonical String for this request should have been", message)
        self.assertEqual(self.refused(lambda: self.client(key_id="AKIANOSUCHKEY0000000").get_products(ServiceCode="AmazonEC2"),
                                      "UnrecognizedClientException"),
                         "The security token included in the request is invalid.")
        self.assertEqual(self.refused(lambda: self.client(region="eu-west-1").get_products(ServiceCode="AmazonEC2"),
                                      "InvalidSignatureException"),
                         "Credential should be scoped to a valid region, not 'eu-west-1'. ")  # AWS's trailing space
        status, headers, body = self.raw(b'{"ServiceCode": "AmazonEC2"}', service="ec2")
        self.assertEqual((status, json.loads(body)), (400, {
            "__type": "com.amazon.coral.service#InvalidSignatureException",
            "message": "Credential should be scoped to correct service: 'pricing'. "}))
        status, headers, body = self.raw(b'{"ServiceCode": "AmazonEC2"}', sign=False)
        self.assertEqual((status, json.loads(body)), (400, {
            "__type": "com.amazon.coral.service#MissingAuthenticationTokenException",
            "message": "Request is missing Authentication Token"}))
        self.assertTrue(headers.get("x-amzn-RequestId"))
        an_hour_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
        with mock.patch.object(botocore.auth, "get_current_datetime", lambda: an_hour_ago.replace(tzinfo=None)):
            message = self.refused(lambda: self.client().get_products(ServiceCode="AmazonEC2"), "InvalidSignatureException")
        self.assertTrue(message.startswith("Signature expired: "), message)

    def test_explicit_deny(self):
        message = self.refused(lambda: self.client(*self.denied_key).get_products(ServiceCode="AmazonEC2"),
                               "AccessDeniedException")
        self.assertIn("is not authorized to perform: pricing:GetProducts", message)

    def test_input(self):
        loose = self.client(validate=False)
        self.assertEqual(self.refused(lambda: loose.get_products(ServiceCode="AmazonEC2", MaxResults=0), "ValidationException"),
                         "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: "
                         "Member must have value greater than or equal to 1")
        self.refused(lambda: loose.get_products(ServiceCode="AmazonEC2", MaxResults=101), "ValidationException")
        message = self.refused(lambda: loose.get_products(ServiceCode="AmazonEC2", Filters=[
            {"Type": "FUZZY", "Field": "instanceType", "Value": "t3.medium"}] + term_match(*[("vcpu", "2")] * 50)),
            "ValidationException")
        self.assertTrue(message.startswith("2 validation errors detected: "), message)
        self.assertIn("at 'filters.1.member.type' failed to satisfy constraint: Member must satisfy enum value set: "
                      "[TERM_MATCH, EQUALS, CONTAINS, ANY_OF, NONE_OF]", message)
        self.refused(lambda: loose.get_products(ServiceCode="AmazonEC2", Filters=[{"Type": "TERM_MATCH", "Field": "vcpu"}]),
                     "ValidationException")
        self.assertEqual(self.refused(lambda: loose.get_products(ServiceCode=""), "InvalidParameterException"),
                         "Input Parameters are invalid. serviceCode cannot be null or empty")
        self.refused(lambda: loose.get_products(ServiceCode="Amazon EC2"), "InvalidParameterException")
        self.refused(lambda: loose.get_products(ServiceCode="AmazonEC2", FormatVersion="aws_v2"), "InvalidParameterException")
        self.refused(lambda: loose.get_products(ServiceCode="AmazonS3"), "NotFoundException")
        status, _, body = self.raw(b'{"ServiceCode": "AmazonEC2", "MaxResults": "5"}')
        self.assertEqual((status, json.loads(body)["__type"]), (400, "com.amazon.coral.service#SerializationException"))
        status, _, body = self.raw(b'["AmazonEC2"]')
        self.assertEqual((status, json.loads(body)["__type"]), (400, "com.amazon.coral.service#SerializationException"))
        status, _, body = self.raw(b'{"ServiceCode": "AmazonEC2", "Unmodelled": 1}')
        self.assertEqual(status, 200)  # Coral ignores members the model lacks

    def test_next_tokens(self):
        client = self.client()
        first = client.get_products(ServiceCode="AmazonEC2", Filters=term_match(("regionCode", "us-east-1")), MaxResults=5)
        second = client.get_products(ServiceCode="AmazonEC2", Filters=term_match(("regionCode", "us-east-1")),
                                     MaxResults=5, NextToken=first["NextToken"])
        self.assertNotEqual(first["PriceList"], second["PriceList"])
        self.refused(lambda: client.get_products(ServiceCode="AmazonEC2", Filters=term_match(("regionCode", "eu-west-1")),
                                                 NextToken=first["NextToken"]), "InvalidNextTokenException")
        self.refused(lambda: client.get_products(ServiceCode="AmazonEC2", NextToken="abc=:def="), "InvalidNextTokenException")

    def test_operations_and_protocol(self):
        status, _, body = self.raw(b'{}', target="AWSPriceListService.DescribeServices")
        self.assertEqual((status, json.loads(body)["__type"]), (400, "com.amazon.coral.service#UnknownOperationException"))
        status, _, body = self.raw(b'{}', target="AWSPriceListService.NoSuchThing")
        self.assertEqual((status, json.loads(body)), (400, {"__type": "com.amazon.coral.service#UnknownOperationException"}))
        status, _, body = self.raw(b'ServiceCode=AmazonEC2', content_type="application/x-www-form-urlencoded")
        self.assertEqual((status, body), (404, b"<UnknownOperationException/>\n"))


if __name__ == "__main__":
    unittest.main()
