"""The AWS Price List the pricing peer (aws_pricing.py) answers from: a small, fixed, readable
subset of the real AmazonEC2 offer, built from the tables below into products of the offer
file's format (``aws_v1``), as GetProducts hands them out (each as a JSON string).

For each region (us-east-1, us-west-2, eu-west-1) and instance type (t3.medium, t3.large,
m5.large, c5.xlarge, g4dn.xlarge, g5.xlarge, p3.2xlarge) there is the product cloudc wants,
Linux / Shared / NA / Used / "No License required" (its on-demand price is LINUX_ON_DEMAND's),
and six decoys that differ from it in one attribute each, the ones a careless filter lets through:
Windows (RunInstances:0002), RHEL (RunInstances:0010), Linux with "SQL Std" pre-installed
(RunInstances:0004), Dedicated tenancy (DedicatedUsage), an AllocatedCapacityReservation (price 0)
and an UnusedCapacityReservation (UnusedBox, billed at the on-demand rate, as on AWS). Each
region also has a gp3 volume (productFamily Storage) and each an outbound Data Transfer product
(no regionCode, as on AWS: fromRegionCode), so a query by ServiceCode alone takes two pages of
100. Every product but the capacity reservations also carries one Reserved term (1yr standard No
Upfront, cheaper), which a client must ignore.

Order: regions eu-west-1, us-west-2, us-east-1; in each, storage, data transfer, then every type
with its decoys before the product cloudc wants (so taking the first match is always wrong).
SKUs are fixed (derived from region, type and variant); prices do not change with time.

Only the standard library.
"""
import hashlib
import json
from decimal import Decimal

SERVICE_CODE = "AmazonEC2"
VERSION = "20261101000000"
PUBLICATION_DATE = "2026-11-01T00:00:00Z"
EFFECTIVE_DATE = "2026-11-01T00:00:00Z"
RESERVED_EFFECTIVE_DATE = "2026-10-01T00:00:00Z"
ON_DEMAND_TERM = "JRTCKXETXF"  # AWS's offer term code of every on-demand price
PRICE_DIMENSION = "6YS6EN2CT7"  # ... and of its hourly rate
RESERVED_TERM = "4NA7Y494T4"  # 1yr, standard, No Upfront
RESERVED_FACTOR = Decimal("0.62")

# region: (location, usage type prefix); us-east-1's usage types have none, as on AWS.
REGIONS = {
    "eu-west-1": ("EU (Ireland)", "EU-"),
    "us-west-2": ("US West (Oregon)", "USW2-"),
    "us-east-1": ("US East (N. Virginia)", ""),
}

# type: vcpu, memory, instanceFamily, physicalProcessor, clockSpeed, networkPerformance, storage,
#       normalizationSizeFactor, ecu, gpu (count, or None), gpuMemory
TYPES = {
    "t3.medium": (2, "4 GiB", "General purpose", "Intel Skylake E5 2686 v5", "3.1 GHz", "Up to 5 Gigabit",
                  "EBS only", "2", "Variable", None, None),
    "t3.large": (2, "8 GiB", "General purpose", "Intel Skylake E5 2686 v5", "3.1 GHz", "Up to 5 Gigabit",
                 "EBS only", "4", "Variable", None, None),
    "m5.large": (2, "8 GiB", "General purpose", "Intel Xeon Platinum 8175 (Skylake)", "3.1 GHz", "Up to 10 Gigabit",
                 "EBS only", "4", "10", None, None),
    "c5.xlarge": (4, "8 GiB", "Compute optimized", "Intel Xeon Platinum 8124M", "3.4 GHz", "Up to 10 Gigabit",
                  "EBS only", "8", "20", None, None),
    # NVIDIA T4
    "g4dn.xlarge": (4, "16 GiB", "GPU instance", "Intel Xeon Family", "2.5 GHz", "Up to 25 Gigabit",
                    "1 x 125 NVMe SSD", "8", "NA", "1", "16 GiB"),
    # NVIDIA A10G
    "g5.xlarge": (4, "16 GiB", "GPU instance", "AMD EPYC 7R32", "3.3 GHz", "Up to 10 Gigabit",
                  "1 x 250 NVMe SSD", "8", "NA", "1", "24 GiB"),
    # NVIDIA V100
    "p3.2xlarge": (8, "61 GiB", "GPU instance", "Intel Xeon E5-2686 v4 (Broadwell)", "2.3 GHz", "Up to 10 Gigabit",
                   "EBS only", "16", "26", "1", "16 GiB"),
}

# USD per hour, Linux / Shared / NA / Used / No License required: what cloudc must find.
LINUX_ON_DEMAND = {
    #                us-east-1          us-west-2          eu-west-1
    "t3.medium": {"us-east-1": "0.0416", "us-west-2": "0.0416", "eu-west-1": "0.0456"},
    "t3.large": {"us-east-1": "0.0832", "us-west-2": "0.0832", "eu-west-1": "0.0912"},
    "m5.large": {"us-east-1": "0.096", "us-west-2": "0.096", "eu-west-1": "0.107"},
    "c5.xlarge": {"us-east-1": "0.17", "us-west-2": "0.17", "eu-west-1": "0.192"},
    "g4dn.xlarge": {"us-east-1": "0.526", "us-west-2": "0.526", "eu-west-1": "0.587"},
    "g5.xlarge": {"us-east-1": "1.006", "us-west-2": "1.006", "eu-west-1": "1.123"},
    "p3.2xlarge": {"us-east-1": "3.06", "us-west-2": "3.06", "eu-west-1": "3.305"},
}


def _windows(linux, vcpu, instance_type):
    per_vcpu = Decimal("0.0092") if instance_type.startswith("t") else Decimal("0.046")
    return linux + per_vcpu * vcpu


# variant: (operatingSystem, preInstalledSw, tenancy, capacitystatus, usage type, operation,
#           price from the Linux one, description's words, has a Reserved term)
VARIANTS = {
    "windows": ("Windows", "NA", "Shared", "Used", "BoxUsage", "RunInstances:0002",
                _windows, "On Demand Windows {type} Instance Hour", True),
    "rhel": ("RHEL", "NA", "Shared", "Used", "BoxUsage", "RunInstances:0010",
             lambda linux, vcpu, _: linux + Decimal("0.0144") * vcpu, "On Demand RHEL {type} Instance Hour", True),
    "sql-std": ("Linux", "SQL Std", "Shared", "Used", "BoxUsage", "RunInstances:0004",
                lambda linux, vcpu, _: linux + Decimal("0.12") * max(vcpu, 4),
                "On Demand Linux with SQL Std {type} Instance Hour", True),
    "dedicated": ("Linux", "NA", "Dedicated", "Used", "DedicatedUsage", "RunInstances",
                  lambda linux, vcpu, _: linux * Decimal("1.1"), "Dedicated Usage Linux {type} Instance Hour", True),
    "allocated-reservation": ("Linux", "NA", "Shared", "AllocatedCapacityReservation", "Reservation", "RunInstances",
                              lambda linux, vcpu, _: Decimal("0"), "Reservation Linux {type} Instance Hour", False),
    "unused-reservation": ("Linux", "NA", "Shared", "UnusedCapacityReservation", "UnusedBox", "RunInstances",
                           lambda linux, vcpu, _: linux, "Unused Reservation Linux {type} Instance Hour", False),
    # the one cloudc wants, last of its type
    "linux": ("Linux", "NA", "Shared", "Used", "BoxUsage", "RunInstances",
              lambda linux, vcpu, _: linux, "On Demand Linux {type} Instance Hour", True),
}

# region: USD per GB-month of gp3
GP3 = {"us-east-1": "0.08", "us-west-2": "0.08", "eu-west-1": "0.088"}
# Data transfer out to the internet, every region: (beginRange GB, endRange, USD per GB)
DATA_TRANSFER_OUT = [("0", "10240", "0.09"), ("10240", "51200", "0.085"), ("51200", "Inf", "0.07")]


def sku_of(*parts):
    """A fixed 16-character SKU, AWS's alphabet (upper case letters and digits)."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(alphabet[byte % len(alphabet)] for byte in digest[:16])


def usd(value):
    """A price as the offer file writes pricePerUnit: ten decimals."""
    return f"{Decimal(value).quantize(Decimal('0.0000000001')):f}"


def dollars(value):
    """A price as the offer file writes it in descriptions: $0.0416, $0.17, $0.00."""
    text = f"{Decimal(value).quantize(Decimal('0.0001')).normalize():f}"
    if "." not in text:
        text += ".00"
    elif len(text.split(".")[1]) < 2:
        text += "0"
    return "$" + text


def dimension(sku, term, code, unit, description, price, begin="0", end="Inf"):
    rate_code = f"{sku}.{term}.{code}"
    return rate_code, {"unit": unit, "endRange": end, "description": description, "appliesTo": [],
                       "rateCode": rate_code, "beginRange": begin, "pricePerUnit": {"USD": usd(price)}}


def on_demand(sku, dimensions):
    return {f"{sku}.{ON_DEMAND_TERM}": {"priceDimensions": dict(dimensions), "sku": sku,
                                        "effectiveDate": EFFECTIVE_DATE, "offerTermCode": ON_DEMAND_TERM,
                                        "termAttributes": {}}}


def reserved(sku, description, hourly):
    return {f"{sku}.{RESERVED_TERM}": {
        "priceDimensions": dict([dimension(sku, RESERVED_TERM, PRICE_DIMENSION, "Hrs", description, hourly)]),
        "sku": sku, "effectiveDate": RESERVED_EFFECTIVE_DATE, "offerTermCode": RESERVED_TERM,
        "termAttributes": {"LeaseContractLength": "1yr", "OfferingClass": "standard", "PurchaseOption": "No Upfront"}}}


def product(sku, family, attributes, terms):
    return {"product": {"productFamily": family, "attributes": attributes, "sku": sku},
            "serviceCode": SERVICE_CODE, "terms": terms, "version": VERSION, "publicationDate": PUBLICATION_DATE}


def compute_product(region, instance_type, variant):
    location, prefix = REGIONS[region]
    vcpu, memory, family, processor, clock, network, storage, nsf, ecu, gpu, gpu_memory = TYPES[instance_type]
    os_name, software, tenancy, capacity, usage, operation, price_of, words, has_reserved = VARIANTS[variant]
    price = price_of(Decimal(LINUX_ON_DEMAND[instance_type][region]), vcpu, instance_type).quantize(Decimal("0.0001"))
    sku = sku_of(region, instance_type, variant)
    attributes = {
        "capacitystatus": capacity, "classicnetworkingsupport": "false", "clockSpeed": clock,
        "currentGeneration": "Yes", "ecu": ecu, "enhancedNetworkingSupported": "Yes",
        **({"gpu": gpu, "gpuMemory": gpu_memory} if gpu else {}),
        "instanceFamily": family, "instanceType": instance_type, "licenseModel": "No License required",
        "location": location, "locationType": "AWS Region", "marketoption": "OnDemand", "memory": memory,
        "networkPerformance": network, "normalizationSizeFactor": nsf, "operatingSystem": os_name,
        "operation": operation, "physicalProcessor": processor, "preInstalledSw": software,
        "processorArchitecture": "64-bit", "regionCode": region, "servicecode": SERVICE_CODE,
        "servicename": "Amazon Elastic Compute Cloud", "storage": storage, "tenancy": tenancy,
        "usagetype": f"{prefix}{usage}:{instance_type}", "vcpu": str(vcpu), "vpcnetworkingsupport": "true",
    }
    description = f"{dollars(price)} per {words.format(type=instance_type)}"
    terms = {"OnDemand": on_demand(sku, [dimension(sku, ON_DEMAND_TERM, PRICE_DIMENSION, "Hrs", description, price)])}
    if has_reserved:
        platform = {"Windows": "Windows", "RHEL": "Red Hat Enterprise Linux"}.get(os_name, "Linux/UNIX")
        terms["Reserved"] = reserved(sku, f"{platform} (Amazon VPC), {instance_type} reserved instance applied",
                                     (price * RESERVED_FACTOR).quantize(Decimal("0.0001")))
    return product(sku, "Compute Instance", attributes, terms)


def storage_product(region):
    location, prefix = REGIONS[region]
    sku = sku_of(region, "gp3")
    attributes = {
        "location": location, "locationType": "AWS Region", "maxIopsvolume": "16000",
        "maxThroughputvolume": "1000 MiB/s", "maxVolumeSize": "16 TiB", "operation": "", "regionCode": region,
        "servicecode": SERVICE_CODE, "servicename": "Amazon Elastic Compute Cloud", "storageMedia": "SSD-backed",
        "usagetype": f"{prefix}EBS:VolumeUsage.gp3", "volumeApiName": "gp3", "volumeType": "General Purpose",
    }
    description = f"{dollars(GP3[region])} per GB-month of General Purpose (gp3) provisioned storage - {location}"
    terms = {"OnDemand": on_demand(sku, [dimension(sku, ON_DEMAND_TERM, PRICE_DIMENSION, "GB-Mo", description,
                                                   GP3[region])])}
    return product(sku, "Storage", attributes, terms)


def data_transfer_product(region):
    location, prefix = REGIONS[region]
    sku = sku_of(region, "data-transfer-out")
    attributes = {
        "fromLocation": location, "fromLocationType": "AWS Region", "fromRegionCode": region, "operation": "",
        "servicecode": "AWSDataTransfer", "servicename": "AWS Data Transfer", "toLocation": "External",
        "toLocationType": "Other", "transferType": "AWS Outbound", "usagetype": f"{prefix}DataTransfer-Out-Bytes",
    }
    dimensions = [dimension(sku, ON_DEMAND_TERM, code, "GB",
                            f"{dollars(price)} per GB - {location} data transfer to the internet", price, begin, end)
                  for code, (begin, end, price) in zip(("8EEUB22XNJ", "N9EW5UVVPA", "VHC3Y2NBDY"), DATA_TRANSFER_OUT)]
    return product(sku, "Data Transfer", attributes, {"OnDemand": on_demand(sku, dimensions)})


def build():
    products = []
    for region in REGIONS:
        products.append(storage_product(region))
        products.append(data_transfer_product(region))
        for instance_type in TYPES:
            for variant in VARIANTS:
                products.append(compute_product(region, instance_type, variant))
    return products


PRODUCTS = build()


if __name__ == "__main__":
    # The list, one JSON document a line (e.g. to grep what a query should find).
    for item in PRODUCTS:
        print(json.dumps(item, separators=(",", ":")))
