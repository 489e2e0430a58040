import CloudcCore
import Testing
@testable import Config

/// Every error names FILE:LINE:COLUMN and the key path, then says what is wrong and how to fix it.
@Suite("positioned errors")
struct PositionedErrorTests {
    let file = Fixtures.path

    // MARK: Keys

    @Test func unknownKeySuggestsTheClosest() throws {
        let yaml = Fixtures.cluster(groups: Fixtures.lines(
            "      compute:",
            "        cont: 4",
            "        flavor: n2-standard-8"))
        let error = try #require(Fixtures.error(yaml))
        #expect(error.code == .config)
        #expect(error.message == "\(file):15:9: clusters.gce.groups.compute.cont: unknown key 'cont'; did you mean 'count'?")
        #expect(error.fix == "rename 'cont' to 'count'")
    }

    @Test func unknownKeyWithNothingCloseListsTheAllowedKeys() throws {
        let yaml = Fixtures.cluster(groups: Fixtures.lines(
            "      compute:",
            "        count: 4",
            "        colour: red",
            "        flavor: n2-standard-8"))
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):16:9: clusters.gce.groups.compute.colour: unknown key 'colour'")
        #expect(error.fix?.contains("count, min, flavor, image, gpus, spot, disk_gb") == true)
    }

    @Test func unknownTopLevelKey() throws {
        let error = try #require(Fixtures.error(Fixtures.preamble + "cluster:\n  gce: {}\n"))
        #expect(error.message == "\(file):9:1: cluster: unknown key 'cluster'; did you mean 'clusters'?")
    }

    @Test func keyOfAnotherProvider() throws {
        let yaml = Fixtures.lines(
            "clouds:",
            "  aws:",
            "    provider: ec2",
            "    zones: [a]")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):4:5: clouds.aws.zones: 'zones' is a key of provider gce, not of ec2")
        #expect(error.fix?.contains("region") == true)
    }

    @Test func missingRequiredKeyPointsAtTheEnclosingMapping() throws {
        let yaml = Fixtures.cluster(groups: Fixtures.lines(
            "      compute:",
            "        count: 4"))
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message.hasPrefix("\(file):15:9: clusters.gce.groups.compute.flavor: missing; "))
        #expect(error.fix == "add 'flavor: n2-standard-8' under 'compute'")
    }

    @Test func missingRequiredKeyInAFlowMapping() throws {
        let yaml = Fixtures.cluster(groups: Fixtures.lines("      compute: {flavor: n2-standard-8}"))
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message.hasPrefix("\(file):14:16: clusters.gce.groups.compute.count: missing; "))
    }

    @Test func missingProvider() throws {
        let yaml = Fixtures.lines(
            "clouds:",
            "  gce:",
            "    zone: us-central1-a")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message.hasPrefix("\(file):3:5: clouds.gce.provider: missing; "))
        #expect(error.fix == "add 'provider: gce' under 'gce'")
    }

    @Test func unknownProvider() throws {
        let yaml = Fixtures.lines(
            "clouds:",
            "  aws:",
            "    provider: ec3")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):3:15: clouds.aws.provider: unknown provider 'ec3'; did you mean 'ec2'?")
    }

    // MARK: Types

    @Test func wordWhereANumberIsExpected() throws {
        let yaml = Fixtures.cluster(groups: Fixtures.lines(
            "      compute:",
            "        count: four",
            "        flavor: n2-standard-8"))
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):15:16: clusters.gce.groups.compute.count: expected a whole number, found 'four'")
    }

    @Test func notABoolean() throws {
        let yaml = Fixtures.cluster(groups: Fixtures.lines(
            "      compute:",
            "        count: 4",
            "        flavor: n2-standard-8",
            "        spot: maybe"))
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):17:15: clusters.gce.groups.compute.spot: expected true or false, found 'maybe'")
    }

    @Test func listWhereAMappingIsExpected() throws {
        let yaml = Fixtures.cluster(groups: Fixtures.lines("      - compute"))
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):14:7: clusters.gce.groups: expected a mapping (key: value pairs), found a list")
    }

    @Test func mappingWhereAListIsExpected() throws {
        let yaml = Fixtures.lines(
            "clouds:",
            "  gce:",
            "    provider: gce",
            "    zones: {a: b}")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):4:12: clouds.gce.zones: expected a list, found a mapping (key: value pairs)")
    }

    @Test func listElementPath() throws {
        let yaml = Fixtures.lines(
            "clouds:",
            "  gce:",
            "    provider: gce",
            "    zones: [us-central1-a, [x]]")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message.hasPrefix("\(file):4:28: clouds.gce.zones[1]: expected a single value, found a list"))
    }

    // MARK: Values

    @Test func badReferenceSuggestsTheClosestName() throws {
        let yaml = Fixtures.preamble + Fixtures.lines(
            "clusters:",
            "  gce:",
            "    cloud: gcee",
            "    image: debian-12",
            "    groups: {compute: {count: 1, flavor: n2-standard-8}}")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):11:12: clusters.gce.cloud: no cloud named 'gcee'; did you mean 'gce'?")
        #expect(error.fix == "write 'gce', or define 'gcee' under 'clouds:'")
    }

    @Test func badLoginReferenceWithNothingClose() throws {
        let yaml = Fixtures.preamble + Fixtures.lines(
            "clusters:",
            "  gce:",
            "    cloud: gce",
            "    login: root",
            "    image: debian-12",
            "    groups: {compute: {count: 1, flavor: n2-standard-8}}")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):12:12: clusters.gce.login: no login named 'root'")
        #expect(error.fix?.contains("(default)") == true)
    }

    @Test func noLoginAndNoDefaultLogin() throws {
        let yaml = Fixtures.lines(
            "clouds: {here: {provider: local}}",
            "logins: {me: {user: debian, private_key: /k}}",
            "clusters:",
            "  local:",
            "    cloud: here",
            "    groups: {compute: {count: 1}}")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message.hasPrefix("\(file):5:5: clusters.local.login: missing; there is no login named 'default'"))
        #expect(error.fix == "add 'login: me' under 'local'")
    }

    @Test func badCIDR() throws {
        let yaml = Fixtures.preamble + Fixtures.lines(
            "clusters:",
            "  gce:",
            "    cloud: gce",
            "    image: debian-12",
            "    ssh_from: 10.0.0.1/24",
            "    groups: {compute: {count: 1, flavor: n2-standard-8}}")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):13:15: clusters.gce.ssh_from: '10.0.0.1/24' has host bits set")
        #expect(error.fix == "write the network's address, 10.0.0.0/24, or 10.0.0.1/32 for one address")
    }

    @Test func notACIDR() throws {
        let yaml = Fixtures.preamble + Fixtures.lines(
            "clusters:",
            "  gce:",
            "    cloud: gce",
            "    image: debian-12",
            "    ssh_from: my-office",
            "    groups: {compute: {count: 1, flavor: n2-standard-8}}")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message.hasPrefix("\(file):13:15: clusters.gce.ssh_from: 'my-office' is not a CIDR network"))
    }

    @Test func localSubnetMustBeIPv4() throws {
        let yaml = Fixtures.lines(
            "clouds:",
            "  here: {provider: local, subnet: 'fd00::/64'}")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):2:35: clouds.here.subnet: 'fd00::/64' is an IPv6 network; only IPv4 is supported here")
    }

    @Test func endpointMustBeAnHTTPURL() throws {
        let yaml = Fixtures.lines(
            "clouds:",
            "  aws:",
            "    provider: ec2",
            "    endpoint: ftp://example.org")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):4:15: clouds.aws.endpoint: 'ftp://example.org' is not an http or https URL")
    }

    @Test func openStackInterfaceIsOneOfThree() throws {
        let yaml = Fixtures.lines(
            "clouds:",
            "  uni:",
            "    provider: openstack",
            "    interface: internl")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):4:16: clouds.uni.interface: unknown interface 'internl'; did you mean 'internal'?")
        #expect(error.fix == "use one of: public, internal, admin (the default is public)")
    }

    @Test func minMoreThanCount() throws {
        let yaml = Fixtures.cluster(groups: Fixtures.lines("      compute: {count: 2, min: 3, flavor: n2-standard-8}"))
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):14:32: clusters.gce.groups.compute.min: min 3 is more than count 2")
        #expect(error.fix == "lower min to at most 2, or raise count to at least 3")
    }

    @Test(arguments: [
        ("      compute: {count: -1, flavor: f}", "14:24: clusters.gce.groups.compute.count: count is -1"),
        ("      gpu: {count: 1, flavor: f, gpus: {count: 0}}", "14:48: clusters.gce.groups.gpu.gpus.count: GPU count is 0"),
        ("      gpu: {count: 1, flavor: f, gpus: {type: t4}}", "14:40: clusters.gce.groups.gpu.gpus.count: missing"),
        ("      big: {count: 1, flavor: f, disk_gb: 0}", "14:43: clusters.gce.groups.big.disk_gb: disk_gb is 0"),
        ("      GPU_nodes: {count: 1, flavor: f}", "14:7: clusters.gce.groups.GPU_nodes: 'GPU_nodes' is not a valid group name"),
        ("      averyveryverylonggroupname: {count: 1, flavor: f}",
         "14:7: clusters.gce.groups.averyveryverylonggroupname: 'averyveryverylonggroupname' is not a valid group name"),
    ])
    func groupValues(line: String, expected: String) throws {
        let error = try #require(Fixtures.error(Fixtures.cluster(groups: line + "\n")))
        #expect(error.message.hasPrefix("\(file):\(expected)"), "\(error.message)")
    }

    @Test func groupNameFixSuggestsAValidName() throws {
        let error = try #require(Fixtures.error(Fixtures.cluster(groups: "      GPU_nodes: {count: 1, flavor: f}\n")))
        #expect(error.fix?.contains("e.g. 'gpu-nodes'") == true)
    }

    @Test func noGroups() throws {
        let yaml = Fixtures.cluster(groups: "")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):13:5: clusters.gce.groups: empty; a cluster needs at least one node group")
    }

    @Test func emptyGroupsMapping() throws {
        let yaml = Fixtures.preamble + "clusters:\n  gce: {cloud: gce, image: i, groups: {}}\n"
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message.hasPrefix("\(file):10:39: clusters.gce.groups: no groups"))
    }

    @Test func imageRequiredExceptForLocal() throws {
        let yaml = Fixtures.preamble + Fixtures.lines(
            "clusters:",
            "  gce:",
            "    cloud: gce",
            "    groups: {compute: {count: 1, flavor: n2-standard-8}}")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message.hasPrefix("\(file):11:5: clusters.gce.image: missing; provider gce needs the image"))
    }

    @Test func unknownExecutor() throws {
        let yaml = Fixtures.preamble + Fixtures.lines(
            "clusters:",
            "  gce:",
            "    cloud: gce",
            "    image: debian-12",
            "    executor: slrum",
            "    groups: {compute: {count: 1, flavor: n2-standard-8}}")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):13:15: clusters.gce.executor: unknown executor 'slrum'; did you mean 'slurm'?")
    }

    @Test func zoneAndZonesTogether() throws {
        let yaml = Fixtures.lines(
            "clouds:",
            "  gce:",
            "    provider: gce",
            "    zone: a",
            "    zones: [b]")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):5:5: clouds.gce.zones: both 'zone' and 'zones' are given")
    }

    @Test func invalidTemplateName() throws {
        let yaml = Fixtures.preamble + Fixtures.lines(
            "clusters:",
            "  My Cluster: {cloud: gce, image: i, groups: {compute: {count: 1, flavor: f}}}")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):10:3: clusters.My Cluster: 'My Cluster' is not a valid cluster template name")
        #expect(error.fix?.contains("e.g. 'my-cluster'") == true)
    }

    // MARK: Environment

    @Test func unsetVariable() throws {
        let yaml = Fixtures.preamble + Fixtures.lines(
            "clusters:",
            "  gce:",
            "    cloud: gce",
            "    image: ${IMAGE}",
            "    groups: {compute: {count: 1, flavor: n2-standard-8}}")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):12:12: clusters.gce.image: environment variable IMAGE is not set")
        #expect(error.fix == "set IMAGE before running cloudc, or give a default: ${IMAGE:-VALUE}")
        #expect(Fixtures.error(yaml, environment: ["IMAGE": "debian-12"]) == nil)
    }

    @Test func unsetVariableInANumber() throws {
        let yaml = Fixtures.cluster(groups: "      compute: {count: '${N}', flavor: f}\n")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):14:24: clusters.gce.groups.compute.count: environment variable N is not set")
        let config = try Fixtures.parse(yaml, environment: ["N": "7"])
        #expect(config.clusters["gce"]?.groups.first?.count == 7)
    }

    @Test func unterminatedReference() throws {
        let yaml = Fixtures.cluster(groups: "      compute: {count: 1, flavor: '${F'}\n")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):14:35: clusters.gce.groups.compute.flavor: '${' without a closing '}'")
    }

    // MARK: YAML

    @Test func syntaxError() throws {
        let yaml = Fixtures.cluster(groups: Fixtures.lines(
            "      compute: {count: 1, flavor: f",
            "      gpu: {count: 0, flavor: g}"))
        let error = try #require(Fixtures.error(yaml))
        #expect(error.code == .config)
        #expect(error.message.hasPrefix("\(file):15:10: YAML syntax error: "), "\(error.message)")
        #expect(error.message.contains("line 14, column 16"), "\(error.message)")
    }

    @Test func tabIndentation() throws {
        let yaml = Fixtures.cluster(groups: Fixtures.lines(
            "      compute:",
            "\tcount: 1"))
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message.hasPrefix("\(file):15:1: YAML syntax error: "), "\(error.message)")
        #expect(error.fix == "indent with spaces: YAML does not allow tabs for indentation")
    }

    @Test func duplicateKeyPointsAtTheRepeat() throws {
        let yaml = Fixtures.cluster(groups: Fixtures.lines(
            "      compute:",
            "        count: 4",
            "        flavor: n2-standard-8",
            "        count: 5"))
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):17:9: clusters.gce.groups.compute.count: duplicate key 'count' (first at line 15, column 9)")
        #expect(error.fix == "keep one 'count:' in this mapping; remove or rename the other")
    }

    @Test func duplicateGroupInAFlowMapping() throws {
        let yaml = Fixtures.cluster(groups: "      {a: {count: 1, flavor: f}, \"a\": {count: 2, flavor: f}}\n")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):14:34: clusters.gce.groups.a: duplicate key 'a' (first at line 14, column 8)")
    }

    @Test func duplicateSection() throws {
        let yaml = Fixtures.preamble + "clouds: {}\n"
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):9:1: clouds: duplicate key 'clouds' (first at line 1, column 1)")
    }

    @Test func twoDocuments() throws {
        let error = try #require(Fixtures.error("clouds: {}\n---\nclusters: {}\n"))
        #expect(error.message == "\(file):2:1: YAML syntax error: expected a single document in the stream, but found another document")
    }

    @Test func repeatedThreeTimesStillPointsAtTheFirst() throws {
        let yaml = Fixtures.cluster(groups: "      compute:\n        count: 1\n        count: 2\n        count: 3\n")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.message == "\(file):15:9: duplicate key 'count'")
    }

    @Test func topLevelMustBeAMapping() throws {
        let error = try #require(Fixtures.error("- clouds\n"))
        #expect(error.message == "\(file):1:1: (top level): expected a mapping (key: value pairs), found a list")
    }
}
