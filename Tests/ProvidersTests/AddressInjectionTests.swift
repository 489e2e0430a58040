import CloudcCore
import Foundation
@testable import Providers
import Testing

/// A cloud's answer (or anyone on the path of an `http://` endpoint) gives a node an "address"
/// with a newline and ssh_config lines in it. Every provider's answer becomes a CloudInstance,
/// whose addresses are exactly one IP address or none, so nothing of it reaches a state file,
/// an exported SSH config or `~/.ssh/config`.
@Suite struct AddressInjectionTests {
    static let injected = "10.0.0.6\nHost *\n  ProxyCommand touch /tmp/cloudc-pwned"

    @Test func ec2() throws {
        let xml = """
        <item><instanceId>i-1</instanceId><instanceState><name>running</name></instanceState>
        <privateIpAddress>\(Self.injected)</privateIpAddress><ipAddress>203.0.113.7
        Host *</ipAddress></item>
        """
        let item = try #require(XMLElement.parse(Data(xml.utf8)))
        let instance = try #require(EC2Provider.instance(from: item))
        #expect(instance.privateIP == nil && instance.publicIP == nil)
    }

    @Test func gce() throws {
        let json: JSONValue = [
            "name": "lab-compute001-x", "zone": "projects/p/zones/us-central1-a", "status": "RUNNING",
            "networkInterfaces": [["networkIP": .string(Self.injected), "accessConfigs": [["natIP": "203.0.113.7\r\nHost *"]]]],
        ]
        let instance = try #require(GCEProvider.instance(from: json))
        #expect(instance.privateIP == nil && instance.publicIP == nil)
    }

    @Test func openStack() throws {
        let server: JSONValue = [
            "id": "5c2f", "status": "ACTIVE",
            "addresses": ["private": [["addr": .string(Self.injected), "version": 4, "OS-EXT-IPS:type": "fixed"]]],
        ]
        let instance = try #require(OpenStackProvider.instance(from: server))
        #expect(instance.privateIP == nil)
    }

    @Test(arguments: ["10.0.0.6", "203.0.113.7", "2001:db8::1", "::ffff:10.0.0.1"])
    func realAddressesPass(_ address: String) {
        #expect(IPAddress.canonical(address) != nil)
    }

    @Test(arguments: [Self.injected, "10.0.0.6 ", "10.0.0.256", "example.org", "", "10.0.0.6\u{0}", "-oProxyCommand=x"])
    func anythingElseIsNoAddress(_ text: String) {
        #expect(IPAddress.canonical(text) == nil)
    }

    @Test(arguments: ["debian", "ec2-user", "first.last", "me@corp.example", "_svc"])
    func loginUsersSshTakes(_ user: String) { #expect(ConfigValueCheck.isLoginUser(user)) }

    @Test(arguments: ["-oProxyCommand=touch /tmp/x", "a b", "a\nb", "", ".hidden", "ü"])
    func loginUsersSshWouldMisread(_ user: String) { #expect(!ConfigValueCheck.isLoginUser(user)) }
}
