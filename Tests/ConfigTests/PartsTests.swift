import Testing
import CloudcCore
@testable import Config

/// The small pure parts the loader is built from.
@Suite("parts")
struct PartsTests {
    @Test(arguments: [
        ("count", "count", 0), ("cont", "count", 1), ("", "abc", 3), ("kitten", "sitting", 3), ("flavour", "flavor", 1), ("slrum", "slurm", 1), ("ab", "ba", 1),
    ])
    func editDistance(a: String, b: String, distance: Int) {
        #expect(Suggestions.editDistance(a, b) == distance)
        #expect(Suggestions.editDistance(b, a) == distance)
    }

    @Test(arguments: [
        ("cont", "count"), ("diskGB", "disk_gb"), ("flavour", "flavor"), ("gpu", "gpus"), ("access_key", "access_key_id"),
        ("Zone", "zone"),
    ])
    func suggestion(word: String, expected: String) {
        #expect(Suggestions.closest(to: word, in: ClustersSection.groupKeys + ["access_key_id", "zone", "zones"]) == expected)
    }

    @Test(arguments: ["colour", "x", "nodes"])
    func noSuggestion(word: String) {
        #expect(Suggestions.closest(to: word, in: ClustersSection.groupKeys) == nil)
    }

    @Test func expansion() throws {
        let environment = ["A": "1", "EMPTY": ""]
        #expect(try Expansion.expand("plain $ text $A", environment: environment) == "plain $ text $A")
        #expect(try Expansion.expand("${A}${A:-x}${B:-y}${EMPTY:-z}${EMPTY}", environment: environment) == "11yz")
        #expect(try Expansion.expand("$${A}", environment: environment) == "${A}")
        #expect(try Expansion.expand("${B:-a:-b}", environment: environment) == "a:-b")
        #expect(throws: Expansion.Failure.unset(name: "B")) { try Expansion.expand("x${B}", environment: environment) }
        #expect(throws: Expansion.Failure.unterminated) { try Expansion.expand("${A", environment: environment) }
        #expect(throws: Expansion.Failure.badName("1A")) { try Expansion.expand("${1A}", environment: environment) }
        #expect(throws: Expansion.Failure.badName("")) { try Expansion.expand("${}", environment: environment) }
    }

    @Test(arguments: ["0.0.0.0/0", "10.77.0.0/24", "203.0.113.5/32", "::/0", "2001:db8::/32", "fe80::1/128"])
    func goodCIDR(text: String) {
        #expect(NetworkValues.cidrProblem(text, families: .ipv4OrIPv6) == nil)
    }

    @Test(arguments: [
        ("10.0.0.0", "'10.0.0.0' is an address, not a network"),
        ("10.0.0.0/33", "'10.0.0.0/33' has prefix length '33', which is not a number from 0 to 32"),
        ("10.0.0.0/", "'10.0.0.0/' has prefix length '', which is not a number from 0 to 32"),
        ("10.0.0/8", "'10.0.0/8' is not a CIDR network: '10.0.0' is not an IP address"),
        ("256.0.0.0/8", "'256.0.0.0/8' is not a CIDR network: '256.0.0.0' is not an IP address"),
        ("10.0.0.0/8/8", "'10.0.0.0/8/8' is not a CIDR network"),
        ("2001:db8::1/32", "'2001:db8::1/32' has host bits set"),
        ("10.1.2.3/12", "'10.1.2.3/12' has host bits set"),
    ])
    func badCIDR(text: String, what: String) {
        #expect(NetworkValues.cidrProblem(text, families: .ipv4OrIPv6)?.what == what)
    }

    @Test func hostBitsFixNamesTheNetwork() {
        #expect(NetworkValues.cidrProblem("10.1.2.3/12", families: .ipv4Only)?.fix
                == "write the network's address, 10.0.0.0/12, or 10.1.2.3/32 for one address")
        #expect(NetworkValues.cidrProblem("2001:db8::1/32", families: .ipv4OrIPv6)?.fix
                == "write the network's address, 2001:db8::/32, or 2001:db8::1/128 for one address")
    }

    @Test(arguments: ["http://127.0.0.1:5000", "https://compute.googleapis.com/compute/v1", "HTTPS://example.org"])
    func goodURL(text: String) {
        #expect(NetworkValues.urlProblem(text) == nil)
    }

    @Test(arguments: ["ftp://example.org", "example.org", "http://", "not a url"])
    func badURL(text: String) {
        #expect(NetworkValues.urlProblem(text) != nil)
    }

    @Test(arguments: [("compute", true), ("gpu-2", true), ("a", true), ("2gpu", false), ("GPU", false),
                      ("gpu_nodes", false), ("", false), (String(repeating: "a", count: 21), false)])
    func groupNames(name: String, valid: Bool) {
        #expect(Names.isValid(name, maxLength: Names.groupMaxLength) == valid)
    }
}
